"""Fully connected layers: dense."""
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
