"""Attributes and names in the spec's own form, shared by the factoring (:mod:`.units`) and the
writer (:mod:`.writer`): an attribute's shortest spelling, an op's attributes in reading order and
defaults, and the `_`-token prefixes Keras names share.

>>> spec_value("kernel", (3, 3)), spec_value("padding", ((1, 1), (2, 2))), common_prefix(["b1_conv", "b1_bn"], "")
(3, [1, 2], 'b1')
"""
from __future__ import annotations

from ..ops import REGISTRY
from .reader import KNode

# attributes that express a house style rather than the architecture; only these go into `defaults:`
STYLE = {"padding", "use_bias", "epsilon", "momentum", "center", "scale", "interpolation"}
PAIRS = {"kernel", "strides", "dilation", "pool_size", "size", "output_padding"}
PADS = {"padding", "cropping"}


# ---- attributes ------------------------------------------------------------------------------------
def spec_value(attr: str, v):
    """An attribute value in the spec's shortest form: (3, 3) → 3, ((1, 1), (2, 2)) → [1, 2]."""
    if attr in PAIRS and isinstance(v, tuple) and len(v) == 2:
        return v[0] if v[0] == v[1] else list(v)
    if attr in PADS and isinstance(v, tuple) and len(v) == 2 and all(isinstance(p, tuple) for p in v):
        (t, b), (l, r) = v
        if t == b == l == r:
            return t
        if t == b and l == r:
            return [t, l]
        return [[t, b], [l, r]]
    if isinstance(v, tuple):
        return [spec_value("", x) for x in v]
    return v


FIRST = ("filters", "units", "kernel", "pool_size", "strides", "padding")


def field_order(op: str) -> list[str]:
    """The op's attributes, the ones a reader looks for first (filters, kernel, strides) in front."""
    fields = list(REGISTRY[op].Attrs.model_fields)
    return [f for f in FIRST if f in fields] + [f for f in fields if f not in FIRST]


def full_attrs(node: KNode) -> dict:
    """Every attribute of the node's op, in spec form and reading order."""
    return {f: spec_value(f, getattr(node.attrs, f)) for f in field_order(node.op)}


def op_defaults(op: str) -> dict:
    fields = REGISTRY[op].Attrs.model_fields
    return {f: spec_value(f, fi.default) for f, fi in fields.items() if not fi.is_required()}


# ---- names -----------------------------------------------------------------------------------------
def common_prefix(names: list[str], prefix: str) -> str:
    """The longest `_`-token prefix all `names` share after `prefix` ('' if none)."""
    if not names or not all(n.startswith(prefix) and len(n) > len(prefix) for n in names):
        return ""
    parts = [n[len(prefix):].split("_") for n in names]
    common = []
    for tokens in zip(*parts):
        if len(set(tokens)) != 1:
            break
        common.append(tokens[0])
    return "_".join(common)


def strip(name: str, prefix: str) -> str:
    return name[len(prefix):] if prefix and name.startswith(prefix) and len(name) > len(prefix) else name
