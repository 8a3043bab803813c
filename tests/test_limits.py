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


def diags(text, **kw):
    with pytest.raises(SpecError) as e:
        archspec.load_text(text, "t.yaml", **kw)
    return e.value.diagnostics


FLOW_DEEP = "a: " + "[" * 5000 + "]" * 5000 + "\n"                        # past libyaml's own 1,000-level stop
BLOCK_DEEP = "".join(" " * i + f"k{i}:\n" for i in range(1500)) + " " * 1500 + "v\n"
MID_DEEP = "a: " + "[" * 200 + "]" * 200 + "\n"                          # past max_depth, parsed by every loader


@pytest.mark.parametrize("loader", ["default", "pure-python"])
@pytest.mark.parametrize("text", [FLOW_DEEP, BLOCK_DEEP, MID_DEEP], ids=["flow", "block", "mid"])
def test_deep_nesting(text, loader, monkeypatch):
    """Whoever stops the nesting (archspec's walk, the pure-Python composer's recursion, or libyaml's
    fixed cap in PyYAML >= 6.0.4), the user gets the same `limit` diagnostic with the --limit hint."""
    import yaml

    from archspec.lang import source

    if loader == "pure-python":
        monkeypatch.setattr(yaml, "__with_libyaml__", False)
        monkeypatch.setattr(source, "_LOADER", None)
    [d] = diags(text)
    assert d.code == "limit", (d.code, d.message)
    assert "--limit max_depth=" in d.hint
    assert "nests deeper than 64 levels" in d.message


def test_libyaml_depth_stop_is_recognised():
    """Pins the one place that reads libyaml's third-party message: if libyaml is in use and rewords it,
    this fails and points at source._is_libyaml_depth_stop."""
    import yaml

    from archspec.lang.source import _is_libyaml_depth_stop

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml")
    with pytest.raises(yaml.MarkedYAMLError) as e:
        yaml.CSafeLoader(FLOW_DEEP).get_single_node()
    assert _is_libyaml_depth_stop(e.value)
    with pytest.raises(yaml.MarkedYAMLError) as e:
        yaml.CSafeLoader("a: [b\n").get_single_node()
    assert not _is_libyaml_depth_stop(e.value)


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
    assert codes(HEAD + "model:\n  - conv2d: {filters: $9 ** 9 ** 9, kernel: 1}\n") == ["expr-limit"]


def test_aliases_are_expanded_like_composed_nodes():
    """The source walk reads parser events (no node tree); an alias replays its anchor's events."""
    from archspec.lang.source import parse

    src = parse("a: &x {b: 1, c: [1, 2]}\nd: *x\ne: [*x, *x]\nf: &s hello\ng: *s\n*s : 3\n", "t.yaml")
    assert src.data == {"a": {"b": 1, "c": [1, 2]}, "d": {"b": 1, "c": [1, 2]},
                        "e": [{"b": 1, "c": [1, 2]}, {"b": 1, "c": [1, 2]}], "f": "hello", "g": "hello", "hello": 3}
    assert src.data["d"] is not src.data["a"]                        # each use is its own value
    assert src.values[("d", "c", 1)] == src.values[("a", "c", 1)] == (1, 21)   # positioned at the anchor
    assert src.keys[("hello",)] == (4, 4)                           # an alias key: where its anchor is
    for text, message in [("a: *nope\n", "undefined alias 'nope'"), ("a: &x 1\nb: &x 2\n", "'&x' is defined twice"),
                          ("a: &x [1, *x]\n", "inside the node it names")]:
        [d] = diags(text)
        assert d.code == "yaml-syntax" and message in d.message
    [d] = diags("a: !!python/object {}\nb: [\n")                      # a syntax error anywhere comes first
    assert d.code == "yaml-syntax" and d.loc.line == 3
