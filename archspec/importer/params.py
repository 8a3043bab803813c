"""Block parameters: slot by slot across a block's instances, a value they share stays a constant; values
that vary become parameters (slots of one kind with equal values share one), written as expressions where
a relation holds — an integer multiple of another parameter (`$4 * filters`), the block's input width
(`$in.channels // 4`) or a reduction of the layer's own input (`$prev.channels // 2`); a value a clear
majority shares is the default. Calls are named after what their Keras names share."""
from __future__ import annotations

from collections import Counter

from ..ops import role
from .structure import Branches, Layer, Residual
from .units import Block, Call, Group, Param, Run, describe, instance_prefix, nodes_of, unique_name


# ---- parameters -------------------------------------------------------------------------------------------
def labels(block: Block) -> dict | None:
    """Names for the calls when the Keras names tell the instances apart: their common prefix, or for a
    stage the number-carrying start of its first part's name (conv2_block… → conv2, block_1_expand → block_1)."""
    import re

    prefixes = [instance_prefix(i, "") for i in block.insts]
    if all(prefixes) and len(set(prefixes)) == len(prefixes):
        return {id(i): p for i, p in zip(block.insts, prefixes)}
    if block.kind == "sequence":
        firsts = []
        for inst in block.insts:
            m = re.match(r"(.*?\d+)(?:_|$)", instance_prefix(inst.items[0], ""))
            firsts.append(m.group(1) if m else "")
        if all(firsts) and len(set(firsts)) == len(firsts):
            return {id(i): p for i, p in zip(block.insts, firsts)}
    firsts = [next((n.name for n in nodes_of(i) if not n.auto), "") for i in block.insts]
    if all(firsts) and len(set(firsts)) == len(firsts):      # NASNet: separable_conv_1_reduction_left1_stem_1
        return {id(i): p for i, p in zip(block.insts, firsts)}
    return None


def parameterize(block: Block) -> None:
    block.labels = labels(block)
    per_inst = []
    for inst in block.insts:
        slots: list = []
        describe(inst, "", slots)
        per_inst.append(slots)
    rep = per_inst[0]
    # names: '#name' slots relative to each instance's own prefix
    named = []
    for inst in block.insts:
        slots: list = []
        p = instance_prefix(inst, "")
        _describe_inner(inst, p + "_" if p else "", slots)
        named.append(slots)
    for k, (owner, key, value) in enumerate(named[0]):
        if key == "#name":
            vals = {s[k][2] for s in named}
            block.names[owner] = value if len(vals) == 1 else None
    channels = [entry_channels(inst) for inst in block.insts]
    shallow = _shallow_owners(block.insts[0])
    owner_in = [_owner_channels(inst) for inst in block.insts]
    groups: dict[tuple, list] = {}                 # (kind of slot, values) → slots sharing one parameter
    order = []
    for k, (owner, key, _) in enumerate(rep):
        if key == "#name" or (key == "#repeat" and block.kind != "sequence"):
            continue
        vector = tuple(_hashable(s[k][2]) for s in per_inst)
        if len(set(vector)) == 1:
            continue
        if key.startswith(("filters", "units")):   # a width may follow the input's: $in.channels // 4
            local = [owner_in[j].get(per_inst[j][k][0]) for j in range(len(block.insts))]
            rel = _width_relation(vector, channels if owner in shallow else None, local)
            if rel is not None:
                block.subst[(owner, key)] = rel
                continue
        group = ("blocks" if key == "#repeat" else key, vector)
        if group not in groups:
            groups[group] = []
            order.append(group)
        groups[group].append((owner, key))
    names_used: set = set()
    params = {}
    for group in order:
        base, vector = group
        rel = _relation(vector, params)
        if rel is None:
            pname = base if base not in names_used else unique_name(base, names_used)
            names_used.add(pname)
            params[pname] = Param(pname, [_unhash(v) for v in vector])
            rel = f"${pname}"
        for owner, key in groups[group]:
            block.subst[(owner, key)] = rel
    for p in params.values():
        _declare(p)
    block.params = params
    for j, inst in enumerate(block.insts):
        block.args_of[id(inst)] = {p.name: p.values[j] for p in params.values()}
    for call in block.calls:
        call.args = block.args_of[id(call.insts[0])]


def _describe_inner(inst, prefix, slots):
    """Slots of an instance as its block body sees it: names relative to the instance's own prefix."""
    if isinstance(inst, (Run, Group)):
        for x in inst.items:
            describe(x, prefix, slots)
    elif isinstance(inst, Residual):
        slots.append((id(inst), "#name", None))
        if inst.merge.op == role("scaled_residual"):
            slots.append((id(inst), "scale", None))
        slots.append((id(inst), "activation", None))
        for x in inst.body + (inst.shortcut or []):
            describe(x, prefix, slots)
    elif isinstance(inst, Branches):
        slots.append((id(inst), "#name", None))
        for path in inst.paths:
            for x in path:
                describe(x, prefix, slots)


def _hashable(v):
    if isinstance(v, list):
        return ("__list__",) + tuple(_hashable(x) for x in v)
    return v


def _unhash(v):
    if isinstance(v, tuple) and v and v[0] == "__list__":
        return [_unhash(x) for x in v[1:]]
    return v


def entry_channels(inst) -> int | None:
    """The channels of the tensor entering an instance."""
    inside = {n.name for n in nodes_of(inst)}
    for n in nodes_of(inst):
        for k, i in enumerate(n.inputs):
            if i not in inside:
                shape = n.in_shapes[k] if k < len(n.in_shapes) else None
                return shape[-1] if shape else None
    return None


def _shallow_owners(inst) -> set:
    """Slot owners whose expressions see the block's input as `in` (not a nested structure's)."""
    if isinstance(inst, Run):
        return {id(x.node) for x in inst.items}
    if isinstance(inst, Group):
        return {id(x.node) if isinstance(x, Layer) else id(x) for x in inst.items}
    items = (inst.body + (inst.shortcut or [])) if isinstance(inst, Residual) else [x for p in inst.paths for x in p]
    return {id(x.node) if isinstance(x, Layer) else id(x) for x in items} | {id(inst)}


def _owner_channels(inst) -> dict:
    """id of each slot owner inside `inst` → the channels of the tensor it takes (`prev` in its body)."""
    out = {}

    def visit(x):
        if isinstance(x, Layer):
            if x.node.in_shapes and x.node.in_shapes[0]:
                out[id(x.node)] = x.node.in_shapes[0][-1]
        elif isinstance(x, Call):
            out[id(x)] = entry_channels(x.insts[0])
        elif isinstance(x, (Run, Group)):
            for y in x.items:
                visit(y)
        elif isinstance(x, Residual):
            for y in x.body + (x.shortcut or []):
                visit(y)
        elif isinstance(x, Branches):
            for p in x.paths:
                for y in p:
                    visit(y)

    visit(inst)
    return out


def _channel_relation(vector, channels, name: str = "in") -> str | None:
    """`$in.channels`, `$6 * in.channels` or `$in.channels // 2` when the values follow the input width
    (`name` prev: the width of the layer's own input)."""
    if None in channels or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in vector):
        return None
    if all(v % c == 0 for v, c in zip(vector, channels)):
        ratios = {v // c for v, c in zip(vector, channels)}
        if len(ratios) == 1:
            k = ratios.pop()
            return f"${name}.channels" if k == 1 else f"${k} * {name}.channels"
    if all(c % v == 0 for v, c in zip(vector, channels)):
        ratios = {c // v for v, c in zip(vector, channels)}
        if len(ratios) == 1:
            return f"${name}.channels // {ratios.pop()}"
    return None


def _width_relation(vector, block_in, local) -> str | None:
    """A width as a function of the block's input (`in`, when the layer sees it) or of the layer's own
    input (`prev`, only as a reduction such as DenseNet's compression or a squeeze-excite bottleneck)."""
    rel = _channel_relation(vector, block_in) if block_in is not None else None
    prev = _channel_relation(vector, local, "prev")
    if prev is not None and "//" in prev and (rel is None or "*" in rel):
        return prev
    return rel


def _relation(vector, params) -> str | None:
    """`$k * p` when every value of `vector` is the integer k ≥ 2 times the value of parameter p."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in vector):
        return None
    for p in params.values():
        base = p.values
        if not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in base):
            continue
        if vector[0] % base[0]:
            continue
        k = vector[0] // base[0]
        if k >= 2 and all(v == k * b for v, b in zip(vector, base)):
            return f"${k} * {p.name}"
    return None


def _declare(p: Param) -> None:
    counts = Counter(repr(v) for v in p.values)
    top, n = counts.most_common(1)[0]
    kinds = {_kind(v) for v in p.values}
    optional = None in [v for v in p.values] or "null" in kinds
    kinds.discard("null")
    if kinds <= {"int", "intlist"}:
        ptype = "int"
    elif kinds <= {"int", "float"}:
        ptype = "number"
    elif kinds == {"bool"}:
        ptype = "bool"
    elif kinds == {"str"}:
        ptype = "str"
    else:
        ptype = "any"
    if ptype != "any" and optional:
        ptype += "?"
    if n >= 2 and 2 * n > len(p.values) and len(counts) > 1:      # a clear majority
        p.default = next(v for v in p.values if repr(v) == top)
        p.required = False
    p.decl = ptype


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return "intlist"
    return "other"
