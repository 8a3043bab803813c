"""The broken-spec corpus: every file under fixtures/broken/ carries its expected diagnostics on
the offending line as a comment, `# error: CODE[: message substring]` (or `# warning: ...`).
The test asserts exactly those diagnostics (line, severity, code) and nothing else."""
import re
import subprocess
import sys

import pytest
from conftest import FIXTURES

import archspec
from archspec.codes import ALL

BROKEN = FIXTURES / "broken"
ANNOT = re.compile(r"#\s*(error|warning)(?::\s*([a-z-]+))?(?::\s*(.+))?$")

# files whose problem is in their bytes, so the expectation cannot be written inside them
OUT_OF_BAND = {
    "bom.yaml": [(1, "error", "encoding", "byte-order mark")],
    "latin1.yaml": [(4, "error", "encoding", "not valid UTF-8")],
    "json_syntax.json": [(3, "error", "json-syntax", "")],
    "include_cycle.yaml": [(2, "error", "include", "cycle")],   # reported in lib/cycle_b.yaml
    "number_5000_digits.json": [(6, "error", "schema", "out of range")],   # JSON has no comments
}


def expected(path):
    if path.name in OUT_OF_BAND:
        return OUT_OF_BAND[path.name]
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = ANNOT.search(line)
        if m:
            out.append((lineno, m.group(1), m.group(2), (m.group(3) or "").strip()))
    assert out, f"{path.name} has no expectation comment"
    return out


CASES = sorted(p for p in BROKEN.iterdir() if p.suffix in (".yaml", ".json"))


def test_corpus_size():
    assert len(CASES) >= 80


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_broken_spec(path):
    want = expected(path)
    try:
        spec = archspec.load(path, display=path.name)
        got = spec.warnings
    except archspec.SpecError as exc:
        got = exc.diagnostics
    assert all(d.code in ALL for d in got), [d.code for d in got]
    got_keys = sorted((d.loc.line if d.loc else 0, d.severity, d.code) for d in got)
    want_keys = sorted((line, sev, code) for line, sev, code, _ in want)
    assert got_keys == want_keys, "\n".join(f"{d.loc}: {d.severity}: {d.message} [{d.code}]" for d in got)
    for line, sev, code, text in want:
        d = next(d for d in got if d.loc.line == line and d.code == code)
        assert d.loc.file == path.name or path.name in OUT_OF_BAND
        assert d.loc.col >= 1
        if text:
            rendered = d.message + " " + (d.hint or "")
            assert text.lower() in rendered.lower(), rendered


def test_cli_exit_status_and_format():
    """The command line prints `file:line:col: error: ...  [code]`, a caret and exits 1."""
    r = subprocess.run([sys.executable, "-m", "archspec", "check", str(BROKEN / "residual_mismatch.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert re.search(r"residual_mismatch\.yaml:5:5: error: residual add joins \(16, 16, 8\) and \(16, 16, 12\)"
                     r"  \[shape-mismatch\]", r.stderr), r.stderr
    assert "^" in r.stderr and "hint:" in r.stderr and "Traceback" not in r.stderr


def test_all_errors_in_one_run(tmp_path):
    text = ("archspec: 1\nname: t\ninputs: {x: [8, 8, 3]}\nmodel:\n"
            "  - conv2d: {filters: 0, kernel: 3}\n"
            "  - conv2: {filters: 8}\n"
            "  - conv2d: {filters: 8, kernel: 3, padding: sme}\n")
    with pytest.raises(archspec.SpecError) as exc:
        archspec.load_text(text, "t.yaml")
    assert [d.loc.line for d in exc.value.diagnostics] == [5, 6, 7]
