"""Pooling: max_pool, avg_pool (strides default to the pool size, as in Keras), global pools; max_pool_1d and
avg_pool_1d over sequences (the global 1-D pools are in tokens.py)."""
from __future__ import annotations

from .base import Attrs, One, Op, Padding, Pair, ShapeError, kxk, need_rank, unpack_ones
from .registry import register
from .shapes import conv_length, size


class PoolAttrs(Attrs):
    pool_size: Pair = (2, 2)
    strides: Pair | None = None
    padding: Padding = "valid"

    @property
    def step(self):
        return self.strides or self.pool_size


class _Pool(Op):
    Attrs, category, window, primary = PoolAttrs, "pool", True, "pool_size"
    kind = ""
    examples = [({}, [(9, 9, 3)], (4, 4, 3), (0, 0)), ({"pool_size": 3, "strides": 2}, [(9, 9, 3)], (4, 4, 3), (0, 0)),
                ({"pool_size": 3, "strides": 2, "padding": "same"}, [(8, 7, 2)], (4, 4, 2), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, self.name)
        h, w, c = ins[0]
        oh = conv_length(h, a.pool_size[0], a.step[0], a.padding)
        ow = conv_length(w, a.pool_size[1], a.step[1], a.padding)
        if oh is None or ow is None:
            raise ShapeError(f"{self.name} {kxk(a.pool_size)} with padding 'valid' does not fit its {h}×{w} input",
                             "shape-empty", "use padding: same or a smaller pool_size", field="pool_size")
        return (oh, ow, c)

    flops_rule = "the window size per output element (padding included, as TF counts it)"

    def extra_flops(self, a, ins, out):
        return size(out) * a.pool_size[0] * a.pool_size[1]

    def window_size(self, a):
        return a.pool_size

    def label(self, a):
        s = "" if a.step == a.pool_size else f" /{a.step[0]}" if a.step[0] == a.step[1] else f" /{kxk(a.step)}"
        return f"{self.kind} pool {kxk(a.pool_size)}{s}"

    def keras_kwargs(self, a):
        return dict(pool_size=a.pool_size, strides=a.step, padding=a.padding)

    def from_keras(self, cfg, shapes):
        values = super().from_keras(cfg, shapes)
        if values.get("strides") == values.get("pool_size"):
            values.pop("strides")                        # the default: strides follow the pool size
        return values


@register
class MaxPool(_Pool):
    name, keras_class, kind = "max_pool", "MaxPooling2D", "max"
    keeps_inputs, keeps_output = True, True    # the gradient goes to the arg-max of each window
    doc = "2-D max pooling (keras.layers.MaxPooling2D); `strides` defaults to `pool_size`."

    def workspace(self, a, ins, out, platform):
        """Four input-sized buffers on XLA:CPU, which lowers the gradient through select-and-scatter with
        index arrays and a padded copy of the input kept from the forward pass (measured 4-5 per pool for
        2×2/2, 3×3/2 and 3×3/1). None on a GPU: its one buffer is `backward_scratch`."""
        return 4 * size(ins[0]) if platform == "cpu" else 0

    def backward_scratch(self, a, ins, out, platform):
        """On a GPU the select-and-scatter's output, the gradient of the padded input: a zero-filled buffer
        (`loop_broadcast_fusion` in the buffer assignment of a deviceless H200 compile) alive at least while
        this backward step runs. XLA:GPU allocated those of a chain of max pools all at the start of the
        backward pass (conv → batch norm → relu → max pool 3×3/1 'same' repeated: 4.17 tensors per block in
        float32, 4.26 under mixed_bfloat16, against 3 without them; the padded 34×34 input of a 32×32 one is
        1.13 tensors), but ResNet-50's stem pool's not before the step's peak (mid-backward at batch 32): counted
        at its own step only. XLA:CPU's buffers are `workspace`."""
        if platform == "cpu":
            return 0, 0
        h, w, c = ins[0]
        if a.padding == "same":
            h = max(h, (out[0] - 1) * a.step[0] + a.pool_size[0])
            w = max(w, (out[1] - 1) * a.step[1] + a.pool_size[1])
        return h * w * c, 0


@register
class AvgPool(_Pool):
    name, keras_class, kind = "avg_pool", "AveragePooling2D", "avg"
    doc = "2-D average pooling (keras.layers.AveragePooling2D); `strides` defaults to `pool_size`."


class GlobalPoolAttrs(Attrs):
    keepdims: bool = False


class _GlobalPool(Op):
    Attrs, category = GlobalPoolAttrs, "pool"
    kind = ""
    examples = [({}, [(5, 6, 3)], (3,), (0, 0)), ({"keepdims": True}, [(5, 5, 4)], (1, 1, 4), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, self.name)
        c = ins[0][2]
        return (1, 1, c) if a.keepdims else (c,)

    flops_rule = "1 per input element"

    def extra_flops(self, a, ins, out):
        return size(ins[0])

    def label(self, a):
        return f"global {self.kind} pool"


@register
class GlobalMaxPool(_GlobalPool):
    keeps_inputs, keeps_output = True, True
    name, keras_class, kind = "global_max_pool", "GlobalMaxPooling2D", "max"
    doc = "Maximum over height and width (keras.layers.GlobalMaxPooling2D)."


@register
class GlobalAvgPool(_GlobalPool):
    name, keras_class, kind = "global_avg_pool", "GlobalAveragePooling2D", "avg"
    doc = "Mean over height and width (keras.layers.GlobalAveragePooling2D)."
    keras_ops = ("Mean",)            # keras.ops.mean(x, axis=[1, 2], keepdims=...) in a graph (MobileNet's SE)

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`keras.ops.mean(x, axis=[1, 2])` (or [-3, -2]) of one tensor: the mean over height and width when
        the input is an image — the rank-3 shape rule refuses any other input, where those axes mean
        something else."""
        cfg = cfg or {}
        axis = cfg.get("axis")
        if n_tensors != 1 or consts or not isinstance(axis, (list, tuple)) or tuple(axis) not in ((1, 2), (-3, -2)):
            return None
        return {"keepdims": bool(cfg.get("keepdims", False))}


class Pool1DAttrs(Attrs):
    pool_size: One = 2
    strides: One | None = None
    padding: Padding = "valid"

    @property
    def step(self):
        return self.strides or self.pool_size


class _Pool1D(_Pool):
    Attrs = Pool1DAttrs
    examples = [({}, [(9, 3)], (4, 3), (0, 0)), ({"pool_size": 3, "strides": 2}, [(9, 3)], (4, 3), (0, 0)),
                ({"pool_size": 3, "strides": 2, "padding": "same"}, [(8, 2)], (4, 2), (0, 0))]

    def infer(self, a, ins):
        need_rank(ins, 2, self.name, "max_pool / avg_pool pool images; for a vector add `- reshape: [-1, 1]`")
        n, c = ins[0]
        out = conv_length(n, a.pool_size, a.step, a.padding)
        if out is None:
            raise ShapeError(f"{self.name} of {a.pool_size} steps with padding 'valid' does not fit its {n} steps",
                             "shape-empty", "use padding: same or a smaller pool_size", field="pool_size")
        return (out, c)

    def extra_flops(self, a, ins, out):
        return size(out) * a.pool_size

    def window_size(self, a):
        return (a.pool_size,)

    def keras_config(self, cfg, shapes):
        return unpack_ones(cfg, ("pool_size", "strides"))

    def label(self, a):
        return f"{self.kind} pool1d {a.pool_size}" + ("" if a.step == a.pool_size else f" /{a.step}")


@register
class MaxPool1D(_Pool1D):
    name, keras_class, kind = "max_pool_1d", "MaxPooling1D", "max"
    keeps_inputs, keeps_output = True, True    # the gradient goes to the arg-max of each window
    doc = "1-D max pooling over a sequence (keras.layers.MaxPooling1D); `strides` defaults to `pool_size`."


@register
class AvgPool1D(_Pool1D):
    name, keras_class, kind = "avg_pool_1d", "AveragePooling1D", "avg"
    doc = "1-D average pooling over a sequence (keras.layers.AveragePooling1D); `strides` defaults to `pool_size`."
