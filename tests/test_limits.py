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


# ---- numbers and expressions (issue 28) -----------------------------------------------------------
def cpu_quick(fn, limit=2.0):
    t = time.process_time()
    out = fn()
    took = time.process_time() - t
    assert took < limit, f"{took:.2f} s CPU"
    return out


@pytest.mark.parametrize("text, name, line", [
    (HEAD + "model:\n  - flatten: {}\n  - dense: {units: " + "9" * 5000 + "}\n", "t.yaml", 6),
    (HEAD + "model:\n  - flatten: {}\n  - dense:\n      units: -" + "9" * 5000 + "\n", "t.yaml", 7),
    (HEAD + "model:\n  - flatten: {}\n  - dense: {units: 9223372036854775808}\n", "t.yaml", 6),
    (HEAD + "model:\n  - flatten: {}\n  - dense: {units: !!int " + "9" * 5000 + "}\n", "t.yaml", 6),
    (HEAD + "model:\n  - flatten: {}\n  - dense: {units: 0x" + "f" * 40 + "}\n", "t.yaml", 6),
    ('{"archspec": 1, "name": "t", "inputs": {"x": [8, 8, 3]},\n "model": [{"flatten": {}},\n {"dense": {"units": '
     + "9" * 5000 + "}}]}\n", "t.json", 3),
])
def test_integers_past_64_bits_are_located_schema_errors(text, name, line):
    with pytest.raises(SpecError) as e:
        cpu_quick(lambda: archspec.load_text(text, name))
    [d] = e.value.diagnostics
    assert (d.code, d.loc.file, d.loc.line) == ("schema", name, line), d
    assert "out of range" in d.message and len(d.message) < 200 and d.hint


def test_largest_int64_is_read_alike_by_both_yaml_readers():
    from archspec.fast.yaml_lite import read
    from archspec.lang.source import parse

    for n in ("9223372036854775807", "-9223372036854775808", "123456789012345678"):
        text = HEAD + f"model:\n  - dense: {{units: {n}}}\n"
        assert read(text, 10_000, 64) is None or read(text, 10_000, 64)[0] == parse(text, "t.yaml").data
        assert parse(text, "t.yaml").data["model"][0]["dense"]["units"] == int(n)


@pytest.mark.parametrize("value, kind", [("!!timestamp 4", "timestamp"), ("!!bool x4", "bool"), ("!!int x4", "int"),
                                         ("!!float x4", "float")])
def test_standard_tags_on_unreadable_values(value, kind):
    [d] = diags(HEAD + f"model:\n  - flatten: {{}}\n  - dense: {{units: {value}}}\n")
    assert d.code == "yaml-syntax" and d.loc.line == 6 and f"as a YAML {kind}" in d.message


@pytest.mark.parametrize("expr, code, words", [
    ("$(((9**64)**64)**64)**64", "expr-limit", "max_expr_size"),
    ("$round(7, -10**9)", "expr-limit", "round"),
    ("$9.0**9**9", "expr-limit", "exponent"),
    ("$" + "9" * 5000, "expr-limit", "5,000 digits"),
    ("$len(str(2**5000))", "expr-limit", "bits"),
    ("$10**64 * 10**64 * 10**64", "schema", "out of range"),
    ("$(-8)**0.5", "expr-value", "not a real number"),
])
def test_expressions_are_bounded(expr, code, words):
    text = HEAD + f"model:\n  - flatten: {{}}\n  - dense: {{units: '{expr}'}}\n"
    d = cpu_quick(lambda: diags(text))[0]
    assert (d.code, d.loc.line) == (code, 6), d
    assert words in d.message + " " + (d.hint or ""), d.message
    from archspec.editor.analysis import analyze  # the language server: the same limits, as fast
    r = cpu_quick(lambda: analyze(text))
    assert [x.code for x in r.diagnostics] == [code]


def test_expression_limits_are_settable():
    text = HEAD + "model:\n  - flatten: {}\n  - dense: {units: '$2**5000 // 2**4990'}\n"
    assert codes(text) == ["expr-limit"]
    spec = archspec.load_text(text, "t.yaml", limits=Limits(max_expr_size=6000))
    assert spec.graph.nodes[list(spec.graph.nodes)[-1]].attrs.units == 1024


def test_expression_work_per_spec():
    """The work limit is spent across all of a spec's expressions (repeats included) and reported once."""
    text = HEAD + "model:\n  - relu: {repeat: 50, max_value: '$1 + 1 + 1 + 1 + 1 + 1 + 1 + i'}\n"
    archspec.load_text(text, "t.yaml", limits=Limits(max_expr_work=2000))
    [d] = diags(text, limits=Limits(max_expr_work=200))
    assert d.code == "expr-limit" and "max_expr_work" in d.hint and d.loc.line == 5


def test_hostile_repeat_stays_quick():
    assert cpu_quick(lambda: codes(HEAD + "model:\n  - relu: {repeat: '$10**6'}\n")) == ["limit"]
    assert cpu_quick(lambda: codes(HEAD + "model:\n  - relu: {repeat: '$2**64'}\n")) == ["schema"]


def test_a_repeat_past_max_layers_is_refused_before_it_is_expanded():
    """A legal repeat count of a big block: the first repetitions say what all of them will make, so the
    refusal comes at once and points at the repeat (it took seconds of expansion to reach max_layers)."""
    body = "".join("      - conv2d: {filters: 8, kernel: 3, padding: same}\n" for _ in range(25))
    text = f"{HEAD}blocks:\n  b:\n    body:\n{body}model:\n  - b: {{repeat: 10000}}\n"
    [d] = cpu_quick(lambda: diags(text))
    assert d.code == "limit" and "max_layers" in d.hint and (d.loc.line, d.loc.col) == (33, 17)
    assert "repeat 10,000 would make about 260,001 layers (26 each)" in d.message
    # a repeat that fits is expanded as before
    fits = archspec.load_text(f"{HEAD}blocks:\n  b:\n    body:\n{body}model:\n  - b: {{repeat: 100}}\n", "t.yaml")
    assert len(fits.graph.nodes) == 2501


def test_weights_past_memory_are_refused_before_keras_allocates():
    from archspec.compile.build import _check_weights_fit

    spec = archspec.load_text(HEAD + "model:\n  - flatten: {}\n  - dense: {units: 1099511627776}\n", "t.yaml")
    with pytest.raises(SpecError) as e:
        _check_weights_fit(spec.graph)
    [d] = e.value.diagnostics
    assert d.code == "out-of-memory" and d.loc.line == 6 and f"{(8 * 8 * 3 + 1) * 2 ** 40:,} parameters" in d.message   # weights and biases
    _check_weights_fit(archspec.load_text(HEAD + "model:\n  - flatten: {}\n  - dense: 10\n", "t.yaml").graph)


def test_long_lines_are_shown_around_the_caret():
    from archspec.errors import Diagnostic, Loc, render

    text = "x" * 500 + "Y" + "z" * 500
    out = render(Diagnostic("schema", "m", Loc("f", 1, 501)), {"f": text}).splitlines()
    assert all(len(line) < 200 for line in out)
    assert out[2].index("^") == out[1].index("Y")
