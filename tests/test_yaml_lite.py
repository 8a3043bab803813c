"""archspec/fast/yaml_lite.py reads the plain YAML subset to exactly what the PyYAML walk gives — the
same data (types included) and the same position of every key and value — or declines. Checked on
every YAML file of the repository and on thousands of mutated variants (characters inserted and
removed, lines re-indented, duplicated and swapped), where it must also never accept a text that
PyYAML refuses."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from archspec.errors import SpecError
from archspec.fast import yaml_lite
from archspec.fast.positions import Table
from archspec.lang.source import DEFAULT_LIMITS, Limits, Source, _walk_yaml, parse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from check_bench import chain_spec, residual_spec  # noqa: E402


def _slow(text, limits=DEFAULT_LIMITS):
    src = Source("f.yaml", None, text, None)
    try:
        _walk_yaml(text, src, limits, build=True)
    except SpecError:
        return None
    return src.data, dict(src.values.items()), dict(src.keys.items())


def compare(text, limits=DEFAULT_LIMITS) -> str:
    """'same' or 'declined'; fails on any difference."""
    fast = yaml_lite.read(text, limits.max_nodes, limits.max_depth)
    if fast is None:
        return "declined"
    slow = _slow(text, limits)
    assert slow is not None, f"the plain reader accepts a text PyYAML refuses:\n{text}"
    data, rows = fast
    assert repr(data) == repr(slow[0]), text
    assert [type(x) for x in _leaves(data)] == [type(x) for x in _leaves(slow[0])]
    assert dict(Table(rows, key=False).items()) == slow[1], text
    assert dict(Table(rows, key=True).items()) == slow[2], text
    return "same"


def _leaves(v):
    if isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from _leaves(x)
    elif isinstance(v, list):
        for x in v:
            yield from _leaves(x)
    else:
        yield v


def _repo_yaml() -> list[str]:
    out = []
    for p in sorted(ROOT.glob("**/*.yaml")):
        if ".venv" in p.parts or "out" in p.parts:
            continue
        try:
            out.append(p.read_text())
        except UnicodeDecodeError:
            continue
    return out


def test_every_yaml_file_of_the_repository():
    results = [compare(t) for t in _repo_yaml()]
    assert results.count("same") >= 20, "the subset should cover the plain specs of the repository"


def test_the_benchmark_specs_are_read_without_pyyaml():
    for text in (chain_spec(300), residual_spec(300)):
        assert compare(text) == "same"


CHARS = list(" -:{}[],#\n0123456789.eE+abc_$xyz\t'\"&*!|>?") + [
    "  ", "- ", ": ", ", ", "{}", "[]", "\n  ", "true", "null", "yes", "1.5", "-3", "1e5", ".5", "×", "\r\n",
    "\x01", "\x85", "\x9f", "\ufffe", "\u2028"]


@pytest.mark.parametrize("seed", range(4))
def test_mutated_texts(seed):
    rng = random.Random(seed)
    texts = [t for t in _repo_yaml() if yaml_lite.read(t, 10**6, 64) is not None]
    texts += [chain_spec(12), residual_spec(24)]
    seen = {"same": 0, "declined": 0}
    for _ in range(800):
        t = rng.choice(texts)
        for _ in range(rng.randint(1, 3)):
            lines = t.split("\n")
            k = rng.randrange(len(lines))
            r = rng.random()
            if r < 0.4:
                i = rng.randrange(len(t) + 1)
                t = t[:i] + rng.choice(CHARS) + t[i:]
            elif r < 0.6 and t:
                i = rng.randrange(len(t))
                t = t[:i] + t[i + rng.randint(1, 3):]
            elif r < 0.75:
                lines[k] = " " * rng.choice([1, 2, 4]) + lines[k] if rng.random() < 0.5 else lines[k][rng.choice([1, 2]):]
                t = "\n".join(lines)
            elif r < 0.9:
                lines.insert(k, rng.choice(lines))
                t = "\n".join(lines)
            else:
                j = rng.randrange(len(lines))
                lines[k], lines[j] = lines[j], lines[k]
                t = "\n".join(lines)
        seen[compare(t)] += 1
    assert seen["same"] > 100 and seen["declined"] > 100      # both ways exercised


def test_limits_are_left_to_the_yaml_walk():
    text = chain_spec(50)
    assert yaml_lite.read(text, max_nodes=20, max_depth=64) is None
    assert yaml_lite.read("a:\n  b:\n    c:\n      d: 1\n", 10**6, max_depth=2) is None
    assert yaml_lite.read("a:\n  b: {c: {d: 1}}\n", 10**6, max_depth=2) is None
    with pytest.raises(SpecError) as exc:
        parse(text, "x.yaml", limits=Limits(max_nodes=20))
    assert exc.value.diagnostics[0].code == "limit"


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",                      # duplicate key: PyYAML's walk reports it
    "a: yes\n", "a: 'x'\n", "a: &x 1\nb: *x\n", "a: |\n  x\n", "a: $b\n", "a: [1,\n  2]\n", "a:\n",
    "a: {b:1}\n", "a: [b: 1]\n", "a: 1 # c\n  b: 2\n", "- a\n", "a: b c\n", "a:\n\t- 1\n", "a: 0x1F\n", "a: 1_000\n",
    "--- \na: 1\n", "a: é\n", "a: 1  # \x01\n", "a: 1  # \x9f\n", "a: 1  # x\x85b: 2\n", "a: 1  # x\u2029b: 2\n"])
def test_outside_the_subset(text):
    assert yaml_lite.read(text, 10**6, 64) is None


def test_comments_and_blank_lines_and_indentless_lists():
    text = "# head\narchspec: 1   # the version\n\nmodel:\n- relu: {}   # é in a comment is fine\n- dense: {units: 3}\nname: x\n"
    assert compare(text) == "same"


def test_check_and_editor_answers_do_not_depend_on_the_reader(monkeypatch):
    """The same plain spec, with mistakes, through the plain reader and through PyYAML: the same
    diagnostics (places included), the same hovers."""
    from archspec import api
    from archspec.editor import analysis

    text = ("archspec: 1\nname: plain\ninputs:\n  x: [32, 32, 3]\nmodel:\n  - conv2d: {filters: 16, kernel: 3}\n"
            "  - batch_norm: {momentum: 2}\n  - relu: {}\n  - conv2d: {filters: 8, kernal: 3}\n  - dense: {units: 10}\n")
    assert yaml_lite.read(text, 10**6, 64) is not None

    def answers():
        try:
            api.load_text(text)
            errors = []
        except SpecError as exc:
            errors = exc.diagnostics
        r = analysis.analyze(text)
        return errors, r.diagnostics, [analysis.hover(r, line, 6) for line in range(5, 10)]

    plain = answers()
    monkeypatch.setattr(yaml_lite, "read", lambda *a: None)
    assert answers() == plain
    assert {d.code for d in plain[0]} == {"schema", "unknown-field"}
