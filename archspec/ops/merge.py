"""Merges of several tensors: concat, add, subtract, multiply, average, maximum, minimum, scaled_add."""
from __future__ import annotations

from .base import Attrs, Op, ShapeError, shape_axis
from .registry import register
from .shapes import broadcast, size


def _fmt(shapes):
    return " and ".join(str(s) for s in shapes) if len(shapes) == 2 else ", ".join(str(s) for s in shapes)


class ConcatAttrs(Attrs):
    axis: int = -1


@register
class Concat(Op):
    name, keras_class, Attrs, category, arity = "concat", "Concatenate", ConcatAttrs, "merge", (2, None)
    branch_merge, roles = True, ("default_merge",)
    view = True
    doc = "Concatenation along `axis` (default: channels), as keras.layers.Concatenate."
    examples = [({}, [(4, 4, 3), (4, 4, 5)], (4, 4, 8), (0, 0)), ({}, [(6,), (2,), (3,)], (11,), (0, 0)),
                ({"axis": 1}, [(2, 4, 3), (5, 4, 3)], (7, 4, 3), (0, 0))]

    def infer(self, a, ins):
        rank = len(ins[0])
        if any(len(s) != rank for s in ins):
            raise ShapeError(f"concat joins tensors of different ranks: {_fmt(ins)}", "shape-rank")
        axis = shape_axis(a.axis, rank)        # Keras counts the batch axis: -1 or `rank` is the last
        if axis is None:
            raise ShapeError(f"axis {a.axis} is out of range for rank-{rank + 1} inputs (batch axis included, "
                             "as in Keras)", "shape-rank", field="axis")
        for s in ins[1:]:
            if any(s[i] != ins[0][i] for i in range(rank) if i != axis):
                what = "spatial sizes" if rank == 3 and axis == 2 else "shapes off the concat axis"
                raise ShapeError(f"concat joins {_fmt(ins)}: their {what} differ", "shape-mismatch",
                                 "every path must downsample by the same amount; check strides and 'valid' padding")
        return tuple(sum(s[i] for s in ins) if i == axis else ins[0][i] for i in range(rank))

    keras_ops = ("Concatenate",)                    # keras.ops.concatenate([a, b], axis=...) in a graph

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`keras.ops.concatenate` of two or more tensors, its axis counted as Keras counts it."""
        axis = (cfg or {}).get("axis", 0)
        if n_tensors < 2 or consts or not isinstance(axis, int) or isinstance(axis, bool) or axis == 0:
            return None                                  # axis 0 joins samples (the batch): not an archspec concat
        return {"axis": axis}

    def fused_into_readers(self, platform):
        """XLA:GPU fuses a concatenation into the batch norm or activation that reads it, forward and backward,
        and keeps the pieces (measured in DenseNet-121's buffer assignment on an H200 target); XLA:CPU
        stores the concatenation for an element-wise backward (float32 under a mixed policy)."""
        return platform != "cpu"

    def label(self, a):
        return "concat"

    def keras_kwargs(self, a):
        return dict(axis=a.axis)


class NoAttrs(Attrs):
    pass


class _Elementwise(Op):
    Attrs, category, arity, branch_merge = NoAttrs, "merge", (2, None), True
    recomputable = True       # XLA recomputes a sum or product inside a backward fusion rather than keep it
    symbol = ""
    examples = [({}, [(4, 4, 3), (4, 4, 3)], (4, 4, 3), (0, 0)), ({}, [(4, 4, 3), (1, 1, 3)], (4, 4, 3), (0, 0))]

    @property
    def keras_ops(self):                                # keras.ops.add(a, b) in a functional graph
        return (self.keras_class,)

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        return {} if n_tensors >= 2 and not consts else None

    def infer(self, a, ins):
        out = broadcast(ins)
        if out is None or any(len(s) != len(ins[0]) for s in ins):
            raise ShapeError(f"{self.name} joins {_fmt(ins)}", "shape-mismatch",
                             "element-wise merges need equal shapes (or 1 where broadcasting is meant)")
        return out

    flops_rule = "(n − 1) per output element for n inputs"

    def extra_flops(self, a, ins, out):
        return (len(ins) - 1) * size(out)

    def label(self, a):
        return self.name

    def keras_kwargs(self, a):
        return {}


@register
class Add(_Elementwise):
    name, keras_class, roles = "add", "Add", ("residual_add",)
    doc = "Element-wise sum (keras.layers.Add)."


@register
class Subtract(_Elementwise):
    name, keras_class, arity, branch_merge = "subtract", "Subtract", (2, 2), False
    doc = "Element-wise difference of exactly two inputs (keras.layers.Subtract)."


@register
class Multiply(_Elementwise):
    keeps_inputs = True      # each input's gradient reads the other inputs
    name, keras_class = "multiply", "Multiply"
    doc = "Element-wise product (keras.layers.Multiply), e.g. squeeze-and-excitation gating."


@register
class Average(_Elementwise):
    name, keras_class = "average", "Average"
    doc = "Element-wise mean (keras.layers.Average)."

    flops_rule = "n per output element for n inputs (n − 1 adds and a division)"

    def extra_flops(self, a, ins, out):
        return len(ins) * size(out)


@register
class Maximum(_Elementwise):
    keeps_inputs = True      # the gradient goes to the selected input
    name, keras_class = "maximum", "Maximum"
    doc = "Element-wise maximum (keras.layers.Maximum)."


@register
class Minimum(_Elementwise):
    keeps_inputs = True      # the gradient goes to the selected input
    name, keras_class = "minimum", "Minimum"
    doc = "Element-wise minimum (keras.layers.Minimum)."


class ScaledAddAttrs(Attrs):
    scale: float = 1.0


@register
class ScaledAdd(Op):
    name, keras_class, Attrs, category, arity, primary = "scaled_add", "ScaledAdd", ScaledAddAttrs, "merge", (2, 2), "scale"
    recomputable = True
    roles, custom_layer = ("scaled_residual",), True
    keras_classes = ("ScaledAdd", "CustomScaleLayer")   # keras.applications' Inception-ResNet-v2 layer
    lambda_form = "`x[0] + scale * x[1]` (a scaled residual)"
    doc = ("`inputs[0] + scale · inputs[1]`: the scaled residual of Inception-ResNet "
           "(archspec.ops.keras_layers.ScaledAdd, a registered serializable Keras layer).")
    examples = [({"scale": 0.17}, [(4, 4, 3), (4, 4, 3)], (4, 4, 3), (0, 0))]

    def infer(self, a, ins):
        if ins[0] != ins[1]:
            raise ShapeError(f"scaled add joins {_fmt(ins)}", "shape-mismatch")
        return ins[0]

    flops_rule = "2 per element (x + s·y)"

    def extra_flops(self, a, ins, out):
        return 2 * size(out)

    def label(self, a):
        return f"add ×{a.scale:g}"

    def probe_lambda(self, call, shapes):
        import numpy as np

        if len(shapes) != 2 or shapes[0] != shapes[1]:
            return None
        rng = np.random.default_rng(0)
        for _ in range(2):
            a, b = (rng.normal(size=(2,) + shapes[0]).astype("float32") for _ in range(2))
            out = np.asarray(call([a, b]))
            s = float(np.sum((out - a) * b) / np.sum(b * b))
            if out.shape != a.shape or not np.allclose(out, a + s * b, rtol=1e-5, atol=1e-5):
                return None
        s = float(np.float32(s))
        return {"scale": round(s, 6) if abs(s - round(s, 6)) < 1e-7 else s}
