"""Activations: activation (any Keras activation by name), relu (with max_value, e.g. ReLU6), leaky_relu
(keras.layers.LeakyReLU) and gelu (exact or tanh-approximate, keras.activations.gelu(approximate=...))."""
from __future__ import annotations

from .base import ACTIVATION_FLOPS, ACTIVATIONS, CHEAP_ACTIVATIONS, ActivationName, Attrs, Field, Op, activation_name, keras_activation
from .registry import register
from .shapes import size


class ActivationAttrs(Attrs):
    activation: ActivationName


# ReLU, leaky ReLU, GELU as layers; TensorFlow's profiler counts none of Relu, LeakyRelu, Erf, Tanh
ELEMENTWISE_ACT = ("0 (element-wise; the profiler counts none of Relu, LeakyRelu, Erf, Tanh; "
                   "see [flops.md](flops.md) for the Muls it does count)")


@register
class Activation(Op):
    name, keras_class, Attrs, category, primary = "activation", "Activation", ActivationAttrs, "act", "activation"
    roles, unit_helper, transparent, abbrev = ("activation",), True, True, "act"
    doc = "An element-wise activation by name (keras.layers.Activation): `- activation: relu`."
    examples = [({"activation": "relu"}, [(4, 4, 3)], (4, 4, 3), (0, 0)),
                ({"activation": "softmax"}, [(10,)], (10,), (0, 0))]

    flops_rule = "; ".join(f"{n} per element for {', '.join(k for k, v in ACTIVATION_FLOPS.items() if v == n)}"
                           for n in sorted(set(ACTIVATION_FLOPS.values()))) + "; 0 for every other activation"

    def extra_flops(self, a, ins, out):
        return ACTIVATION_FLOPS.get(a.activation, 0) * size(out)

    def label(self, a):
        return a.activation

    def short_name(self, a):
        return a.activation

    def activation_of(self, a):
        return None if a.activation == "linear" else a.activation

    def keras_kwargs(self, a):
        return dict(activation=keras_activation(a.activation))

    def from_keras(self, cfg, shapes):
        return {"activation": activation_name(cfg.get("activation"))}

    def recomputes(self, a):
        return a.activation == "linear" or a.activation in CHEAP_ACTIVATIONS

    lambda_form = "a named activation (`keras.activations.gelu(x)`, `relu(x)`, …)"

    def probe_lambda(self, call, shapes):
        """The named activation whose Keras function computes what `call` does on random inputs of `shapes`
        (MobileNetV5's ``Activation(lambda x: keras.activations.gelu(x, approximate=False))``); None when
        none does."""
        import keras
        import numpy as np

        if len(shapes) != 1:
            return None
        x = np.random.default_rng(0).normal(0, 3, size=(2,) + tuple(shapes[0])).astype("float32")
        out = np.asarray(call(x))
        if out.shape != x.shape:
            return None
        for name in ACTIVATIONS:
            fn = keras_activation(name)
            fn = keras.activations.get(fn) if isinstance(fn, str) else fn
            try:
                ref = np.asarray(fn(x))
            except Exception:                          # noqa: BLE001  (an activation that needs more)
                continue
            if ref.shape == out.shape and np.allclose(out, ref, rtol=1e-6, atol=1e-6):
                return {"activation": name}
        return None

    # keras.ops activations in a graph (MiT's softmax, Mistral's silu), read by their names
    keras_ops = ("Softmax", "Silu", "Relu", "Sigmoid", "Tanh", "HardSilu")

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`keras.ops.softmax(x, axis=-1)`, `keras.ops.silu(x)`, …: the activation of that name (softmax only
        over the last axis, as the layer computes it)."""
        cfg = cfg or {}
        if n_tensors != 1 or consts or cfg.get("axis", -1) not in (-1, (-1,), [-1]):
            return None
        name = {"HardSilu": "hard_silu"}.get(cls, cls.lower())
        rest = {k: v for k, v in cfg.items() if k != "axis"}
        return None if rest else {"activation": name}


class ReluAttrs(Attrs):
    # the ranges keras.layers.ReLU itself accepts: each >= 0 (a negative one is a ValueError there)
    max_value: float | None = Field(None, ge=0)
    negative_slope: float = Field(0.0, ge=0)
    threshold: float = Field(0.0, ge=0)


@register
class ReLU(Op):
    name, keras_class, Attrs, category, primary = "relu", "ReLU", ReluAttrs, "act", "max_value"
    unit_helper, transparent, recomputable = True, True, True
    flops_rule = ELEMENTWISE_ACT
    doc = "Rectified linear unit with optional cap (keras.layers.ReLU): `- relu: 6` is ReLU6."
    examples = [({}, [(4, 4, 3)], (4, 4, 3), (0, 0)), ({"max_value": 6.0}, [(4, 4, 3)], (4, 4, 3), (0, 0)),
                ({"threshold": 0.5, "negative_slope": 0.1, "max_value": 0.0}, [(5,)], (5,), (0, 0))]

    def label(self, a):
        if a.max_value is not None and a.negative_slope == 0 and a.threshold == 0:
            return f"relu{a.max_value:g}"
        return "relu"

    def activation_of(self, a):
        return "relu"

    def from_keras(self, cfg, shapes):
        values = super().from_keras(cfg, shapes)
        if values.get("max_value") is not None:
            values["max_value"] = float(values["max_value"])
        return values


class LeakyReluAttrs(Attrs):
    negative_slope: float = Field(0.3, ge=0, description="slope for x < 0 (Keras's default 0.3; YOLO and CSP use 0.1)")


@register
class LeakyReLU(Op):
    name, keras_class, Attrs, category, primary = "leaky_relu", "LeakyReLU", LeakyReluAttrs, "act", "negative_slope"
    unit_helper, transparent, recomputable = True, True, True
    flops_rule = ELEMENTWISE_ACT
    doc = "Leaky rectified linear unit, x for x ≥ 0 and negative_slope·x below (keras.layers.LeakyReLU): `- leaky_relu: 0.1`."
    examples = [({}, [(4, 4, 3)], (4, 4, 3), (0, 0)), ({"negative_slope": 0.1}, [(6, 8)], (6, 8), (0, 0))]

    def label(self, a):
        return f"leaky relu {a.negative_slope:g}"

    def activation_of(self, a):
        return "leaky_relu"


class GeluAttrs(Attrs):
    approximate: bool = Field(False, description="the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) "
                                                 "of GPT-2 and BERT's TF code; false: the exact x·Φ(x) with erf")


@register
class GELU(Op):
    name, keras_class, Attrs, category, primary = "gelu", "GELU", GeluAttrs, "act", "approximate"
    unit_helper, transparent, custom_layer = True, True, True
    flops_rule = ELEMENTWISE_ACT
    doc = ("Gaussian error linear unit as keras.activations.gelu(x, approximate=...): `- gelu: {}` is exact (as "
           "`activation: gelu`), `- gelu: {approximate: true}` the tanh form (GPT-2). "
           "archspec.ops.keras_layers.GELU, a registered serializable Keras layer.")
    examples = [({}, [(4, 4, 3)], (4, 4, 3), (0, 0)), ({"approximate": True}, [(6, 8)], (6, 8), (0, 0))]

    keras_ops = ("Gelu",)                           # keras.ops.gelu(x, approximate=...) in a graph (Whisper)

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        if n_tensors != 1 or consts:
            return None
        return {"approximate": bool((cfg or {}).get("approximate", True))}   # keras.ops.gelu's default: True

    def label(self, a):
        return "gelu (tanh)" if a.approximate else "gelu"

    def short_name(self, a):
        return "gelu"

    def activation_of(self, a):
        return "gelu"
