"""The op registry contract, and every op's examples checked against Keras itself."""
import pytest

from archspec import ops
from archspec.lang.jsonschema import json_schema
from archspec.ops.shapes import conv_length

USER_OPS = sorted(k for k, v in ops.REGISTRY.items() if not getattr(v, "internal", False))
EXAMPLES = [(name, i, attrs, ins) for name in USER_OPS for i, (attrs, ins) in enumerate(ops.REGISTRY[name].examples)]


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


@pytest.mark.parametrize("name,i,attrs,ins", EXAMPLES, ids=[f"{e[0]}-{e[1]}" for e in EXAMPLES])
def test_example_infers_and_labels(name, i, attrs, ins):
    op = ops.REGISTRY[name]
    a = op.Attrs.model_validate(attrs)
    out = op.infer(a, ins)
    t, nt = op.params(a, ins, out)
    assert t >= 0 and nt >= 0
    assert op.flops(a, ins, out) >= 2 * op.macs(a, ins, out) >= 0
    assert op.label(a)


@pytest.mark.parametrize("n,k,s,pad", [(7, 3, 2, "valid"), (7, 3, 2, "same"), (1, 7, 1, "same"), (32, 3, 2, "valid")])
def test_conv_length(n, k, s, pad):
    import math

    assert conv_length(n, k, s, pad) == (math.ceil(n / s) if pad == "same" else (n - k) // s + 1)


@pytest.mark.keras
@pytest.mark.parametrize("name,i,attrs,ins", EXAMPLES, ids=[f"{e[0]}-{e[1]}" for e in EXAMPLES])
def test_example_matches_keras(name, i, attrs, ins):
    """Build the op as a one-layer Keras model: same output shape, same trainable/non-trainable split."""
    import keras

    op = ops.REGISTRY[name]
    a = op.Attrs.model_validate(attrs)
    out = op.infer(a, ins)
    inputs = [keras.Input(shape=s) for s in ins]
    layer = op.build_keras(a, name="layer")
    y = op.call_keras(layer, inputs)
    assert tuple(y.shape[1:]) == tuple(out)
    trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in layer.non_trainable_weights)
    assert (trainable, frozen) == op.params(a, ins, out)
