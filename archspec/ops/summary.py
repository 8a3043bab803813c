"""A block call priced as one node. When the Pricer (archspec/pricing.py) expands a spec for its totals, a
block call recorded before (lang/memo.py) is not expanded again: one node of this op stands for it, its
attributes the call's :class:`Summary`. Its shape, parameters, MACs and FLOPs are the call's; the stages that
count layers, free tensors and trace peak memory ask the op (`layers`, `hidden`, `output_elements`,
`output_name`, `peak_profile`) instead of testing for this node, so the same loops serve full and pricing graphs.
Never written in a spec and never built: the flag `summary` tells the stages that may meet it (pricing only).
"""
from __future__ import annotations

from .base import Category, Op
from .registry import register


class Summary:
    """What pricing needs of a block call: its costs (trainable, non-trainable, MACs, FLOPs, activation
    elements), its layer count, its output shape, the elements and short name of the layer it ends with,
    its peak-memory profile (passes.analyze.profile) and the layers + scopes it stands for."""

    __slots__ = ("cost", "layers", "shape", "out_elems", "out_name", "cands", "size")
    model_fields: dict = {}                     # as an op's Attrs model: no attribute a spec could set

    def __init__(self, cost, layers, shape, out_elems, out_name, cands, size):
        self.cost, self.layers, self.shape, self.out_elems = cost, layers, shape, out_elems
        self.out_name = out_name                # the short name of the layer it ends with
        self.cands, self.size = cands, size     # peak-memory profile; layers + scopes it stands for


@register
class BlockSummary(Op):
    name, keras_class, Attrs, category, arity = "@block", None, Summary, Category.OTHER, (0, None)
    doc = "A whole block call recorded before, standing as one node in a pricing graph; never written in a spec."
    roles, internal, summary = ("block_summary",), True, True

    def infer(self, a, ins):
        return a.shape

    def params(self, a, ins, out):
        return a.cost[0], a.cost[1]

    def macs(self, a, ins, out):
        return a.cost[2]

    def flops(self, a, ins, out):
        return a.cost[3]

    def label(self, a):
        return f"block ({a.layers} layers)"

    def layers(self, a) -> int:
        return a.layers

    def hidden(self, a) -> int:
        return a.size

    def output_elements(self, a, cost) -> int:
        return a.out_elems

    def output_name(self, a, short: str) -> str:
        return a.out_name

    def peak_profile(self, a):
        return a.cands

    def build_keras(self, a, name):
        raise TypeError("a priced block call stands for layers that were not expanded; expand the spec in full to build it")
