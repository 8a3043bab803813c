"""Hostile input: limits answer quickly with a located error, never a hang or a Python object."""
import time

import pytest

import archspec
from archspec import SpecError
from archspec.lang.source import Limits

HEAD = "archspec: 1\nname: t\ninputs: {x: [8, 8, 3]}\n"


def codes(text, **kw):
    with pytest.raises(SpecError) as e:
        archspec.load_text(text, "t.yaml", **kw)
    return [d.code for d in e.value.diagnostics]


def test_billion_laughs_is_refused_fast():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for k in range(1, 9):
        prev = chr(ord("a") + k - 1)
        cur = chr(ord("a") + k)
        bomb += f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    t = time.perf_counter()
    assert codes(bomb) == ["limit"]
    assert time.perf_counter() - t < 10   # ~0.1 s here; generous so a loaded machine does not flake


def test_deep_nesting():
    assert codes("a: " + "[" * 5000 + "]" * 5000 + "\n") == ["limit"]


def test_file_size(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_text(HEAD + "model:\n" + "  - relu: {}\n" * 200)
    with pytest.raises(SpecError) as e:
        archspec.load(p, limits=Limits(max_bytes=1000))
    assert e.value.diagnostics[0].code == "limit"


def test_graph_size_limit():
    t = time.perf_counter()
    assert codes(HEAD + "model:\n  - relu: {repeat: 5000}\n", limits=Limits(max_layers=1000)) == ["limit"]
    assert time.perf_counter() - t < 10


def test_python_tags_never_construct(tmp_path):
    marker = tmp_path / "pwned"
    text = HEAD + f"model:\n  - relu: !!python/object/apply:os.system ['touch {marker}']\n"
    assert codes(text) == ["yaml-tag"]
    assert not marker.exists()


def test_recursive_blocks_stop():
    assert codes(HEAD + "blocks:\n  a:\n    body: [a: {}]\nmodel:\n  - a: {}\n") == ["recursion"]


def test_expression_power_bomb():
    assert codes(HEAD + "model:\n  - conv2d: {filters: $9 ** 9 ** 9, kernel: 1}\n") == ["expr-value"]
