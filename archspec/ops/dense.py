"""Fully connected layers: dense."""
from __future__ import annotations

import re

from .base import (
    WEIGHTED_FLOPS,
    ActivationName,
    Attrs,
    Field,
    KerasImportError,
    Op,
    PosInt,
    ShapeError,
    act_flops,
    bias_flops,
    keras_activation,
)
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
    # keras.layers.EinsumDense is read as dense where it is one: `btd,df->btf` (one input axis contracted with
    # the kernel's first, every other axis kept in order, one output axis; the kernel (in, units) and the
    # bias (units,) are Dense's) — Gemma's feed-forward layers
    keras_classes = ("Dense", "EinsumDense")
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
        if "equation" in cfg:
            return _from_einsum(cfg, shapes)
        values = super().from_keras(cfg, shapes)
        if shapes and len(shapes[0]) >= 3:
            values["per_position"] = True                # Keras applies Dense to the last axis of any rank
        return values


_EINSUM_READ = {"name", "trainable", "dtype", "equation", "output_shape", "activation", "bias_axes",
                "activity_regularizer", "quantization_config"}


def _from_einsum(cfg, shapes):
    """dense's attributes for an EinsumDense that computes a Dense over the last axis, else a refusal saying
    why."""
    eq = str(cfg["equation"]).replace(" ", "")
    m = re.fullmatch(r"(\.\.\.|[a-z]*)([a-z]),([a-z])([a-z])->(\.\.\.|[a-z]*)([a-z])", eq)
    if not m or m.group(2) != m.group(3) or m.group(1) != m.group(5) or m.group(4) != m.group(6) \
            or len(set(m.group(1) + m.group(2) + m.group(4))) != len(m.group(1)) + 2 - (m.group(1) == "...") * 2:
        raise KerasImportError(f"its equation {cfg['equation']!r} is not a dense layer over the last axis "
                               "(such as 'btd,df->btf'); archspec's dense contracts the last axis only")
    out = cfg.get("output_shape")
    out = list(out) if isinstance(out, (list, tuple)) else [out]
    units = out[-1]
    if not isinstance(units, int) or any(d is not None and not (shapes and len(shapes[0]) == len(out)
                                                                and d == shapes[0][k]) for k, d in enumerate(out[:-1])):
        raise KerasImportError(f"its output_shape {out} is not the input's axes with a last axis of units")
    bias = cfg.get("bias_axes")
    if bias not in (None, "", m.group(6)):
        raise KerasImportError(f"its bias_axes={bias!r} add a bias over other axes than the output features")
    rest = {k: v for k, v in cfg.items() if k not in _EINSUM_READ and not k.endswith(("_initializer", "_regularizer",
                                                                                        "_constraint"))}
    if any(v not in (None, False, 0, {}, [], ()) for v in rest.values()):
        raise KerasImportError(f"its settings {sorted(k for k, v in rest.items() if v)} have no archspec attribute")
    if cfg.get("quantization_config") not in (None, {}):
        raise KerasImportError("it is quantized; archspec's dense is float")
    values = Op.from_keras(Dense(), {"activation": cfg.get("activation")}, shapes)
    values.update(units=units, use_bias=bool(bias))
    if shapes and len(shapes[0]) >= 3:
        values["per_position"] = True
    return values
