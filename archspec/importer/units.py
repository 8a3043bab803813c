"""The units of factoring: a run of layers, a stage of calls, a block call, a block and its parameters —
and the two views of any item the factoring compares: its *skeleton* (ops and structure, no values) and
its *slots* (attribute values in traversal order)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ops import role
from .attrs import common_prefix, full_attrs, strip
from .structure import Branches, Layer, Residual, Wired


@dataclass
class Run:
    """Consecutive plain layers that form one instance of a micro block."""
    items: list

    @property
    def out(self) -> str:
        return self.items[-1].out


@dataclass
class Group:
    """Consecutive items (block calls and layers) that form one instance of a sequence block (a stage)."""
    items: list

    @property
    def out(self) -> str:
        return self.items[-1].out


@dataclass
class Call:
    block: "Block"
    insts: list                              # the instances it stands for (several with `repeat`)
    args: dict = field(default_factory=dict)

    @property
    def out(self) -> str:
        return self.insts[-1].out

    @property
    def repeat(self) -> int:
        return len(self.insts)


@dataclass
class Param:
    name: str
    values: list                             # one per instance
    default: object = None
    required: bool = True
    decl: object = None


@dataclass
class Block:
    name: str
    kind: str                                # "run" or "structure"
    insts: list                              # every instance (Run or structure item)
    params: dict = field(default_factory=dict)          # name → Param
    subst: dict = field(default_factory=dict)           # (owner id in insts[0], key) → "$expr"
    args_of: dict = field(default_factory=dict)         # id(inst) → {param: value}
    names: dict = field(default_factory=dict)           # owner id in insts[0] → uniform name or None
    calls: list = field(default_factory=list)           # the Call items standing for the instances
    labels: dict | None = None                          # id(inst) → the call's name, if the names tell apart


@dataclass
class Factored:
    defs: list[Block]


# ---- skeletons and slots -----------------------------------------------------------------------------
def describe(item, prefix: str, out_slots: list) -> tuple:
    """The skeleton of `item`; appends its slots (owner id, key, value) to `out_slots` in traversal order.
    Key '#name' slots carry the name the owner would get under `prefix`."""
    if isinstance(item, Layer):
        node = item.node
        for attr, v in full_attrs(node).items():
            out_slots.append((id(node), attr, v))
        out_slots.append((id(node), "#name", None if node.auto else strip(node.name, prefix)))
        return ("L", node.op)
    if isinstance(item, Run):
        p = instance_prefix(item, prefix)
        inner = prefix + p + "_" if p else prefix
        out_slots.append((id(item), "#name", p or None))
        return ("U",) + tuple(describe(x, inner, out_slots) for x in item.items)
    if isinstance(item, Call):
        out_slots.append((id(item), "#name", call_name(item, prefix)))
        out_slots.append((id(item), "#repeat", item.repeat))
        for pname in item.block.params:
            out_slots.append((id(item), pname, item.args[pname]))
        return ("C", item.block.name)
    if isinstance(item, Group):
        p = instance_prefix(item, prefix)
        inner = prefix + p + "_" if p else prefix
        out_slots.append((id(item), "#name", p or None))
        return ("S",) + tuple(describe(x, inner, out_slots) for x in item.items)
    if isinstance(item, Residual):
        p = instance_prefix(item, prefix)
        inner = prefix + p + "_" if p else prefix
        out_slots.append((id(item), "#name", p or None))
        if item.merge.op == role("scaled_residual"):
            out_slots.append((id(item), "scale", item.merge.attrs.scale))
        out_slots.append((id(item), "activation", item.act.attrs.activation if item.act else None))
        body = tuple(describe(x, inner, out_slots) for x in item.body)
        short = tuple(describe(x, inner, out_slots) for x in item.shortcut) if item.shortcut else None
        return ("R", item.merge.op, body, short)
    if isinstance(item, Branches):
        p = instance_prefix(item, prefix)
        inner = prefix + p + "_" if p else prefix
        out_slots.append((id(item), "#name", p or None))
        paths = tuple(tuple(describe(x, inner, out_slots) for x in path) for path in item.paths)
        return ("B", item.merge.op, getattr(item.merge.attrs, "axis", None), paths)
    return ("W", id(item))                    # wired layers never repeat as a block


def call_name(call, prefix: str) -> str | None:
    """The name a call gets: its instance's prefix, or for a repeat the stem of its instances' prefixes."""
    import re

    names = [instance_prefix(inst, prefix) for inst in call.insts]
    if call.repeat == 1:
        return names[0] or None
    stems = {re.sub(r"_?\d+$", "", n) for n in names}
    return stems.pop() or None if len(stems) == 1 else None


def nodes_of(item):
    from .structure import walk

    if isinstance(item, Run):
        return [x.node for x in item.items]
    if isinstance(item, Group):
        return [n for x in item.items for n in nodes_of(x)]
    if isinstance(item, Call):
        return [n for inst in item.insts for n in nodes_of(inst)]
    if isinstance(item, (Residual, Branches)):
        out = []
        for x in (item.body + (item.shortcut or [])) if isinstance(item, Residual) else \
                [x for p in item.paths for x in p]:
            out += nodes_of(x)
        out.append(item.merge)
        if isinstance(item, Residual) and item.act:
            out.append(item.act)
        return out
    return list(walk([item]))


def instance_prefix(item, prefix: str) -> str:
    if isinstance(item, Layer):
        return "" if item.node.auto else strip(item.node.name, prefix)
    return common_prefix([n.name for n in nodes_of(item) if not n.auto], prefix)




def bodies(items):
    """Every list of items in the tree (the top body, residual bodies and shortcuts, branch paths)."""
    yield items
    for item in items:
        for sub in sub_bodies(item):
            yield from bodies(sub)


def sub_bodies(item):
    if isinstance(item, Residual):
        return [item.body] + ([item.shortcut] if item.shortcut else [])
    if isinstance(item, Branches):
        return [p for p in item.paths if p]
    if isinstance(item, Call):
        return [b for inst in item.insts for b in sub_bodies(inst)]
    if isinstance(item, Group):
        return [b for x in item.items for b in sub_bodies(x)]
    if isinstance(item, Wired):
        return [item.items]
    return []


def unique_name(name: str, taken) -> str:
    cand, k = name, 2
    while cand in taken:
        cand, k = f"{name}_{k}", k + 1
    return cand
