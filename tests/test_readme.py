"""The README's excerpts are real, current output: every `$ archspec ...` line in a plain code block is
run (in a copy of specs/, from a folder standing for ~/archspec) and its output compared line by line.
A line `...` in the README stands for any number of lines left out. When an output changes on purpose,
paste the new output (printed by the failing test) into README.md."""
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
HOME = "~/archspec"          # what the README shows for the clone's folder in printed paths
NEEDS_KERAS = {"compile", "train", "import", "inspect", "evaluate", "predict", "export"}


def excerpts():
    """(command line, expected lines) for every `$ archspec` line in README.md's plain code blocks."""
    out, blocks, current = [], [], None
    for line in README.split("\n"):
        if line.startswith("```"):
            if current is None:
                current = [] if line == "```" else ["<not plain>"]
            else:
                blocks.append("".join(ln + "\n" for ln in current))
                current = None
        elif current is not None:
            current.append(line)
    for block in blocks:
        if not block.startswith("$ archspec "):
            continue
        for chunk in re.split(r"^(?=\$ )", block, flags=re.M):
            if chunk.strip():
                first, *rest = chunk.rstrip("\n").split("\n")
                out.append((first[2:], rest))
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; a `...` line matches any run of lines (none included)."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and actual[0] == expected[0] and matches(expected[1:], actual[1:])


CASES = excerpts()


def test_the_readme_has_its_first_example():
    commands = [c for c, _ in CASES]
    for cmd in ("archspec compile specs/inception_a.yaml", "archspec draw specs/inception_a.yaml",
                "archspec report specs/inception_a.yaml"):
        assert cmd in commands
    assert len(CASES) >= 5


@pytest.mark.parametrize("command, expected", [
    pytest.param(c, e, id=c.removeprefix("archspec "),
                 marks=[pytest.mark.keras] if shlex.split(c)[1] in NEEDS_KERAS else [])
    for c, e in CASES])
def test_readme_excerpt_is_real_output(command, expected, tmp_path):
    home = tmp_path / "archspec"
    home.mkdir()
    shutil.copytree(ROOT / "specs", home / "specs")
    args = shlex.split(command)[1:]
    r = subprocess.run([sys.executable, "-m", "archspec", *args], cwd=home, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    actual = r.stdout.replace(str(home), HOME).rstrip("\n").split("\n")
    assert matches(expected, actual), f"README.md shows for `{command}`:\n" + "\n".join(expected) + \
        "\n\nthe real output is:\n" + "\n".join(actual)


def test_readme_spec_excerpt_is_the_file():
    m = re.search(r"`specs/inception_a.yaml`.*?```yaml\n(.*?)```", README, flags=re.S)
    assert m and m.group(1) in (ROOT / "specs" / "inception_a.yaml").read_text(encoding="utf-8")


def test_readme_pictures_are_readable_at_page_width():
    """Every image the README shows inline is at most ~1,100 px wide (a page at 96 dpi); bigger ones are
    linked, not shown."""
    import struct

    shown = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", README)
    assert "docs/images/inception_a.png" in shown
    for path in shown:
        head = (ROOT / path).read_bytes()[:24]
        width, height = struct.unpack(">II", head[16:24])
        assert width <= 1100, (path, width, height)
