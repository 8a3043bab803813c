"""Normalization: batch_norm, layer_norm."""
from __future__ import annotations

from pydantic import Field

from . import register
from .base import Attrs, Op, ShapeError
from .shapes import size


def _check_axis(a, ins):
    if not -len(ins[0]) <= a.axis < len(ins[0]):
        raise ShapeError(f"axis {a.axis} is out of range for a rank-{len(ins[0])} input", "shape-rank", field="axis")
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
    doc = ("Batch normalization (keras.layers.BatchNormalization). gamma (if `scale`) and beta (if `center`) are "
           "trainable; the moving mean and variance are not.")
    examples = [({}, [(5, 5, 8)]), ({"scale": False}, [(5, 5, 8)]), ({"center": False, "epsilon": 1.001e-5}, [(12,)])]

    def params(self, a, ins, out):
        c = ins[0][a.axis]
        return ((int(a.center) + int(a.scale)) * c, 2 * c)

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
    doc = "Layer normalization over the last axis (keras.layers.LayerNormalization)."
    examples = [({}, [(5, 5, 8)]), ({"center": False}, [(6, 4)])]

    def infer(self, a, ins):
        return _check_axis(a, ins)

    def params(self, a, ins, out):
        return ((int(a.center) + int(a.scale)) * ins[0][a.axis], 0)

    def extra_flops(self, a, ins, out):
        return 5 * size(out)  # mean, variance, normalize, scale, shift

    def label(self, a):
        return "layer norm"
