"""The op registry contract, and every op's examples checked against Keras itself."""
import ast
from pathlib import Path

import pytest

from archspec import ops
from archspec.lang.jsonschema import json_schema
from archspec.ops.base import shape_axis
from archspec.ops.shapes import conv_length

USER_OPS = sorted(k for k, v in ops.REGISTRY.items() if not getattr(v, "internal", False))
EXAMPLES = [(name, i, *ex) for name in USER_OPS for i, ex in enumerate(ops.REGISTRY[name].examples)]
EX_IDS = [f"{e[0]}-{e[1]}" for e in EXAMPLES]
ARCHSPEC = Path(ops.__file__).resolve().parent.parent


def test_every_op_is_complete():
    schema = json_schema()
    for name in USER_OPS:
        op = ops.REGISTRY[name]
        assert op.doc, name
        assert op.examples, f"{name} has no examples"
        assert op.keras_class, name
        assert f"op_{name}" in schema["definitions"], name
        assert op.category in {"conv", "dense", "norm", "act", "pool", "merge", "reshape", "reg", "io", "attn", "token"}


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError):
        ops.register(type(ops.REGISTRY["conv2d"]))


@pytest.mark.parametrize("name,i,attrs,ins,shape,params", EXAMPLES, ids=EX_IDS)
def test_example_infers_and_labels(name, i, attrs, ins, shape, params):
    """Each example states its output shape and (trainable, non-trainable) parameters; the Keras group
    checks those figures against Keras itself."""
    op = ops.REGISTRY[name]
    a = op.Attrs.model_validate(attrs)
    out = op.infer(a, ins)
    assert out == tuple(shape)
    assert op.params(a, ins, out) == tuple(params)
    assert op.flops(a, ins, out) >= 2 * op.macs(a, ins, out) >= 0
    assert op.label(a)


def test_every_example_states_shape_and_params():
    for name in USER_OPS:
        for ex in ops.REGISTRY[name].examples:
            assert len(ex) == 4 and isinstance(ex[2], tuple) and len(ex[3]) == 2, (name, ex)


def test_roles_and_flags_come_from_the_registry():
    for r in ops.ROLE_NAMES:
        assert ops.role(r) in ops.REGISTRY, r
    assert ops.merges() and all(ops.REGISTRY[m].category == "merge" and ops.REGISTRY[m].arity[1] is None
                                for m in ops.merges())
    assert ops.REGISTRY[ops.role("input")].source and sum(op.source for op in ops.REGISTRY.values()) == 1
    for name, op in ops.REGISTRY.items():
        for cls in op.keras_classes or (op.keras_class,):
            if cls is None:                  # never read from Keras (a priced block call: ops/summary.py)
                assert op.internal, name
                continue
            assert ops.of_keras_class(cls) is op, (name, cls)
        assert not (op.weighted and op.unit_helper), name


def test_registry_refuses_a_second_owner_of_a_role_or_keras_class():
    base = type(ops.REGISTRY["add"])
    with pytest.raises(ValueError, match="role"):
        ops.register(type("Add2", (base,), {"name": "add2", "keras_classes": ("Add2",)}))
    with pytest.raises(ValueError, match="Keras class"):
        ops.register(type("Add3", (base,), {"name": "add3", "roles": ()}))
    assert "add2" not in ops.REGISTRY and "add3" not in ops.REGISTRY


def _python_files(*skip):
    for p in sorted(ARCHSPEC.rglob("*.py")):
        if not any(p.is_relative_to(ARCHSPEC / s) for s in skip):
            yield p


def test_no_stage_outside_ops_branches_on_an_op_name():
    """Op names appear outside archspec/ops only in text (docs, messages): no comparison with one, no list,
    set or dict of them. Stages read the registry's flags and roles instead."""
    names = set(ops.REGISTRY)
    found = []
    for path in _python_files("ops"):
        for node in ast.walk(ast.parse(path.read_text())):
            consts = []
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                strs = [s.value for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, str)]
                for s in sides:
                    if isinstance(s, (ast.Tuple, ast.List, ast.Set)):
                        strs += [e.value for e in s.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if any(_mentions_op(s) for s in sides):
                    consts = [v for v in strs if v in names]
            elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                strs = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if sum(v in names for v in strs) >= 2:
                    consts = strs
            elif isinstance(node, ast.Dict):
                strs = [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
                hits = sum(v in names for v in strs)      # a table keyed by ops (not attributes or categories)
                if hits >= 2 and 2 * hits > len(strs) and not set(strs) <= CATEGORY_KEYS:
                    consts = strs
            if consts:
                found.append(f"{path.relative_to(ARCHSPEC.parent)}:{node.lineno}: {consts}")
    assert not found, "op names outside archspec/ops:\n" + "\n".join(found)


def test_no_stage_outside_ops_looks_an_op_up_by_a_written_name():
    """`REGISTRY["conv2d"]` or `ops.get("dense")` outside archspec/ops ties a stage to one op: ask a role or a flag."""
    names = set(ops.REGISTRY)
    found = []
    for path in _python_files("ops"):
        for node in ast.walk(ast.parse(path.read_text())):
            key = None
            if isinstance(node, ast.Subscript) and isinstance(node.value, (ast.Name, ast.Attribute)):
                holder = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
                if holder == "REGISTRY":
                    key = node.slice
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                if node.func.attr == "get" and isinstance(node.func.value, ast.Name) and node.func.value.id == "ops":
                    key = node.args[0]
            if isinstance(key, ast.Constant) and key.value in names:
                found.append(f"{path.relative_to(ARCHSPEC.parent)}:{node.lineno}: {key.value!r}")
    assert not found, "op looked up by name outside archspec/ops:\n" + "\n".join(found)


CATEGORY_KEYS = {"io", "conv", "dense", "attn", "token", "norm", "act", "pool", "merge", "reshape", "reg", "other"}


def _mentions_op(expr) -> bool:
    """An expression that holds an op (name): `n.op`, `op`, `opname`, `op.name`, `node.op`."""
    if isinstance(expr, ast.Name):
        return expr.id in ("op", "opname", "op_name")
    if isinstance(expr, ast.Attribute):
        return expr.attr == "op" or (expr.attr == "name" and _mentions_op(expr.value))
    return False


def test_ops_import_nothing_from_compile_or_later_stages():
    """Ops import ops; base.py alone also imports archspec.fast.pydantic_lite (the model declarations,
    which import nothing of archspec)."""
    for node in ast.walk(ast.parse((ARCHSPEC / "fast" / "pydantic_lite.py").read_text())):
        assert not (isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("archspec")))
    for path in _python_files():
        if not path.is_relative_to(ARCHSPEC / "ops"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if path.name == "base.py" and isinstance(node, ast.ImportFrom) and node.level == 2 \
                    and node.module == "fast.pydantic_lite":
                continue
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert False, f"{path.name} imports from archspec.{node.module} (ops import only ops and shapes)"
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("archspec"):
                assert (node.module or "").startswith("archspec.ops"), f"{path.name} imports {node.module}"


@pytest.mark.parametrize("n,k,s,pad", [(7, 3, 2, "valid"), (7, 3, 2, "same"), (1, 7, 1, "same"), (32, 3, 2, "valid")])
def test_conv_length(n, k, s, pad):
    import math

    assert conv_length(n, k, s, pad) == (math.ceil(n / s) if pad == "same" else (n - k) // s + 1)


@pytest.mark.keras
@pytest.mark.parametrize("name,i,attrs,ins,shape,params", EXAMPLES, ids=EX_IDS)
def test_example_matches_keras(name, i, attrs, ins, shape, params):
    """Build the op as a one-layer Keras model: the example's stated shape and trainable/non-trainable
    split are what Keras gives, and the op reads the layer's config back to the same attributes."""
    import keras

    from archspec.importer.reader import _attrs, _check_rest

    op = ops.REGISTRY[name]
    a = op.Attrs.model_validate(attrs)
    if op.shared_layer:          # it calls another layer again: checked in a model (tests/test_sequence_models.py)
        pytest.skip(f"{name} has no Keras layer of its own")
    inputs = [keras.Input(shape=s) for s in ins]
    layer = op.build_keras(a, name="layer")
    y = op.call_keras(layer, inputs, a)
    assert tuple(y.shape[1:]) == tuple(shape)
    trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in layer.non_trainable_weights)
    assert (trainable, frozen) == tuple(params)
    # the Keras-import mapping is the inverse of the builder
    cls = type(layer).__name__
    assert ops.of_keras_class(cls) is op
    cfg = op.keras_config(layer.get_config(), list(ins))
    back = _attrs(op, cfg, list(ins))
    _check_rest(cls, cfg, op, back, "layer", [])
    def meaning(kw):     # the importer writes a positive Keras axis as the negative one naming the same axis
        return {k: shape_axis(v, len(ins[0])) if k == "axis" else v for k, v in kw.items()}

    assert meaning(op.keras_kwargs(back)) == meaning(op.keras_kwargs(a))


@pytest.mark.keras
def test_predict_asks_the_ops_which_keras_layers_scale_the_input():
    """predict's 'no rescaling layer' note reads the op flag `scales_input`: a Normalization layer scales too."""
    import keras

    from archspec.commands.shared import _scales_input

    assert _scales_input(keras.layers.Rescaling(1 / 255)) and _scales_input(keras.layers.Normalization())
    assert not _scales_input(keras.layers.Dense(2)) and not _scales_input(keras.layers.Lambda(lambda x: x))


def test_categories_are_an_enum_and_plain_strings_are_converted():
    """An op may write `category = "conv"`; registration makes it the Category and refuses an unknown word."""
    from archspec.ops import Category, registry
    from archspec.ops.base import Attrs as Empty
    from archspec.ops.base import Op

    class Plain(Op):
        name, keras_class, Attrs, category = "plain_for_test", "PlainForTest", Empty, "pool"

    class Bogus(Op):
        name, keras_class, Attrs, category = "bogus_for_test", "BogusForTest", Empty, "pooling"

    saved = (dict(registry.REGISTRY), dict(registry.KERAS_CLASSES))
    try:
        registry.register(Plain)
        assert Plain.category is Category.POOL and registry.REGISTRY["plain_for_test"].category == "pool"
        with pytest.raises(ValueError, match="unknown category 'pooling'"):
            registry.register(Bogus)
    finally:
        for table, old in zip((registry.REGISTRY, registry.KERAS_CLASSES), saved):
            table.clear()
            table.update(old)


def test_flops_rule_says_whether_an_op_counts_flops():
    """docs/conventions.md's FLOP table is generated from `flops_rule`: an op without one (or with a rule of
    0) counts 0 FLOPs on every example, and one with a non-zero rule counts some on an example."""
    for name in USER_OPS:
        op = ops.REGISTRY[name]
        counted = []
        for attrs, ins, _, _ in op.examples:
            a = op.Attrs.model_validate(attrs)
            counted.append(op.flops(a, ins, op.infer(a, ins)))
        says_zero = op.flops_rule is None or op.flops_rule.startswith("0")
        assert says_zero == (not any(counted)), (name, op.flops_rule, counted)
        if type(op).macs is not ops.Op.macs and any(counted):     # it multiply-accumulates
            assert "MAC" in op.flops_rule, name


def test_macs_rule_names_exactly_the_ops_that_multiply_accumulate():
    """docs/conventions.md's MAC table is generated from `macs_rule`: an op states one exactly when it counts
    MACs (its class overrides `macs`), and those count some on an example."""
    for name in USER_OPS:
        op = ops.REGISTRY[name]
        counts = type(op).macs is not ops.Op.macs
        assert bool(op.macs_rule) == counts, name
        if counts:
            a, ins = op.Attrs.model_validate(op.examples[0][0]), op.examples[0][1]
            assert op.macs(a, ins, op.infer(a, ins)) > 0, name
