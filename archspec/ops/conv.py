"""Convolutions: conv2d, depthwise_conv2d, separable_conv2d, conv2d_transpose; conv1d over sequences."""
from __future__ import annotations

from .base import (
    WEIGHTED_FLOPS,
    ActivationName,
    Attrs,
    Field,
    NonNegPair,
    One,
    Op,
    Padding,
    Padding1D,
    Pair,
    PosInt,
    ShapeError,
    act_flops,
    bias_flops,
    keras_activation,
    kxk,
    need_rank,
    unpack_ones,
)
from .registry import register
from .shapes import conv_length, effective_kernel, size, transpose_length


def _spatial(op: str, ins, kernel, strides, padding, dilation):
    need_rank(ins, 3, op, "add a reshape, or use dense for flat vectors")
    h, w, _ = ins[0]
    oh = conv_length(h, kernel[0], strides[0], padding, dilation[0])
    ow = conv_length(w, kernel[1], strides[1], padding, dilation[1])
    if oh is None or ow is None:
        ek = (effective_kernel(kernel[0], dilation[0]), effective_kernel(kernel[1], dilation[1]))
        raise ShapeError(f"{op} with a {kxk(ek)} window and padding 'valid' does not fit its {h}×{w} input",
                         "shape-empty", "use padding: same, a smaller kernel, or remove an earlier downsampling step",
                         field="kernel")
    return oh, ow


def _stride_label(strides):
    return "" if strides == (1, 1) else (f" /{strides[0]}" if strides[0] == strides[1] else f" /{strides[0]}×{strides[1]}")


def _check_dilation(a):
    """Keras's Conv2D and Conv2DTranspose refuse strides > 1 with dilation > 1 (on any axes: its test is
    max(strides) > 1 and max(dilation_rate) > 1); DepthwiseConv2D and SeparableConv2D build and run it."""
    if a.dilation != (1, 1) and a.strides != (1, 1):
        raise ShapeError("Keras does not allow strides > 1 together with dilation > 1", "schema",
                         "use either strides or dilation", field="dilation")


class KernelAttrs(Attrs):
    """What every convolution shares."""

    kernel: Pair
    strides: Pair = (1, 1)
    padding: Padding = "valid"
    dilation: Pair = (1, 1)
    use_bias: bool = True
    activation: ActivationName | None = None


SMALL_WINDOW = 20        # XLA:CPU's dense filter gradient: k² + 20 multiply-accumulates' time per k² (executed_flops)


class _Conv(Op):
    """Shared by the convolutions: FLOPs beyond the MACs, the sliding window, common Keras kwargs."""

    category, window, weighted = "conv", True, True
    keras_names = {"kernel": "kernel_size", "dilation": "dilation_rate"}
    flops_rule = WEIGHTED_FLOPS

    def extra_flops(self, a, ins, out):
        return bias_flops(a.use_bias, out) + act_flops(a.activation, out)

    def grouped_filter(self, a, ins, out) -> tuple[int, int, int] | None:
        """(window elements, input × output channels of the dense filter, of the grouped filter) when the
        convolution is grouped (depthwise, groups > 1); None for a dense one."""
        return None

    def kernel_family(self, a, ins, out):
        return "matmul" if self.grouped_filter(a, ins, out) is None else "depthwise"

    def executed_flops(self, a, ins, out, platform, input_grad=True):
        """On XLA:CPU a grouped convolution's filter gradient is a dense convolution (every input channel
        against every output channel, backward_scratch): C_in / groups times the multiply-accumulates the
        op needs, at a rate of its own (batch as the contracted dimension: the "depthwise" efficiency)."""
        work = super().executed_flops(a, ins, out, platform, input_grad)
        g = self.grouped_filter(a, ins, out)
        if platform != "cpu" or g is None:
            return work
        window, channels, grouped = g
        positions = size(out) // out[-1]
        dense = 2 * positions * window * channels               # every output position × the dense filter
        filter_grad = 2 * positions * window * grouped          # what backward_flops counts for it
        # that convolution's output is the k×k window: a small one reuses little of what it loads (measured
        # per layer, bench/op_time_bench.py: a 3×3 runs at ~40% of a 7×7's rate), as (1 + 20 / k²) more work
        dense = dense * (window + SMALL_WINDOW) // window
        return {"depthwise": work["depthwise"] - filter_grad + dense}

    def backward_scratch(self, a, ins, out, platform):
        """On XLA:CPU a grouped convolution's filter gradient is computed densely — a (k, k, C_in, C_out)
        result, then a copy selecting the groups' diagonal blocks, both alive at once: two dense filters
        (EfficientNet-B0's last 5×5 depthwise over 1,152 channels: 2 × 126.6 MiB at any batch, ConvNeXt-Tiny's
        7×7 over 768: 2 × 110.3 MiB; XLA's buffer assignment of the compiled step). A GPU's cuDNN computes
        the grouped gradient directly."""
        g = self.grouped_filter(a, ins, out)
        if platform != "cpu" or g is None:
            return 0, 0
        window, channels, _ = g
        return 0, 2 * window * channels

    def window_size(self, a):
        return tuple(effective_kernel(k, d) for k, d in zip(a.kernel, a.dilation))

    def keras_kwargs(self, a):
        return dict(kernel_size=a.kernel, strides=a.strides, padding=a.padding, dilation_rate=a.dilation,
                    use_bias=a.use_bias, activation=keras_activation(a.activation))


# registered before conv2d: a misspelt `conv` is told 'did you mean conv2d' (the later of equal matches)
class Conv1DAttrs(Attrs):
    filters: PosInt
    kernel: One
    strides: One = 1
    padding: Padding1D = Field("valid", description="valid, same, or causal (zeros on the left only: step t sees "
                                                    "steps ≤ t, WaveNet's and TCN's convolution)")
    dilation: One = 1
    groups: PosInt = 1
    use_bias: bool = True
    activation: ActivationName | None = None


@register
class Conv1D(_Conv):
    name, keras_class, Attrs = "conv1d", "Conv1D", Conv1DAttrs
    doc = ("1-D convolution over a sequence (steps, channels), keras.layers.Conv1D: Whisper's audio stem, "
           "WaveNet/TCN stacks (`padding: causal`, `dilation`), grouped 1-D convolutions.")
    examples = [({"filters": 8, "kernel": 3}, [(10, 4)], (8, 8), (104, 0)),
                ({"filters": 6, "kernel": 3, "strides": 2, "padding": "same", "use_bias": False}, [(9, 5)], (5, 6), (90, 0)),
                ({"filters": 4, "kernel": 2, "dilation": 4, "padding": "causal"}, [(16, 4)], (16, 4), (36, 0)),
                ({"filters": 8, "kernel": 5, "groups": 2, "padding": "same", "activation": "gelu"}, [(7, 6)], (7, 8), (128, 0))]

    def infer(self, a, ins):
        need_rank(ins, 2, "conv1d", "conv2d reads images; for a flat vector add `- reshape: [-1, 1]`")
        if a.dilation != 1 and a.strides != 1:
            raise ShapeError("Keras does not allow strides > 1 together with dilation > 1", "schema",
                             "use either strides or dilation", field="dilation")
        n, c = ins[0]
        if c % a.groups or a.filters % a.groups:
            raise ShapeError(f"groups={a.groups} must divide both the input channels ({c}) and filters ({a.filters})",
                             "shape-mismatch", field="groups")
        out = conv_length(n, a.kernel, a.strides, "same" if a.padding == "causal" else a.padding, a.dilation)
        if out is None:
            raise ShapeError(f"conv1d with a {effective_kernel(a.kernel, a.dilation)}-step window and padding 'valid' "
                             f"does not fit its {n} steps", "shape-empty",
                             "use padding: same or causal, a smaller kernel, or less downsampling before it", field="kernel")
        return (out, a.filters)

    def params(self, a, ins, out):
        return (a.kernel * (ins[0][1] // a.groups) * a.filters + (a.filters if a.use_bias else 0), 0)

    macs_rule = "`L'·filters · k·(Cin/groups)` (L' output steps; causal padding as `same`)"

    def macs(self, a, ins, out):
        return size(out) * a.kernel * (ins[0][1] // a.groups)

    def grouped_filter(self, a, ins, out):
        return (a.kernel, ins[0][1] * a.filters, ins[0][1] // a.groups * a.filters) if a.groups > 1 else None

    def window_size(self, a):
        return (effective_kernel(a.kernel, a.dilation),)

    def label(self, a):
        parts = [f"conv1d {a.kernel}" + (f" /{a.strides}" if a.strides > 1 else "")
                 + (f" d{a.dilation}" if a.dilation > 1 else ""), str(a.filters) + (f" g{a.groups}" if a.groups > 1 else "")]
        return " · ".join(parts + (["causal"] if a.padding == "causal" else []))

    def keras_config(self, cfg, shapes):
        return unpack_ones(cfg, ("kernel_size", "strides", "dilation_rate"))

    def keras_kwargs(self, a):
        return dict(filters=a.filters, kernel_size=a.kernel, strides=a.strides, padding=a.padding,
                    dilation_rate=a.dilation, groups=a.groups, use_bias=a.use_bias, activation=keras_activation(a.activation))


class ConvAttrs(KernelAttrs):
    filters: PosInt
    groups: PosInt = 1


@register
class Conv2D(_Conv):
    name, keras_class, Attrs, abbrev = "conv2d", "Conv2D", ConvAttrs, "conv"
    doc = "2-D convolution (keras.layers.Conv2D). `kernel` may be non-square: [1, 7]."
    examples = [({"filters": 8, "kernel": 3}, [(9, 9, 3)], (7, 7, 8), (224, 0)),
                ({"filters": 8, "kernel": [1, 7], "padding": "same", "use_bias": False}, [(9, 9, 4)], (9, 9, 8), (224, 0)),
                ({"filters": 6, "kernel": 3, "strides": 2, "padding": "same"}, [(9, 8, 3)], (5, 4, 6), (168, 0)),
                ({"filters": 4, "kernel": 3, "dilation": 2}, [(11, 11, 2)], (7, 7, 4), (76, 0)),
                ({"filters": 8, "kernel": 3, "groups": 2, "padding": "same"}, [(6, 6, 4)], (6, 6, 8), (152, 0))]

    def infer(self, a, ins):
        _check_dilation(a)
        oh, ow = _spatial("conv2d", ins, a.kernel, a.strides, a.padding, a.dilation)
        c = ins[0][2]
        if c % a.groups or a.filters % a.groups:
            raise ShapeError(f"groups={a.groups} must divide both the input channels ({c}) and filters ({a.filters})",
                             "shape-mismatch", field="groups")
        return (oh, ow, a.filters)

    def params(self, a, ins, out):
        c = ins[0][2]
        return (a.kernel[0] * a.kernel[1] * (c // a.groups) * a.filters + (a.filters if a.use_bias else 0), 0)

    macs_rule = "`H'·W'·filters · kh·kw·(Cin/groups)`"

    def macs(self, a, ins, out):
        return size(out) * a.kernel[0] * a.kernel[1] * (ins[0][2] // a.groups)

    def grouped_filter(self, a, ins, out):
        w = a.kernel[0] * a.kernel[1]
        return (w, ins[0][2] * a.filters, ins[0][2] // a.groups * a.filters) if a.groups > 1 else None

    def label(self, a):
        g = f" g{a.groups}" if a.groups > 1 else ""
        return f"conv {kxk(a.kernel)}{_stride_label(a.strides)} · {a.filters}{g}"

    def keras_kwargs(self, a):
        return dict(filters=a.filters, groups=a.groups, **super().keras_kwargs(a))


class DepthwiseAttrs(KernelAttrs):
    depth_multiplier: PosInt = 1


@register
class DepthwiseConv2D(_Conv):
    name, keras_class, Attrs, abbrev = "depthwise_conv2d", "DepthwiseConv2D", DepthwiseAttrs, "dwconv"
    doc = "Depthwise 2-D convolution (keras.layers.DepthwiseConv2D): one filter per input channel."
    examples = [({"kernel": 3}, [(9, 9, 4)], (7, 7, 4), (40, 0)),
                ({"kernel": 3, "strides": 2, "padding": "same", "depth_multiplier": 2, "use_bias": False}, [(9, 9, 3)],
                 (5, 5, 6), (54, 0)),
                ({"kernel": 3, "strides": 2, "dilation": 2}, [(9, 9, 2)], (3, 3, 2), (20, 0))]

    def infer(self, a, ins):
        oh, ow = _spatial("depthwise_conv2d", ins, a.kernel, a.strides, a.padding, a.dilation)
        return (oh, ow, ins[0][2] * a.depth_multiplier)

    def params(self, a, ins, out):
        cm = ins[0][2] * a.depth_multiplier
        return (a.kernel[0] * a.kernel[1] * cm + (cm if a.use_bias else 0), 0)

    macs_rule = "`H'·W'·Cin·m · kh·kw` (m: depth_multiplier)"

    def macs(self, a, ins, out):
        return size(out) * a.kernel[0] * a.kernel[1]

    def grouped_filter(self, a, ins, out):
        return a.kernel[0] * a.kernel[1], ins[0][2] * out[2], out[2]

    def label(self, a):
        m = f" ×{a.depth_multiplier}" if a.depth_multiplier > 1 else ""
        return f"dwconv {kxk(a.kernel)}{_stride_label(a.strides)}{m}"

    def keras_kwargs(self, a):
        return dict(depth_multiplier=a.depth_multiplier, **super().keras_kwargs(a))


class SeparableAttrs(KernelAttrs):
    filters: PosInt
    depth_multiplier: PosInt = 1


@register
class SeparableConv2D(_Conv):
    name, keras_class, Attrs, abbrev = "separable_conv2d", "SeparableConv2D", SeparableAttrs, "sepconv"
    doc = "Depthwise then pointwise convolution (keras.layers.SeparableConv2D)."
    examples = [({"filters": 8, "kernel": 3}, [(9, 9, 4)], (7, 7, 8), (76, 0)),
                ({"filters": 6, "kernel": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}, [(8, 8, 3)],
                 (4, 4, 6), (96, 0)),
                ({"filters": 4, "kernel": 3, "strides": 2, "dilation": 2, "padding": "same"}, [(9, 9, 2)], (5, 5, 4),
                 (30, 0))]

    def infer(self, a, ins):
        oh, ow = _spatial("separable_conv2d", ins, a.kernel, a.strides, a.padding, a.dilation)
        return (oh, ow, a.filters)

    def params(self, a, ins, out):
        cm = ins[0][2] * a.depth_multiplier
        return (a.kernel[0] * a.kernel[1] * cm + cm * a.filters + (a.filters if a.use_bias else 0), 0)

    macs_rule = "the depthwise part `H'·W'·Cin·m · kh·kw` + the pointwise part `H'·W'·Cin·m·filters`"

    def macs(self, a, ins, out):
        cm = ins[0][2] * a.depth_multiplier
        return out[0] * out[1] * cm * (a.kernel[0] * a.kernel[1] + a.filters)

    def grouped_filter(self, a, ins, out):          # its depthwise half
        cm = ins[0][2] * a.depth_multiplier
        return a.kernel[0] * a.kernel[1], ins[0][2] * cm, cm

    def label(self, a):
        return f"sepconv {kxk(a.kernel)}{_stride_label(a.strides)} · {a.filters}"

    def keras_kwargs(self, a):
        return dict(filters=a.filters, depth_multiplier=a.depth_multiplier, **super().keras_kwargs(a))


class TransposeAttrs(KernelAttrs):
    filters: PosInt
    output_padding: NonNegPair | None = None


@register
class Conv2DTranspose(_Conv):
    name, keras_class, Attrs, window, abbrev = "conv2d_transpose", "Conv2DTranspose", TransposeAttrs, False, "deconv"
    doc = "Transposed ('de-') convolution (keras.layers.Conv2DTranspose); upsamples by `strides`."
    examples = [({"filters": 4, "kernel": 3, "strides": 2, "padding": "same"}, [(5, 5, 3)], (10, 10, 4), (112, 0)),
                ({"filters": 4, "kernel": 3, "strides": 2}, [(5, 6, 3)], (11, 13, 4), (112, 0)),
                ({"filters": 2, "kernel": 3, "strides": 2, "padding": "same", "output_padding": 1}, [(4, 4, 2)],
                 (8, 8, 2), (38, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, "conv2d_transpose")
        _check_dilation(a)
        if a.output_padding is not None and any(p >= s for p, s in zip(a.output_padding, a.strides)):
            raise ShapeError(f"output_padding {a.output_padding} must be smaller than strides {a.strides}",
                             "schema", field="output_padding")
        h, w, _ = ins[0]
        op = a.output_padding or (None, None)
        oh = transpose_length(h, a.kernel[0], a.strides[0], a.padding, op[0], a.dilation[0])
        ow = transpose_length(w, a.kernel[1], a.strides[1], a.padding, op[1], a.dilation[1])
        if oh < 1 or ow < 1:
            raise ShapeError(f"conv2d_transpose produces an empty {oh}×{ow} output", "shape-empty")
        return (oh, ow, a.filters)

    def params(self, a, ins, out):
        return (a.kernel[0] * a.kernel[1] * ins[0][2] * a.filters + (a.filters if a.use_bias else 0), 0)

    macs_rule = "`H·W·Cin · kh·kw·filters` (every input pixel scatters a kernel)"

    def macs(self, a, ins, out):
        return size(ins[0]) * a.kernel[0] * a.kernel[1] * a.filters

    def label(self, a):
        return f"deconv {kxk(a.kernel)}{_stride_label(a.strides).replace('/', '×')} · {a.filters}"

    def keras_kwargs(self, a):
        return dict(filters=a.filters, output_padding=a.output_padding, **super().keras_kwargs(a))

