"""The pricing API (archspec.Pricer) and the block-call memo it rests on.

Every figure a Pricer returns is compared with a plain, memo-free expansion + analysis of the same
spec under the same parameters; every memoized graph with the graph of an expansion that expands
every call (so a replay can never differ from what expanding would give).
"""
from __future__ import annotations

import random

import pytest
from conftest import SPECS, spec_files

import archspec
from archspec.lang import memo
from archspec.lang.expand import expand
from archspec.lang.source import parse
from archspec.passes.analyze import analyze


def _snapshot(g):
    nodes = [(n.id, n.op, n.attrs, n.inputs, n.loc, n.scope, n.shape, n.trace) for n in g]
    scopes = [(s.path, s.kind, s.name, s.loc, s.parent, s.args, s.input, s.output) for s in g.scopes.values()]
    return nodes, scopes, dict(g.outputs), g.inputs, {k: list(v) for k, v in g.succs.items()}


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.name)
def test_memo_replays_exactly_what_expanding_gives(path):
    src = parse(path.read_text(), str(path), path)
    with_memo, _ = expand(src)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(memo.Memo, "memo_key", lambda *a: None)
        mp.setattr(memo.Memo, "validated", lambda self, op, values: op.Attrs.model_validate(values))
        mp.setattr(memo.Memo, "inferred", lambda self, op, a, shapes: memo.infer_cost(op, a, shapes))
        without, _ = expand(src)
    assert _snapshot(with_memo) == _snapshot(without)
    assert with_memo.lint() == []


def _check_price(pricer, path, overrides, batch_size=1, dtype="float32"):
    p = pricer.price(overrides, batch_size=batch_size, dtype=dtype)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(memo.Memo, "memo_key", lambda *a: None)
            ref = archspec.load(path, overrides=overrides)
    except archspec.SpecError as exc:
        assert not p.ok
        assert [d.to_json() for d in p.diagnostics] == [d.to_json() for d in exc.diagnostics]
        return p
    assert p.ok, p.diagnostics
    a = analyze(ref.graph, batch_size, dtype)
    got = (p.params, p.trainable, p.non_trainable, p.macs, p.flops, p.layers, p.peak_bytes, p.param_bytes)
    want = (a.total.params, a.total.trainable, a.total.non_trainable, a.total.macs, a.total.flops, a.total.layers,
            a.peak_bytes, a.param_bytes)
    assert got == want, overrides
    assert p.outputs == {k: ref.graph[v].shape for k, v in ref.graph.outputs.items()}
    return p


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.name)
def test_pricer_matches_a_full_check(path):
    pricer = archspec.Pricer(path)
    for _ in range(2):                       # the second time every block call is a memo hit
        _check_price(pricer, path, {})
    _check_price(pricer, path, {}, batch_size=8, dtype="float16")


SEARCHES = {
    "resnet50.yaml": lambda r: {"stages": [r.randint(0, 5) for _ in range(4)]},
    "densenet121.yaml": lambda r: {"block_layers": [r.randint(1, 6) for _ in range(4)],
                                   "growth_rate": r.choice([8, 12, 32]), "compression": r.choice([0.5, 1.0])},
    "mobilenet_v2.yaml": lambda r: {"alpha": r.choice([0.35, 0.5, 0.75, 1.0, 1.4])},
    "inception_v1_module.yaml": lambda r: {"reduce": r.choice([0, 8, 16]), "groups": r.choice([1, 2, 3]),
                                           "filters": r.choice([16, 32, 33])},
    "vgg16_inception_resnet.yaml": lambda r: {"include_top": r.choice([True, False]),
                                              "pooling": r.choice(["avg", "max", "none"]),
                                              "classes": r.choice([10, 1000])},
}


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_repricing_under_random_parameters(name):
    """Candidates a search would draw, including invalid ones (errors must be a full check's errors)."""
    path = SPECS / name
    pricer = archspec.Pricer(path)
    rng = random.Random(16)
    for _ in range(12):
        _check_price(pricer, path, SEARCHES[name](rng))


def test_price_result_and_budgets():
    pricer = archspec.Pricer(SPECS / "resnet50.yaml")
    p = pricer.price({"stages": [2, 2, 2, 2]})
    assert p.ok and p.within(params=p.params, macs=p.macs) and not p.within(params=p.params - 1)
    assert p.spec.analysis().total.params == p.params          # the full spec on demand
    assert [w.code for w in p.warnings] == []                 # resnet50 ignores bias-before-bn
    j = p.to_json()
    assert j["ok"] and j["params"] == p.params and j["outputs"] == {"predictions": [1000]}
    with pytest.raises(TypeError, match="unknown budget"):
        p.within(parameters=1)
    bad = pricer.price({"stages": [2, 2, 2, 2], "width": 2})
    assert not bad.ok and bad.params is None and bad.spec is None and not bad.within(params=10**12)
    assert [d.code for d in bad.errors] == ["unknown-param"]


def test_pricer_inputs():
    text = str(SPECS / "mnist_cnn.yaml")
    by_path = archspec.Pricer(text).price()
    by_text = archspec.Pricer(open(text).read(), name="mnist.yaml").price()
    by_spec = archspec.Pricer(archspec.load(text)).price()
    assert by_path.params == by_text.params == by_spec.params == 52138
    with pytest.raises(archspec.SpecError):
        archspec.Pricer("no/such/file.yaml")
    with pytest.raises(archspec.SpecError):
        archspec.Pricer("archspec: 1\nname: x\n")            # no inputs, no model: malformed whatever the params
    with pytest.raises(TypeError):
        archspec.Pricer(42)


REF_INTO_BLOCK = """\
archspec: 1
name: skip
inputs: {x: [16, 16, 4]}
params: {w: 8}
blocks:
  enc:
    params: {f: int}
    body:
      - conv2d: {filters: $f, kernel: 3, padding: same, name: skip}
      - max_pool: {}
model:
  - enc: {f: $w, name: e1}
  - enc: {f: $w, name: e2}
  - upsampling: {size: 2}
  - concat: {from: [upsampling, e2/skip]}
  - global_avg_pool: {}
"""


def test_a_path_into_a_block_call_is_priced_in_full():
    """`from: e2/skip` names a layer inside a block call, which a pricing graph keeps as one node."""
    pricer = archspec.Pricer(REF_INTO_BLOCK, name="skip.yaml")
    for w in (8, 8, 4):
        p = pricer.price({"w": w})
        ref = archspec.load_text(REF_INTO_BLOCK, "skip.yaml", overrides={"w": w}).analysis()
        assert p.ok and (p.params, p.peak_bytes, p.layers) == (ref.total.params, ref.peak_bytes, ref.total.layers)


def test_limits_count_the_layers_inside_replayed_calls():
    text = """\
archspec: 1
name: many
inputs: {x: [8, 8, 4]}
params: {n: 10}
blocks:
  b:
    body: [{conv2d: {filters: 4, kernel: 1}}, {relu: {}}]
model:
  - b: {repeat: $n}
"""
    pricer = archspec.Pricer(text, limits=archspec.api.Limits(max_layers=50))
    assert pricer.price({"n": 10}).ok
    assert pricer.price({"n": 10}).ok
    over = pricer.price({"n": 30})
    assert [d.code for d in over.errors] == ["limit"]


def test_docs_example_runs(monkeypatch):
    import doctest

    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    r = doctest.testfile(str(ROOT / "docs/check-report.md"), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert r.attempted >= 8 and r.failed == 0
