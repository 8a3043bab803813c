"""Normalization: batch_norm, layer_norm, rms_norm, group_norm, normalization (fixed mean and variance)."""
from __future__ import annotations

from .base import Attrs, Field, KerasImportError, Op, ShapeError, constant_value, model_validator, shape_axis
from .registry import register
from .shapes import size


def _channels(a, ins) -> int:
    """Size of the normalized axis; `axis` counts the batch axis as Keras does (-1: last)."""
    k = shape_axis(a.axis, len(ins[0]))
    if k is None:
        raise ShapeError(f"axis {a.axis} is out of range for a rank-{len(ins[0]) + 1} input (batch axis included, "
                         "as in Keras)", "shape-rank", "use -1 for the channels", field="axis")
    return ins[0][k]


# From this many normalized rows in the batch (vectors: batch × the positions of one example) on, XLA:CPU stores
# two more float32 tensors of a layer or RMS norm's input size for its backward, which below it recomputes in
# the backward fusions: measured on dense → layer norm blocks (2 and 6 of them) of 64 features, 2 more at
# 64 × 64 = 4,096 rows and at 16 × 256, none at 63 × 64 = 4,032, 48 × 64 or 8 × 256; Llama's RMS norms 3 at
# 32 × 256 rows, 1 at 8 × 256 (buffer assignments); seen with 16, 64, 256, 384 and 768 features.
WIDE_ROWS = 4096


def _rows_residuals(a, ins, out, platform, batch) -> int:
    """The two more residuals of a normalization XLA:CPU stores from `WIDE_ROWS` rows on (elements per example)."""
    if platform != "cpu" or batch * size(out) // _channels(a, ins) < WIDE_ROWS:
        return 0
    return 2 * size(out)


def _check_axis(a, ins):
    _channels(a, ins)
    return ins[0]


class BatchNormAttrs(Attrs):
    axis: int = -1
    momentum: float = Field(0.99, ge=0, le=1)
    epsilon: float = Field(1e-3, gt=0)
    center: bool = True
    scale: bool = True


@register
class BatchNorm(Op):
    name, keras_class, Attrs, category = "batch_norm", "BatchNormalization", BatchNormAttrs, "norm"
    recomputable = True       # an affine map with the batch statistics: XLA recomputes it in a backward fusion
    float32_math = True       # keras casts a 16-bit input to float32 (BatchNormalization.call)

    def kept_after(self, a, producer, pa, out, platform):
        """On XLA:CPU a biased convolution's output (conv + bias, what keras.applications' ResNet50
        normalizes) costs one more stored copy of its size: measured 3 tensors per conv → batch norm → relu
        with a bias, 2 without. On an H200 no such copy was stored."""
        biased = producer.category in ("conv", "dense") and getattr(pa, "use_bias", False)
        return size(out) if biased and platform == "cpu" else 0
    unit_helper, abbrev = True, "bn"
    doc = ("Batch normalization (keras.layers.BatchNormalization). gamma (if `scale`) and beta (if `center`) are "
           "trainable; the moving mean and variance are not.")
    examples = [({}, [(5, 5, 8)], (5, 5, 8), (16, 16)), ({"scale": False}, [(5, 5, 8)], (5, 5, 8), (8, 16)),
                ({"center": False, "epsilon": 1.001e-5}, [(12,)], (12,), (12, 24)),
                ({"axis": 2}, [(8, 8, 4)], (8, 8, 4), (16, 16))]

    def cancels_bias(self, a):
        return a.center

    def params(self, a, ins, out):
        c = _channels(a, ins)
        return ((int(a.center) + int(a.scale)) * c, 2 * c)

    flops_rule = "2 per element (scale and shift, folded at inference)"

    def extra_flops(self, a, ins, out):
        return 2 * size(out)

    def label(self, a):
        return "batch norm"

    def infer(self, a, ins):
        return _check_axis(a, ins)


class LayerNormAttrs(Attrs):
    axis: int = -1
    epsilon: float = Field(1e-3, gt=0)
    center: bool = True
    scale: bool = True


@register
class LayerNorm(Op):
    name, keras_class, Attrs, category = "layer_norm", "LayerNormalization", LayerNormAttrs, "norm"
    # besides its input and output, XLA:CPU keeps the inverse deviation and gamma broadcast to the input's shape
    # (two `mul`s), float32, and from 4,096 rows on two more (`batch_workspace`): the centred input
    # (`_var/sub`) and the normalized input before gamma — buffer assignment of GPT-2's, BERT's, Whisper's and
    # dense/conv → layer norm blocks
    residuals = 2
    float32_math = True       # keras.ops.layer_normalization computes in float32
    unit_helper, abbrev = True, "ln"
    doc = "Layer normalization over the last axis (keras.layers.LayerNormalization)."
    examples = [({}, [(5, 5, 8)], (5, 5, 8), (16, 0)), ({"center": False}, [(6, 4)], (6, 4), (4, 0))]

    def batch_workspace(self, a, ins, out, platform, batch):
        return _rows_residuals(a, ins, out, platform, batch)

    def infer(self, a, ins):
        return _check_axis(a, ins)

    def params(self, a, ins, out):
        return ((int(a.center) + int(a.scale)) * _channels(a, ins), 0)

    flops_rule = "5 per element (mean, variance, normalize, scale, shift)"

    def extra_flops(self, a, ins, out):
        return 5 * size(out)  # mean, variance, normalize, scale, shift

    def label(self, a):
        return "layer norm"




class RMSNormAttrs(Attrs):
    axis: int = -1
    epsilon: float = Field(1e-6, gt=0)
    unit_offset: bool = Field(False, description="scale by 1 + scale instead of scale (Gemma's RMS norm, its scale "
                                                 "starting at 0)")


# EdRec's and Qwen3.5's compute x / √(mean(x²) + ε) · (1 + scale) too (Qwen3.5's in float32, with head_dim)
_ONE_PLUS_NORMS = ("keras_hub.src.models.edrec.edrec_layers.EdRecRMSNormalization",
                   "keras_hub.src.models.qwen3_5.qwen3_5_layers.Qwen3_5LayerNorm")
_GEMMA_NORMS = ("keras_hub.src.models.gemma.rms_normalization.RMSNormalization",
                "keras_hub.src.models.gemma3.gemma3_layers.RMSNormalization")


@register
class RMSNorm(Op):
    name, keras_class, Attrs, category = "rms_norm", "RMSNormalization", RMSNormAttrs, "norm"
    unit_helper, abbrev = True, "rms"
    float32_math = True       # keras.ops.rms_normalization computes in float32
    # besides its input and output, XLA:CPU keeps the normalized input before the scale (`mul`), float32, and
    # from 4,096 rows on two more (`batch_workspace`): the inverse root mean square and the scale broadcast to
    # the input's shape (Llama's blocks at batch 8 and 32, buffer assignment)
    residuals = 1
    doc = ("Root-mean-square normalization over the last axis, x / √(mean(x²) + ε) · scale, no centering "
           "(keras.layers.RMSNormalization): Llama's, Mistral's, T5's norm.")
    examples = [({}, [(6, 8)], (6, 8), (8, 0)), ({"epsilon": 1e-5}, [(4, 4, 3)], (4, 4, 3), (3, 0)),
                ({"unit_offset": True}, [(5, 6)], (5, 6), (6, 0))]      # FLOPs: tests/test_flops.py (profiler)
    # KerasHub's per-model RMS norms that compute exactly this, x · rsqrt(mean(x²) + ε) · scale over the last
    # axis with one (features,) weight, matched by module and class (Qwen3.5's scales by 1 + scale: not these).
    # Their configs hold `epsilon` and nothing else that changes the computation. Gemma's and Gemma 3's
    # compute x · rsqrt(mean(x²) + ε) · (1 + scale) in float32: unit_offset, which their configs do not state.
    keras_classes = ("RMSNormalization", "UnitOffsetRMSNorm") + tuple(f"keras_hub.src.models.{m}" for m in (
        "llama.llama_layernorm.LlamaLayerNorm", "mistral.mistral_layer_norm.MistralLayerNormalization",
        "mixtral.mixtral_layer_norm.MixtralLayerNormalization", "phi3.phi3_layernorm.Phi3LayerNorm",
        "qwen.qwen_layernorm.QwenLayerNorm", "qwen_moe.qwen_moe_layernorm.QwenMoeLayerNorm",
        "qwen3.qwen3_layernorm.Qwen3LayerNorm", "qwen3_moe.qwen3_moe_layernorm.Qwen3MoeLayerNorm",
        "gpt_oss.gpt_oss_layer_norm.GptOssLayerNormalization", "t5.t5_layer_norm.T5LayerNorm",
        "roformer_v2.roformer_v2_attention.RoformerNorm",            # the same, in float32
        "mobilenetv5.mobilenetv5_layers.RmsNorm2d")) + _GEMMA_NORMS + _ONE_PLUS_NORMS   # RmsNorm2d: its own `eps`, `dim`
    keras_class_attrs = {k: {"unit_offset": True} for k in _GEMMA_NORMS + _ONE_PLUS_NORMS}

    def infer(self, a, ins):
        return _check_axis(a, ins)

    def batch_workspace(self, a, ins, out, platform, batch):
        return _rows_residuals(a, ins, out, platform, batch)

    def params(self, a, ins, out):
        return (_channels(a, ins), 0)

    flops_rule = ("4 per element (square, mean, normalize, scale) + 3 per position (ε add, reciprocal square root: "
                  "2, as the profiler counts Rsqrt); with `unit_offset` (Gemma's: 1 / √ as two operations) 2 per "
                  "position (ε add, reciprocal; the profiler counts no Sqrt) + 1 per feature (1 + scale)")

    def extra_flops(self, a, ins, out):
        n, c = size(out), _channels(a, ins)
        if a.unit_offset:
            return 4 * n + 2 * (n // c) + c      # square, mean, normalize, scale; ε, 1/x per position; 1 + γ
        return 4 * n + 3 * (n // c)              # square, mean, normalize, scale; + ε and 1/√ per position

    def build_keras(self, a, name):
        """keras.layers.RMSNormalization; archspec's UnitOffsetRMSNorm (same weight, `scale`) for unit_offset."""
        if not a.unit_offset:
            return super().build_keras(a, name)
        from .keras_layers import UnitOffsetRMSNorm

        return UnitOffsetRMSNorm(axis=a.axis, epsilon=a.epsilon, name=name)

    def keras_kwargs(self, a):
        kw = dict(axis=a.axis, epsilon=a.epsilon)
        return dict(kw, unit_offset=True) if a.unit_offset else kw

    def keras_config(self, cfg, shapes):
        """MobileNetV5's RmsNorm2d spells epsilon `eps` and states its width `dim`, data format and channel
        axis: read as rms_norm over the channels when it normalizes the last axis of its input, as wide."""
        if "eps" not in cfg or "dim" not in cfg or "epsilon" in cfg:
            return cfg
        rank = len(shapes[0]) + 1 if shapes else None
        if cfg.get("data_format") not in (None, "channels_last") or cfg.get("channel_axis") not in (None, -1, rank - 1 if rank else -1):
            raise KerasImportError(f"it normalizes the axis of data_format={cfg.get('data_format')!r}, "
                                   f"channel_axis={cfg.get('channel_axis')!r}; archspec's rms_norm here reads the channels-last one")
        if shapes and shapes[0] and cfg["dim"] != shapes[0][-1]:
            raise KerasImportError(f"its dim={cfg['dim']} is not the width of its input ({shapes[0][-1]})")
        return {k: v for k, v in cfg.items() if k in ("name", "trainable", "dtype")} | {"epsilon": cfg["eps"]}

    def from_keras(self, cfg, shapes):
        """Keras's RMSNormalization as the reader checks it; KerasHub's classes (no `axis` in their config)
        only with nothing but `epsilon` set — Qwen3's `head_dim` only when it is the input's width."""
        if "axis" not in cfg:
            rest = {k: v for k, v in cfg.items() if k not in ("name", "trainable", "dtype", "epsilon", "head_dim",
                                                              "unit_offset")}
            if any(v not in (None, False, {}, [], ()) for v in rest.values()):
                raise KerasImportError(f"its settings {sorted(rest)} have no archspec attribute")
            head = cfg.get("head_dim")
            if head not in (None, 0) and not (shapes and shapes[0] and shapes[0][-1] == head):
                raise KerasImportError(f"its head_dim={head} is not the width of its input; archspec's rms_norm "
                                       "normalizes the input's last axis with a scale of that width")
        return super().from_keras(cfg, shapes)

    def label(self, a):
        return "rms norm (1 + γ)" if a.unit_offset else "rms norm"


class NormalizationAttrs(Attrs):
    axis: int = Field(-1, description="the feature axis (batch axis included, as in Keras; -1: channels)")
    mean: list[float] | None = Field(None, description="per-feature mean; absent: non-trainable weights set by "
                                                         "Keras's adapt() or copied from a model")
    variance: list[float] | None = Field(None, description="per-feature variance (with `mean`)")
    invert: bool = Field(False, description="undo the normalization: x·√variance + mean")

    @model_validator(mode="after")
    def _both(self):
        if (self.mean is None) != (self.variance is None):
            raise ValueError("give both mean and variance, or neither")
        return self


@register
class Normalization(Op):
    name, keras_class, Attrs, category = "normalization", "Normalization", NormalizationAttrs, "norm"
    scales_input = True
    keeps_inputs = False      # a fixed affine map: its gradient needs no forward tensor
    recomputable = True
    doc = ("Feature-wise (x − mean) / √variance with a fixed mean and variance (keras.layers.Normalization), "
           "e.g. ImageNet preprocessing. Without `mean`/`variance` they are non-trainable weights "
           "(2 per feature + a count), as in EfficientNet.")
    examples = [({}, [(5, 5, 3)], (5, 5, 3), (0, 7)),
                ({"axis": 3}, [(6, 6, 3)], (6, 6, 3), (0, 7)),
                ({"mean": [1.0, 2.0, 3.0], "variance": [4.0, 5.0, 6.0]}, [(4, 4, 3)], (4, 4, 3), (0, 0)),
                ({"mean": [0.5, 0.5], "variance": [0.25, 0.25], "invert": True}, [(2,)], (2,), (0, 0))]
    # `x - mean` and `x / std` with per-channel constants in a functional graph (KerasHub's ViTDet and SAM
    # normalize images so): each a normalization, (x − mean) / √1 and (x − 0) / √(std²)
    keras_ops = ("Subtract", "TrueDivide", "Divide")

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`x - c` or `x / c` with c a constant vector over the last axis (one value per channel)."""
        if n_tensors != 1 or len(consts) != 1 or consts[0][0] != 1:
            return None
        c = constant_value(consts[0][1])
        if not (isinstance(c, (list, tuple)) and len(c) > 1
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c)):
            return None
        c = [float(v) for v in c]
        if cls == "Subtract":
            return {"mean": c, "variance": [1.0] * len(c)}
        if all(v > 0 for v in c):
            return {"mean": [0.0] * len(c), "variance": [v * v for v in c]}
        return None

    def infer(self, a, ins):
        c = _channels(a, ins)
        if a.mean is not None and len(a.mean) != len(a.variance):     # Keras: "must have the same shape"
            raise ShapeError(f"normalization has {len(a.mean)} mean values but {len(a.variance)} variance values",
                             "schema", f"give as many of each: one per feature ({c}) or a single value",
                             field="variance")
        for key in ("mean", "variance"):
            v = getattr(a, key)
            if v is not None and len(v) not in (1, c):
                raise ShapeError(f"normalization has {len(v)} {key} values for {c} features", "shape-mismatch",
                                 f"give one value per feature ({c}) or a single value", field=key)
        return ins[0]

    def params(self, a, ins, out):
        return (0, 0) if a.mean is not None else (0, 2 * _channels(a, ins) + 1)

    flops_rule = "2 per element (subtract, divide) + 1 per feature (max(√variance, ε))"

    def extra_flops(self, a, ins, out):
        return 2 * size(out) + _channels(a, ins)      # subtract, divide; max(√variance, ε) per feature

    def label(self, a):
        return "denormalize" if a.invert else "normalize"

    def keras_kwargs(self, a):
        return dict(axis=a.axis, mean=a.mean, variance=a.variance, invert=a.invert)


class GroupNormAttrs(Attrs):
    groups: int = Field(32, ge=1, description="number of channel groups, dividing the channels; as many as channels: "
                                             "instance norm, 1: one group (layer norm over every axis)")
    axis: int = -1
    epsilon: float = Field(1e-3, gt=0)
    center: bool = True
    scale: bool = True


@register
class GroupNorm(Op):
    name, keras_class, Attrs, category, primary = "group_norm", "GroupNormalization", GroupNormAttrs, "norm", "groups"
    unit_helper, abbrev = True, "gn"
    float32_math = True       # GroupNormalization casts a 16-bit input to float32
    doc = ("Group normalization (keras.layers.GroupNormalization): the channels are split into `groups`, each "
           "normalized over its channels and every spatial position or step; gamma and beta per channel.")
    examples = [({"groups": 4}, [(5, 5, 8)], (5, 5, 8), (16, 0)), ({"groups": 2, "center": False}, [(6, 4)], (6, 4), (4, 0)),
                ({"groups": 6, "epsilon": 1e-5}, [(3, 3, 6)], (3, 3, 6), (12, 0))]

    def infer(self, a, ins):
        c = _channels(a, ins)
        if c % a.groups:
            raise ShapeError(f"group_norm splits {c} channels into {a.groups} groups: the groups must divide the channels",
                             "shape-mismatch", f"use a divisor of {c}", field="groups")
        return ins[0]

    def params(self, a, ins, out):
        return ((int(a.center) + int(a.scale)) * _channels(a, ins), 0)

    flops_rule = "5 per element (mean, variance, normalize, scale, shift)"

    def extra_flops(self, a, ins, out):
        return 5 * size(out)  # mean, variance, normalize, scale, shift (as layer_norm)

    def label(self, a):
        return f"group norm · {a.groups}"
