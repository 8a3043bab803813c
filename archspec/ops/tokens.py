"""Token sequences (batch, tokens, features), as a Vision Transformer uses them: position_embedding,
sine_position, class_token, select_token, global_avg_pool_1d, global_max_pool_1d; and layer_scale (ConvNeXt, CaiT).

A ViT turns an image into tokens with a patch convolution and a reshape
(`conv2d: {filters: 768, kernel: 16, strides: 16}` then `reshape: [-1, 768]`), prepends a class token,
adds a learned position embedding, runs attention blocks and classifies the class token.

>>> from archspec.ops import REGISTRY
>>> ct, pe = REGISTRY["class_token"], REGISTRY["position_embedding"]
>>> ct.infer(ct.Attrs(), [(196, 768)]), pe.params(pe.Attrs(), [(197, 768)], (197, 768))
((197, 768), (151296, 0))
"""
from __future__ import annotations

from typing import Literal

from . import register
from .base import Attrs, Field, NonNegInt, Op, PosInt, ShapeError
from .shapes import size


def _tokens(op: str, ins, hint: str | None = None):
    if len(ins[0]) != 2:
        raise ShapeError(f"{op} needs a token sequence (tokens, features), got shape {ins[0]}", "shape-rank",
                         hint or f"turn it into tokens first: `- reshape: [-1, {ins[0][-1]}]`")
    return ins[0]


class NoAttrs(Attrs):
    pass


class PositionEmbeddingAttrs(Attrs):
    stddev: float = Field(0.02, ge=0, description="standard deviation of the initial (normal) embedding")


@register
class PositionEmbedding(Op):
    name, keras_class, Attrs, category = "position_embedding", "PositionEmbedding", PositionEmbeddingAttrs, "token"
    custom_layer = True                            # archspec.ops.keras_layers
    doc = ("Adds a learned embedding of the input's shape (one vector per token, ViT's AddPositionEmbs): "
           "archspec.ops.keras_layers.PositionEmbedding, a registered serializable Keras layer.")
    examples = [({}, [(197, 16)], (197, 16), (3152, 0)),
                ({"stddev": 0.1}, [(4, 4, 3)], (4, 4, 3), (48, 0))]

    def params(self, a, ins, out):
        return (size(ins[0]), 0)

    def extra_flops(self, a, ins, out):
        return size(out)

    def label(self, a):
        return "position embedding"

    def keras_kwargs(self, a):
        return dict(stddev=a.stddev)


def sinusoid(length: int, dim: int, max_wavelength: float = 10000.0, layout: str = "interleaved"):
    """The (length, dim) sinusoidal position table, as float64 NumPy (imported here, lazily).

    `interleaved` (KerasHub's SinePositionEncoding, "Attention is all you need"): feature 2i is
    sin(p / w^(2i/dim)) and 2i+1 its cosine, w = max_wavelength. `split` (Whisper's `sinusoids`, tensor2tensor):
    the first dim/2 features are sin(p · e^(−i·ln w/(dim/2 − 1))), the last dim/2 their cosines.

    >>> t = sinusoid(3, 4)
    >>> t.shape, [round(float(v), 4) for v in t[1]]
    ((3, 4), [0.8415, 0.5403, 0.01, 1.0])
    >>> [round(float(v), 4) for v in sinusoid(3, 4, layout="split")[1]]
    [0.8415, 0.0001, 0.5403, 1.0]
    """
    import numpy as np

    pos = np.arange(length, dtype=np.float64)[:, None]
    if layout == "split":
        half = dim // 2
        inv = np.exp(-np.log(max_wavelength) / max(half - 1, 1) * np.arange(half))
        angles = pos * inv[None, :]
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    i = np.arange(dim)
    angles = pos * np.power(1.0 / max_wavelength, (2 * (i // 2)) / dim)[None, :]
    return np.where(i % 2 == 0, np.sin(angles), np.cos(angles))


class SinePositionAttrs(Attrs):
    max_wavelength: float = Field(10000.0, gt=0, description="the longest wavelength (Keras/Whisper: 10000)")
    layout: Literal["interleaved", "split"] = Field(
        "interleaved", description="interleaved: sin and cos alternate over the features (KerasHub's "
                                   "SinePositionEncoding); split: sines then cosines (Whisper's sinusoids)")
    table: PosInt | None = Field(None, description="keep the encoding as a non-trainable table of this many positions, "
                                                   "read from the start (Whisper's buffer; KerasHub's WhisperBackbone "
                                                   "holds it as max_encoder_sequence_length // 2 rows); none: computed")


@register
class SinePosition(Op):
    name, keras_class, Attrs, category = "sine_position", "SinePosition", SinePositionAttrs, "token"
    custom_layer = True                            # archspec.ops.keras_layers
    doc = ("Adds a fixed sinusoidal position encoding to a sequence (steps, features): x + PE[:steps] "
           "(KerasHub's SinePositionEncoding added to its input, or Whisper's encoder positions with "
           "`layout: split`). archspec.ops.keras_layers.SinePosition, a registered serializable Keras layer.")
    examples = [({}, [(10, 16)], (10, 16), (0, 0)),
                ({"layout": "split", "table": 12}, [(10, 8)], (10, 8), (0, 96))]

    def infer(self, a, ins):
        t, d = _tokens("sine_position", ins)
        if d % 2:
            raise ShapeError(f"sine_position pairs a sine with a cosine: its {d} features must be even",
                             "shape-mismatch", "project to an even number of features first")
        if a.layout == "split" and d < 4:
            raise ShapeError(f"sine_position's split layout needs at least 4 features, got {d}", "shape-mismatch",
                             "use layout: interleaved")
        if a.table is not None and t > a.table:
            raise ShapeError(f"the sequence has {t} steps but the position table only {a.table}", "shape-mismatch",
                             f"set table: {t} or more (or leave it out to compute the encoding)", field="table")
        return ins[0]

    def params(self, a, ins, out):
        return (0, a.table * ins[0][1]) if a.table else (0, 0)

    def extra_flops(self, a, ins, out):
        return size(out)

    def backward_keeps(self, a, ins, out):
        return False, False, 0                       # x + constant: the gradient passes through

    def label(self, a):
        return "sine positions" + (" (split)" if a.layout == "split" else "")

    def keras_kwargs(self, a):
        return dict(max_wavelength=a.max_wavelength, layout=a.layout, table=a.table)


class ClassTokenAttrs(Attrs):
    tokens: PosInt = Field(1, description="how many learned tokens to prepend (DeiT's distillation token: 2)")


@register
class ClassToken(Op):
    name, keras_class, Attrs, category, primary = "class_token", "ClassToken", ClassTokenAttrs, "token", "tokens"
    custom_layer = True                            # archspec.ops.keras_layers
    doc = ("Prepends learned tokens (initially zero) to a token sequence: (T, D) → (T + tokens, D). "
           "archspec.ops.keras_layers.ClassToken, a registered serializable Keras layer.")
    examples = [({}, [(196, 16)], (197, 16), (16, 0)),
                ({"tokens": 2}, [(5, 8)], (7, 8), (16, 0))]

    def infer(self, a, ins):
        t, d = _tokens("class_token", ins)
        return (t + a.tokens, d)

    def params(self, a, ins, out):
        return (a.tokens * ins[0][1], 0)

    def label(self, a):
        return "class token" if a.tokens == 1 else f"{a.tokens} class tokens"

    def keras_kwargs(self, a):
        return dict(tokens=a.tokens)


class SelectTokenAttrs(Attrs):
    index: NonNegInt = Field(0, description="which token (0: the class token)")


@register
class SelectToken(Op):
    name, keras_class, Attrs, category, primary = "select_token", "SelectToken", SelectTokenAttrs, "reshape", "index"
    custom_layer = True                            # archspec.ops.keras_layers
    doc = ("Takes one token of a sequence, x[:, index]: (T, D) → (D,), e.g. the class token for the classifier. "
           "archspec.ops.keras_layers.SelectToken, a registered serializable Keras layer.")
    examples = [({}, [(197, 16)], (16,), (0, 0)),
                ({"index": 3}, [(5, 8)], (8,), (0, 0))]

    keras_ops = ("GetItem",)                       # `x[:, 0]` in a hand-written functional model

    def from_keras_op(self, cls, n_tensors, consts):
        """`x[:, i]` (a full slice over the batch, then a token index i ≥ 0) on one tensor."""
        if n_tensors != 1 or len(consts) != 1:
            return None
        key = consts[0][1]
        if not (isinstance(key, (list, tuple)) and len(key) == 2 and isinstance(key[1], int)
                and not isinstance(key[1], bool) and key[1] >= 0):
            return None
        full = key[0]
        if not (isinstance(full, dict) and full.get("class_name") == "__slice__"
                and all(v is None for v in (full.get("config") or {}).values())):
            return None
        return {"index": key[1]}

    def infer(self, a, ins):
        t, d = _tokens("select_token", ins)
        if a.index >= t:
            raise ShapeError(f"select_token index {a.index} is out of range for {t} tokens", "shape-mismatch",
                             f"use an index from 0 to {t - 1}", field="index")
        return (d,)

    def label(self, a):
        return f"select token {a.index}"

    def keras_kwargs(self, a):
        return dict(index=a.index)


class _TokenPool(Op):
    Attrs, category = NoAttrs, "pool"
    kind = ""
    examples = [({}, [(197, 16)], (16,), (0, 0)),
                ({}, [(3, 5)], (5,), (0, 0))]

    def infer(self, a, ins):
        return (_tokens(self.name, ins, "for a feature map use global_avg_pool / global_max_pool")[1],)

    def extra_flops(self, a, ins, out):
        return size(ins[0])

    def label(self, a):
        return f"token {self.kind} pool"

    def keras_kwargs(self, a):
        return {}


@register
class GlobalAvgPool1D(_TokenPool):
    name, keras_class, kind = "global_avg_pool_1d", "GlobalAveragePooling1D", "avg"
    doc = "Mean over the tokens of a sequence, (T, D) → (D,) (keras.layers.GlobalAveragePooling1D)."


@register
class GlobalMaxPool1D(_TokenPool):
    keeps_inputs, keeps_output = True, True    # the gradient goes to the arg-max
    name, keras_class, kind = "global_max_pool_1d", "GlobalMaxPooling1D", "max"
    doc = "Maximum over the tokens of a sequence, (T, D) → (D,) (keras.layers.GlobalMaxPooling1D)."


class LayerScaleAttrs(Attrs):
    init: float = Field(1e-6, description="initial value of every scale factor")


@register
class LayerScale(Op):
    name, keras_class, Attrs, category, primary = "layer_scale", "LayerScale", LayerScaleAttrs, "norm", "init"
    custom_layer, recomputable = True, True        # archspec.ops.keras_layers; γ·x, recomputed in a fusion
    keras_names = {"init": "init_values"}
    doc = ("Multiplies each channel (last axis) by a learned factor, initially `init` (ConvNeXt's and CaiT's "
           "LayerScale, as keras.applications.convnext.LayerScale): archspec.ops.keras_layers.LayerScale.")
    examples = [({}, [(7, 7, 16)], (7, 7, 16), (16, 0)),
                ({"init": 0.1}, [(197, 16)], (197, 16), (16, 0))]

    def params(self, a, ins, out):
        return (ins[0][-1], 0)

    def extra_flops(self, a, ins, out):
        return size(out)

    def label(self, a):
        return f"layer scale {a.init:g}"

    def keras_kwargs(self, a):
        return dict(init_values=a.init)
