"""Fully connected layers: dense; matmul (the product of two tensors, as attention written in keras.ops computes it)."""
from __future__ import annotations

from .base import WEIGHTED_FLOPS, ActivationName, Attrs, Field, Op, PosInt, ShapeError, act_flops, bias_flops, keras_activation
from .registry import register


class DenseAttrs(Attrs):
    units: PosInt
    use_bias: bool = True
    activation: ActivationName | None = None
    per_position: bool = Field(False, description="allow a rank-3 input (a Dense on every pixel, i.e. a 1×1 conv)")


@register
class Dense(Op):
    name, keras_class, Attrs, category, primary = "dense", "Dense", DenseAttrs, "dense", "units"
    weighted = True
    doc = "Fully connected layer (keras.layers.Dense), applied to the last axis."
    examples = [({"units": 10}, [(64,)], (10,), (650, 0)),
                ({"units": 5, "use_bias": False, "activation": "softmax"}, [(7,)], (5,), (35, 0)),
                ({"units": 3}, [(4, 6)], (4, 3), (21, 0)),
                ({"units": 4, "per_position": True}, [(3, 3, 2)], (3, 3, 4), (12, 0))]

    def infer(self, a, ins):
        if len(ins[0]) >= 3 and not a.per_position:
            raise ShapeError(f"dense receives an unflattened {ins[0]} feature map", "shape-rank",
                             "add `- flatten: {}` or `- global_avg_pool: {}` before it "
                             "(or set per_position: true for a Dense on every pixel)")
        return ins[0][:-1] + (a.units,)

    def params(self, a, ins, out):
        return (ins[0][-1] * a.units + (a.units if a.use_bias else 0), 0)

    macs_rule = "`units · Cin` per position"

    def macs(self, a, ins, out):
        from .shapes import size
        return size(out) * ins[0][-1]

    flops_rule = WEIGHTED_FLOPS

    def extra_flops(self, a, ins, out):
        return bias_flops(a.use_bias, out) + act_flops(a.activation, out)

    def label(self, a):
        return f"dense · {a.units}"

    def keras_kwargs(self, a):
        return dict(units=a.units, use_bias=a.use_bias, activation=keras_activation(a.activation))

    def from_keras(self, cfg, shapes):
        values = super().from_keras(cfg, shapes)
        if shapes and len(shapes[0]) >= 3:
            values["per_position"] = True                # Keras applies Dense to the last axis of any rank
        return values


class MatMulAttrs(Attrs):
    pass


@register
class MatMul(Op):
    name, keras_class, Attrs, category, arity = "matmul", "MatMul", MatMulAttrs, "dense", (2, 2)
    custom_layer, keeps_inputs = True, True          # (the gradient of each operand reads the other)
    doc = ("The matrix product of two tensors over their last two axes, the other axes equal (batched): "
           "(…, n, k) · (…, k, m) → (…, n, m), as `keras.ops.matmul` (`q @ k`) in attention written in keras.ops "
           "(MiT's, SegFormer's). archspec.ops.keras_layers.MatMul, a registered serializable Keras layer.")
    examples = [({}, [(2, 5, 4), (2, 4, 3)], (2, 5, 3), (0, 0)), ({}, [(6, 8), (8, 6)], (6, 6), (0, 0))]
    keras_ops = ("Matmul",)                          # keras.ops.matmul(a, b), `a @ b`, in a graph

    def infer(self, a, ins):
        x, y = ins
        if len(x) < 2 or len(x) != len(y):
            raise ShapeError(f"matmul multiplies tensors of one rank (2 or more axes besides the batch), got {x} and {y}",
                             "shape-rank")
        if x[:-2] != y[:-2] or x[-1] != y[-2]:
            raise ShapeError(f"matmul cannot multiply {x} by {y}: the first's last axis must be the second's "
                             "next-to-last, and the axes before them equal", "shape-mismatch")
        return x[:-1] + (y[-1],)

    macs_rule = "`k` per output element ((…, n, k) · (…, k, m): n · m · k per leading index)"

    def macs(self, a, ins, out):
        from .shapes import size
        return size(out) * ins[0][-1]

    flops_rule = "2 per MAC"

    def label(self, a):
        return "matmul"

    def keras_kwargs(self, a):
        return {}

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`keras.ops.matmul(a, b)` of two tensors (a shape the rule refuses is refused there)."""
        return {} if n_tensors == 2 and not consts else None

    def call_keras(self, layer, tensors, attrs=None):
        return layer(tensors)
