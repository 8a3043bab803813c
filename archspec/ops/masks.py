"""Masks computed inside the model: padding_mask (which token ids are real tokens, `ids != pad_id`).

A model that is given only its token ids can make the padding mask its attention layers take itself —
KerasHub's ESM computes `keras.ops.not_equal(token_ids, pad_token_id)` — instead of declaring a padding-mask
input. The mask feeds attention's last input (`padding_mask: true`) exactly as a declared mask input does:

>>> from archspec.ops import REGISTRY
>>> op = REGISTRY["padding_mask"]
>>> a = op.Attrs(pad_id=1)
>>> op.infer(a, [(12,)]), op.params(a, [(12,)], (12,)), op.flops(a, [(12,)], (12,)), op.label(a)
((12,), (0, 0), 12, 'padding mask · id 1')
"""
from __future__ import annotations

from .base import Attrs, Field, Op, ShapeError
from .registry import register
from .shapes import size


class PaddingMaskAttrs(Attrs):
    pad_id: int = Field(0, description="the token id that marks padding: the mask is 1 (attend) where the id differs "
                                       "from it, 0 (padding) where it equals it (KerasHub's ESM: pad_token_id)")


@register
class PaddingMask(Op):
    name, keras_class, Attrs, category, primary = "padding_mask", "PaddingMask", PaddingMaskAttrs, "token", "pad_id"
    custom_layer = True                            # archspec.ops.keras_layers.PaddingMask
    doc = ("The padding mask of integer token ids, `ids != pad_id`: ids (T,) → a boolean mask (T,), true for a token, "
           "false for padding — what attention's mask input takes (`padding_mask: true`, `from: [x, <this layer>]`). "
           "For a model given its token ids alone (KerasHub's ESM computes its mask so, `keras.ops.not_equal`). "
           "archspec.ops.keras_layers.PaddingMask, a registered serializable Keras layer.")
    examples = [({}, [(12,)], (12,), (0, 0)), ({"pad_id": 1}, [(7,)], (7,), (0, 0)),
                ({"pad_id": 3}, [(2, 5)], (2, 5), (0, 0))]
    keras_ops = ("NotEqual",)                      # keras.ops.not_equal(ids, pad_id) in a graph (KerasHub's ESM)

    def infer(self, a, ins):
        if len(ins[0]) > 2:
            raise ShapeError(f"padding_mask reads integer token ids (tokens,); it receives a feature map {ins[0]}",
                             "shape-rank", "give it the token ids input, `from: token_ids`")
        return ins[0]

    flops_rule = "1 per element (a comparison, as TensorFlow's profiler counts NotEqual)"

    def extra_flops(self, a, ins, out):
        return size(out)

    def label(self, a):
        return f"padding mask · id {a.pad_id}"

    def makes_mask(self, a):
        return True

    def keras_kwargs(self, a):
        return {"pad_id": a.pad_id}

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`keras.ops.not_equal(ids, pad_id)` (or `pad_id != ids`): one tensor and one integer."""
        if n_tensors != 1 or len(consts) != 1:
            return None
        value = consts[0][1]
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return {"pad_id": value}
