"""Layout and regularization: flatten, reshape, zero_padding, zero_padding_1d, cropping, cropping_1d, upsampling,
resize, resize_aligned, dropout, spatial_dropout, rescaling."""
from __future__ import annotations

from typing import Annotated, Literal

from .base import (
    Attrs,
    BeforeValidator,
    Field,
    KerasImportError,
    NonNegInt,
    Op,
    Pair,
    PosInt,
    ShapeError,
    constant_value,
    model_validator,
    need_rank,
)
from .registry import register
from .shapes import size


class NoAttrs(Attrs):
    pass


@register
class Flatten(Op):
    name, keras_class, Attrs, category = "flatten", "Flatten", NoAttrs, "reshape"
    view = True
    doc = "Flattens everything but the batch axis (keras.layers.Flatten)."
    examples = [({}, [(3, 4, 5)], (60,), (0, 0)), ({}, [(7,)], (7,), (0, 0))]

    def infer(self, a, ins):
        return (size(ins[0]),)

    def keras_kwargs(self, a):
        return {}


class ReshapeAttrs(Attrs):
    target_shape: tuple[int, ...]


@register
class Reshape(Op):
    name, keras_class, Attrs, category, primary = "reshape", "Reshape", ReshapeAttrs, "reshape", "target_shape"
    view = True
    doc = "Reshape to `target_shape` (batch axis excluded; one -1 is inferred), keras.layers.Reshape."
    examples = [({"target_shape": [6, 10]}, [(3, 4, 5)], (6, 10), (0, 0)),
                ({"target_shape": [-1, 5]}, [(3, 4, 5)], (12, 5), (0, 0))]

    def infer(self, a, ins):
        n = size(ins[0])
        target = list(a.target_shape)
        if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
            raise ShapeError(f"target_shape {tuple(target)} may hold positive sizes and at most one -1",
                             "schema", field="target_shape")
        known = size([d for d in target if d != -1])
        if -1 in target:
            if n % known:
                raise ShapeError(f"cannot reshape {ins[0]} ({n} values) into {tuple(target)}: {n} is not divisible by {known}",
                                 "shape-size", field="target_shape")
            target[target.index(-1)] = n // known
        elif known != n:
            raise ShapeError(f"cannot reshape {ins[0]} ({n} values) into {tuple(target)} ({known} values)",
                             "shape-size", field="target_shape")
        return tuple(target)

    def label(self, a):
        return "reshape " + "×".join(str(d) for d in a.target_shape)

    keras_ops = ("Reshape",)                        # keras.ops.reshape(x, (batch, ...)) in a graph (MiT's)

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`keras.ops.reshape(x, newshape)` that keeps the batch axis: the first size None (the batch size
        read from the tensor) or -1 with every other size given — a reshape that folds the batch into
        another axis, or a fixed batch size, is none of archspec's."""
        shape = (cfg or {}).get("newshape")
        if n_tensors != 1 or consts or not isinstance(shape, (list, tuple)) or len(shape) < 2:
            return None
        first, rest = shape[0], list(shape[1:])
        if not all(isinstance(d, int) and not isinstance(d, bool) for d in rest):
            return None
        if first is None or (first == -1 and all(d > 0 for d in rest)):
            return {"target_shape": rest}
        return None

    def keras_kwargs(self, a):
        return dict(target_shape=a.target_shape)


class PermuteAttrs(Attrs):
    dims: tuple[Annotated[int, Field(ge=1)], ...] = Field(
        description="the new order of the axes, batch axis excluded, counted from 1 as in Keras: [2, 1] swaps "
                    "tokens and features")


@register
class Permute(Op):
    name, keras_class, Attrs, category, primary = "permute", "Permute", PermuteAttrs, "reshape", "dims"
    doc = ("Reorders the axes (keras.layers.Permute), e.g. `- permute: [2, 1]` turns (tokens, features) into "
           "(features, tokens) for MLP-Mixer's token mixing.")
    examples = [({"dims": [2, 1]}, [(5, 7)], (7, 5), (0, 0)),
                ({"dims": [3, 1, 2]}, [(4, 5, 6)], (6, 4, 5), (0, 0))]

    def infer(self, a, ins):
        rank = len(ins[0])
        if sorted(a.dims) != list(range(1, rank + 1)):
            raise ShapeError(f"dims {list(a.dims)} is not an order of the input's {rank} axes "
                             f"(1 to {rank}, each once; the batch axis stays first)", "shape-rank",
                             f"e.g. {list(range(rank, 0, -1))}", field="dims")
        return tuple(ins[0][d - 1] for d in a.dims)

    def label(self, a):
        return "permute " + ",".join(str(d) for d in a.dims)

    keras_ops = ("Transpose",)                      # keras.ops.transpose(x, axes) in a graph (attention heads)

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`keras.ops.transpose(x, axes)` that keeps the batch axis first (axes[0] == 0): the other axes, as
        Keras's Permute counts them (from 1)."""
        axes = (cfg or {}).get("axes")
        if n_tensors != 1 or consts or not isinstance(axes, (list, tuple)) or len(axes) < 2 or axes[0] != 0:
            return None
        if sorted(axes) != list(range(len(axes))):
            return None
        return {"dims": list(axes[1:])}

    def keras_kwargs(self, a):
        return dict(dims=a.dims)


def _pad4(v):
    """int | [sym_h, sym_w] | [[top, bottom], [left, right]] → ((t, b), (l, r))."""
    if isinstance(v, bool):
        raise ValueError("expected an integer or pairs of integers")
    if isinstance(v, int):
        return ((v, v), (v, v))
    if isinstance(v, (list, tuple)) and len(v) == 2:
        if all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return ((v[0], v[0]), (v[1], v[1]))
        if all(isinstance(x, (list, tuple)) and len(x) == 2 for x in v):
            return (tuple(v[0]), tuple(v[1]))
    raise ValueError("expected n, [h, w] or [[top, bottom], [left, right]]")


_NonNegPair = tuple[NonNegInt, NonNegInt]
Pad4 = Annotated[tuple[_NonNegPair, _NonNegPair], BeforeValidator(
    _pad4, json_schema_input_type=NonNegInt | _NonNegPair | tuple[_NonNegPair, _NonNegPair])]


class PaddingAttrs(Attrs):
    padding: Pad4 = ((1, 1), (1, 1))


@register
class ZeroPadding(Op):
    name, keras_class, Attrs, category, primary = "zero_padding", "ZeroPadding2D", PaddingAttrs, "reshape", "padding"
    unit_helper, abbrev = True, "pad"
    doc = "Pads height and width with zeros (keras.layers.ZeroPadding2D): `padding: 3` or `[[0, 1], [0, 1]]`."
    examples = [({}, [(4, 4, 3)], (6, 6, 3), (0, 0)), ({"padding": [[0, 1], [0, 1]]}, [(5, 5, 2)], (6, 6, 2), (0, 0)),
                ({"padding": 3}, [(4, 6, 1)], (10, 12, 1), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, "zero_padding")
        (t, b), (l, r) = a.padding
        h, w, c = ins[0]
        return (h + t + b, w + l + r, c)

    def label(self, a):
        (t, b), (l, r) = a.padding
        return f"pad {t}" if len({t, b, l, r}) == 1 else f"pad {t},{b},{l},{r}"

    def keras_kwargs(self, a):
        return dict(padding=a.padding)

    keras_ops = ("Pad",)                            # keras.ops.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]) in a graph

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        rows = _zero_pad_rows(n_tensors, consts, cfg, 4)
        return None if rows is None else {"padding": rows}


def _zero_pad_rows(n_tensors, consts, cfg, rank):
    """The padding of the data axes between the batch and the channels of `keras.ops.pad(x, pad_width)`
    on a rank-`rank` tensor (batch axis included), with zeros (mode "constant", no constant_values: a
    value given is a call keyword, refused by the reader), batch and channels not padded; else None.
    (zero_padding_1d reads a sequence's the same way, in its own from_keras_op.)"""
    width = (cfg or {}).get("pad_width")
    if (n_tensors != 1 or consts or (cfg or {}).get("mode", "constant") != "constant" or not isinstance(width, (list, tuple))
            or len(width) != rank or any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in width)):
        return None
    if list(width[0]) != [0, 0] or list(width[-1]) != [0, 0]:
        return None
    return [list(p) for p in width[1:-1]]


def _pad2(v):
    """int | [left, right] → (left, right)."""
    if isinstance(v, bool):
        raise ValueError("expected an integer or a pair of integers")
    if isinstance(v, int):
        return (v, v)
    return tuple(v) if isinstance(v, (list, tuple)) else v


Pad2 = Annotated[_NonNegPair, BeforeValidator(_pad2, json_schema_input_type=NonNegInt | _NonNegPair)]


class Padding1DAttrs(Attrs):
    padding: Pad2 = (1, 1)


@register
class ZeroPadding1D(Op):
    name, keras_class, Attrs, category, primary = "zero_padding_1d", "ZeroPadding1D", Padding1DAttrs, "reshape", "padding"
    unit_helper, abbrev = True, "pad"
    doc = ("Pads a sequence (steps, channels) with zero steps (keras.layers.ZeroPadding1D): `padding: 1` or "
           "`[left, right]`, e.g. Whisper's pad of 1 before its stride-2 convolution.")
    examples = [({}, [(6, 3)], (8, 3), (0, 0)), ({"padding": [0, 2]}, [(5, 2)], (7, 2), (0, 0))]
    keras_ops = ("Pad",)          # keras.ops.pad(x, [[0, 0], [1, 1], [0, 0]]) in a graph (KerasHub's Whisper Padder)

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`keras.ops.pad` of a sequence (batch, steps, channels) with zeros before and after the steps only."""
        cfg = cfg or {}
        width = cfg.get("pad_width")
        if n_tensors != 1 or cfg.get("mode", "constant") != "constant" or any(constant_value(c) not in (None, 0)
                                                                               for _, c in consts):
            return None
        try:
            (b0, b1), (left, right), (c0, c1) = [tuple(int(v) for v in p) for p in width]
        except (TypeError, ValueError):
            return None                                  # another rank, or one width for every axis
        if (b0, b1, c0, c1) != (0, 0, 0, 0) or min(left, right) < 0:
            return None
        return {"padding": (left, right)}

    def infer(self, a, ins):
        need_rank(ins, 2, "zero_padding_1d", "zero_padding pads images")
        return (ins[0][0] + sum(a.padding), ins[0][1])

    def label(self, a):
        left, right = a.padding
        return f"pad {left}" if left == right else f"pad {left},{right}"

    def keras_kwargs(self, a):
        return dict(padding=a.padding)


class CroppingAttrs(Attrs):
    cropping: Pad4 = ((0, 0), (0, 0))


@register
class Cropping(Op):
    name, keras_class, Attrs, category, primary = "cropping", "Cropping2D", CroppingAttrs, "reshape", "cropping"
    doc = "Crops height and width (keras.layers.Cropping2D)."
    examples = [({"cropping": 1}, [(6, 6, 3)], (4, 4, 3), (0, 0)),
                ({"cropping": [[0, 1], [2, 0]]}, [(5, 5, 2)], (4, 3, 2), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, "cropping")
        (t, b), (l, r) = a.cropping
        h, w, c = ins[0]
        if h - t - b < 1 or w - l - r < 1:
            raise ShapeError(f"cropping {a.cropping} removes the whole {h}×{w} input", "shape-empty", field="cropping")
        return (h - t - b, w - l - r, c)

    def label(self, a):
        return "crop"

    def keras_kwargs(self, a):
        return dict(cropping=a.cropping)


class Cropping1DAttrs(Attrs):
    cropping: Pad2 = Field((1, 1), description="steps removed: n from each end, or [start, end]")


@register
class Cropping1D(Op):
    name, keras_class, Attrs, category, primary = "cropping_1d", "Cropping1D", Cropping1DAttrs, "reshape", "cropping"
    doc = ("Removes steps from the ends of a sequence (steps, channels) (keras.layers.Cropping1D): `cropping: [1, 0]` "
           "drops the first token — a ViT's class token before its patch tokens become a map again (DepthAnything).")
    examples = [({}, [(6, 3)], (4, 3), (0, 0)), ({"cropping": [1, 0]}, [(17, 8)], (16, 8), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 2, "cropping_1d", "cropping crops images")
        start, end = a.cropping
        if ins[0][0] - start - end < 1:
            raise ShapeError(f"cropping_1d {a.cropping} removes the whole sequence of {ins[0][0]} steps", "shape-empty",
                             field="cropping")
        return (ins[0][0] - start - end, ins[0][1])

    def label(self, a):
        start, end = a.cropping
        return f"crop {start}" if start == end else f"crop {start},{end}"

    def keras_kwargs(self, a):
        return dict(cropping=a.cropping)


class UpsamplingAttrs(Attrs):
    size: Pair = (2, 2)
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"] = "nearest"


@register
class Upsampling(Op):
    name, keras_class, Attrs, category, primary = "upsampling", "UpSampling2D", UpsamplingAttrs, "reshape", "size"
    doc = "Repeats rows and columns (keras.layers.UpSampling2D)."
    examples = [({}, [(3, 4, 2)], (6, 8, 2), (0, 0)),
                ({"size": [2, 3], "interpolation": "bilinear"}, [(3, 3, 1)], (6, 9, 1), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, "upsampling")
        h, w, c = ins[0]
        return (h * a.size[0], w * a.size[1], c)

    def label(self, a):
        return f"upsample ×{a.size[0]}" if a.size[0] == a.size[1] else f"upsample {a.size[0]}×{a.size[1]}"

    def keras_kwargs(self, a):
        return dict(size=a.size, interpolation=a.interpolation)


class ResizeAttrs(Attrs):
    height: PosInt = Field(description="output rows")
    width: PosInt = Field(description="output columns")
    interpolation: Literal["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area"] = "bilinear"
    crop_to_aspect_ratio: bool = Field(False, description="crop the largest centred window of the output's aspect "
                                                          "ratio first (no distortion)")
    pad_to_aspect_ratio: bool = Field(False, description="pad with zeros to the output's aspect ratio first")
    antialias: bool = Field(False, description="anti-alias when downsampling")

    @model_validator(mode="after")
    def _one_ratio_rule(self):
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("crop_to_aspect_ratio and pad_to_aspect_ratio exclude each other (Keras takes one)")
        return self


@register
class Resize(Op):
    name, keras_class, Attrs, category = "resize", "Resizing", ResizeAttrs, "reshape"
    doc = ("Resizes a feature map to `height` × `width` by interpolation (keras.layers.Resizing): SegFormer and "
           "DepthAnything bring their features to one size so.")
    examples = [({"height": 8, "width": 6}, [(4, 4, 3)], (8, 6, 3), (0, 0)),
                ({"height": 2, "width": 2, "interpolation": "nearest", "crop_to_aspect_ratio": True}, [(5, 7, 1)],
                 (2, 2, 1), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, "resize")
        return (a.height, a.width, ins[0][2])

    def label(self, a):
        return f"resize {a.height}×{a.width}"

    def keras_kwargs(self, a):
        return a.model_dump()


class AlignedResizeAttrs(Attrs):
    height: PosInt = Field(description="output rows")
    width: PosInt = Field(description="output columns")


@register
class AlignedResize(Op):
    name, keras_class, Attrs, category = "resize_aligned", "AlignedResize", AlignedResizeAttrs, "reshape"
    custom_layer = True                            # archspec.ops.keras_layers.AlignedResize
    doc = ("Bilinear resize to `height` × `width` with the corner pixels aligned (output pixel i reads input "
           "position i·(n_in − 1)/(n_out − 1)): TensorFlow 1's resize(align_corners=True), PyTorch's "
           "interpolate(align_corners=True), as DepthAnything's neck and head interpolate — which Keras's Resizing "
           "(`resize`) does not do. archspec.ops.keras_layers.AlignedResize.")
    examples = [({"height": 8, "width": 6}, [(4, 4, 3)], (8, 6, 3), (0, 0)),
                ({"height": 3, "width": 3}, [(5, 7, 2)], (3, 3, 2), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, "resize_aligned")
        return (a.height, a.width, ins[0][2])

    flops_rule = ("3 per element of each pass (a + (b − a)·t: rows to height over the input's width, then columns "
                  "to width), + 2 per row and column index read (4 per output row and column: the lookups' wrap)")

    def extra_flops(self, a, ins, out):
        _, w, c = ins[0]
        return 3 * a.height * w * c + 3 * size(out) + 4 * (a.height + a.width)

    def label(self, a):
        return f"resize {a.height}×{a.width} (corners aligned)"

    def keras_kwargs(self, a):
        return dict(height=a.height, width=a.width)


class DropoutAttrs(Attrs):
    rate: float = Field(ge=0, lt=1, description="fraction of units dropped (not kept)")
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = Field(
        None, description="the random seed (Keras takes 0 to 2³²−1); null: a fresh one")


class NoiseDropoutAttrs(DropoutAttrs):
    noise_shape: tuple[Annotated[int, Field(ge=1)] | None, ...] | None = Field(
        None, description="shape of the keep/drop mask, batch axis included as in Keras; 1 shares one decision "
                          "along an axis, null takes the input's size: [null, 1, 1, 1] drops whole samples "
                          "(stochastic depth)")


def per_sample(a) -> bool:
    """Does this dropout drop whole samples (stochastic depth)?"""
    return a.noise_shape is not None and all(d == 1 for d in a.noise_shape[1:])


@register
class Dropout(Op):
    name, keras_class, Attrs, category, primary = "dropout", "Dropout", NoiseDropoutAttrs, "reg", "rate"
    dropout, transparent = True, True
    # the keep mask and the random bits it was drawn from, output-sized each (measured on XLA:CPU)
    residuals = 2
    doc = ("Randomly zeroes a fraction `rate` of activations while training (keras.layers.Dropout); "
           "`noise_shape: [null, 1, 1, 1]` drops whole samples (stochastic depth, as EfficientNet).")
    examples = [({"rate": 0.5}, [(10,)], (10,), (0, 0)),
                ({"rate": 0.25}, [(4, 4, 3)], (4, 4, 3), (0, 0)),
                ({"rate": 0.2, "noise_shape": [None, 1, 1, 1]}, [(4, 4, 3)], (4, 4, 3), (0, 0)),
                ({"rate": 0.1, "noise_shape": [None, 1, 6]}, [(5, 6)], (5, 6), (0, 0))]

    def infer(self, a, ins):
        if a.noise_shape is not None:
            shape = ins[0]
            if len(a.noise_shape) != len(shape) + 1:
                raise ShapeError(f"noise_shape {list(a.noise_shape)} has {len(a.noise_shape)} axes but the input "
                                 f"{shape} has {len(shape) + 1} (batch axis included)", "shape-rank",
                                 "write one entry per axis, the batch axis first: [null" + ", 1" * len(shape) + "]",
                                 field="noise_shape")
            for d, n in zip(a.noise_shape[1:], shape):
                if d is not None and d not in (1, n):
                    raise ShapeError(f"noise_shape {list(a.noise_shape)} does not broadcast to the input {shape}",
                                     "shape-mismatch", "each entry is 1, null or that axis's size",
                                     field="noise_shape")
        return ins[0]

    def label(self, a):
        return f"drop path {a.rate:g}" if per_sample(a) else f"dropout {a.rate:g}"

    def keras_kwargs(self, a):
        return dict(rate=a.rate, noise_shape=a.noise_shape, seed=a.seed)


@register
class SpatialDropout(Op):
    name, keras_class, Attrs, category, primary = "spatial_dropout", "SpatialDropout2D", DropoutAttrs, "reg", "rate"
    dropout, transparent = True, True
    keeps_output = True
    doc = "Drops whole feature maps (keras.layers.SpatialDropout2D)."
    examples = [({"rate": 0.2}, [(4, 4, 3)], (4, 4, 3), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, "spatial_dropout")
        return ins[0]

    def label(self, a):
        return f"spatial dropout {a.rate:g}"


class RescalingAttrs(Attrs):
    scale: float
    offset: float = 0.0


@register
class Rescaling(Op):
    name, keras_class, Attrs, category, primary = "rescaling", "Rescaling", RescalingAttrs, "reshape", "scale"
    scales_input, recomputable = True, True
    keras_ops = ("Add", "Multiply", "Subtract", "Divide", "TrueDivide")   # x + 3.0, x * (1 / 6) in a graph
    lambda_form = "`scale * x + offset`"
    doc = "x · scale + offset (keras.layers.Rescaling), e.g. `- rescaling: 0.00392156862745098` for 1/255."
    examples = [({"scale": 0.5}, [(4, 4, 3)], (4, 4, 3), (0, 0)), ({"scale": 2.0, "offset": -1.0}, [(5,)], (5,), (0, 0))]

    flops_rule = "2 per element (Keras multiplies and adds the offset, even when it is 0)"

    def extra_flops(self, a, ins, out):
        return 2 * size(out)  # Keras computes x·scale + offset even when the offset is 0: a Mul and an Add

    def label(self, a):
        return f"rescale ×{a.scale:.4g}" + (f" {a.offset:+g}" if a.offset else "")

    def from_keras(self, cfg, shapes):
        values = super().from_keras(cfg, shapes)
        for k in ("scale", "offset"):
            if isinstance(values.get(k), (list, tuple)):
                raise KerasImportError(f"its {k} is per channel {list(values[k])}; archspec's rescaling takes one number")
        return values

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`x + c`, `x * c`, `x - c`, `c - x`, `x / c` with one tensor and one number (or a scalar tensor)."""
        if n_tensors != 1 or len(consts) != 1:
            return None
        (pos, c), = consts
        c = constant_value(c)
        if not isinstance(c, (int, float)) or isinstance(c, bool):
            return None
        c, tensor_first = float(c), pos == 1
        if cls == "Add":
            return {"scale": 1.0, "offset": c}
        if cls == "Multiply":
            return {"scale": c, "offset": 0.0}
        if cls == "Subtract":
            return {"scale": 1.0, "offset": -c} if tensor_first else {"scale": -1.0, "offset": c}
        if cls in ("Divide", "TrueDivide") and c != 0 and tensor_first:
            return {"scale": 1.0 / c, "offset": 0.0}
        return None

    def probe_lambda(self, call, shapes):
        import numpy as np

        if len(shapes) != 1:
            return None
        x = np.random.default_rng(0).normal(size=(2,) + shapes[0]).astype("float32")
        out = np.asarray(call(x))
        o = float(np.mean(np.asarray(call(np.zeros_like(x)))))
        s = float(np.sum((out - o) * x) / np.sum(x * x))
        if out.shape == x.shape and np.allclose(out, s * x + o, rtol=1e-5, atol=1e-5):
            return {"scale": s, "offset": o}
        return None


class InputAttrs(Attrs):
    shape: tuple[Annotated[int, Field(ge=1)], ...]
    dtype: Literal["float32", "float16", "bfloat16", "int32", "uint8", "bool"] = "float32"


@register
class Input(Op):
    """Not written as a layer entry: created from the spec's `inputs:`."""

    name, keras_class, Attrs, category, arity = "input", "InputLayer", InputAttrs, "io", (0, 0)
    roles, source = ("input",), True
    doc = "A model input; declared under `inputs:`, not as a layer."
    internal = True

    def infer(self, a, ins):
        return tuple(a.shape)

    def label(self, a):
        return "input" if a.dtype == "float32" else f"input · {a.dtype}"

    def makes_mask(self, a):
        return a.dtype == "bool"

    def build_keras(self, a, name):
        """The symbolic input tensor (keras.Input), not a layer."""
        import keras

        return keras.Input(shape=tuple(a.shape), dtype=a.dtype, name=name)

    def from_keras(self, cfg, shapes):
        shape = tuple(cfg["batch_shape"][1:])
        if any(d is None for d in shape) or not 1 <= len(shape) <= 4:
            raise KerasImportError(f"its shape {shape} is not fixed; archspec specs have static shapes — rebuild the "
                                   "model with a fixed input shape (input_shape=..., or --arg input_shape=[224,224,3])")
        dtype = cfg.get("dtype", "float32")
        dtype = dtype if isinstance(dtype, str) else dtype.get("config", {}).get("name", "float32")
        allowed = self.Attrs.model_fields["dtype"].annotation.__args__
        if dtype not in allowed:
            raise KerasImportError(f"its dtype {dtype} is not one of {', '.join(allowed)}")
        return {"shape": shape, "dtype": dtype}
