"""Repeated structures → parameterized blocks, consecutive equal calls → `repeat`.

Every candidate (a residual or branches structure, or a short run of layers such as conv → batch norm
→ activation) is boiled down to a *skeleton* — the ops and the shape of the structure, no attribute
values — and a list of *slots*, the attribute values in a fixed traversal order. Candidates with the
same skeleton are instances of one block. Slot by slot across the instances: a value all instances
share stays a constant in the block body; values that vary become parameters (slots that vary alike
share one; a slot that is always an integer multiple of another becomes `$4 * filters`); a value most
instances share becomes the parameter's default, so calls pass only what differs.

Runs of layers ("micro" blocks) are found first, in every body: the most covering pattern of 2–4
consecutive plain layers holding one conv/dense layer plus normalization, activation or padding, seen at
least three times. Structures are grouped top-down: the outermost structure whose skeleton recurs becomes
a block; structures inside it are written once, in its body.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..ops import REGISTRY
from .structure import Branches, Layer, Residual, Tree, Wired
from .writer import common_prefix, full_attrs, strip

WEIGHTED = {"conv2d", "depthwise_conv2d", "separable_conv2d", "conv2d_transpose", "dense"}
HELPERS = {"batch_norm", "layer_norm", "activation", "relu", "zero_padding"}
SHORT = {"conv2d": "conv", "depthwise_conv2d": "dwconv", "separable_conv2d": "sepconv", "conv2d_transpose": "deconv",
         "dense": "dense", "batch_norm": "bn", "layer_norm": "ln", "activation": "act", "relu": "relu",
         "zero_padding": "pad"}
STRUCTURE_KINDS = (Residual, Branches)


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

    def definitions(self, writer):
        from .blockdef import block_definitions

        return block_definitions(self, writer)


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
        p = run_prefix(item, prefix)
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
        if item.merge.op == "scaled_add":
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


run_prefix = instance_prefix


# ---- the factoring -------------------------------------------------------------------------------------
def factor_tree(tree: Tree, keep_names: bool = True) -> Factored:
    blocks: list[Block] = []
    taken = set(REGISTRY) | {"sequence", "branches", "residual"}
    _WIRED_LISTS.clear()
    _WIRED_LISTS.update(id(w.items) for body in bodies(tree.items) for w in body if isinstance(w, Wired))
    users = tree.graph.consumers()
    single = {n for n, u in users.items() if len(u) == 1 and n not in tree.graph.outputs}
    for _ in range(4):                                   # micro blocks, best first
        block = _best_run_pattern(tree.items, taken, single)
        if block is None:
            break
        _parameterize(block)
        blocks.append(block)
        taken.add(block.name)
    for block in _structure_blocks(tree.items, taken):
        _parameterize(block)
        blocks.append(block)
    _merge_repeats(tree.items)
    for _ in range(2):                                   # stages: runs of calls and layers that recur
        block = _best_sequence_pattern(tree.items, taken)
        if block is None:
            break
        _parameterize(block)
        blocks.append(block)
        taken.add(block.name)
        _merge_repeats(tree.items)
    return Factored(blocks)


def bodies(items):
    """Every list of items in the tree (the top body, residual bodies and shortcuts, branch paths)."""
    yield items
    for item in items:
        for sub in _sub_bodies(item):
            yield from bodies(sub)


def _sub_bodies(item):
    if isinstance(item, Residual):
        return [item.body] + ([item.shortcut] if item.shortcut else [])
    if isinstance(item, Branches):
        return [p for p in item.paths if p]
    if isinstance(item, Call):
        return [b for inst in item.insts for b in _sub_bodies(inst)]
    if isinstance(item, Group):
        return [b for x in item.items for b in _sub_bodies(x)]
    if isinstance(item, Wired):
        return [item.items]
    return []


def _plain(body, k) -> bool:
    """A layer that takes the previous item's output (a wired list's first layer may take anything)."""
    item = body[k]
    if not isinstance(item, Layer) or item.node.op not in WEIGHTED | HELPERS:
        return False
    return item.node.inputs == [body[k - 1].out] if k else id(body) not in _WIRED_LISTS


_WIRED_LISTS: set = set()          # ids of Wired.items lists, refreshed by factor_tree


def _best_run_pattern(items, taken, single: set) -> Block | None:
    best = None
    all_bodies = list(bodies(items))
    for length in (4, 3, 2):
        counts: dict[tuple, list] = {}
        for body in all_bodies:
            k = 0
            last_end: dict[tuple, int] = {}
            while k + length <= len(body):
                window = body[k:k + length]
                if all(_plain(body, k + j) for j in range(length)) and all(
                        x.node.name in single for x in window[:-1]):
                    key = tuple(x.node.op for x in window)
                    if _unit(key) and last_end.get(key, -1) <= k:
                        counts.setdefault(key, []).append((id(body), k))
                        last_end[key] = k + length
                k += 1
        for key, occ in counts.items():
            if len(occ) >= 3:
                score = (len(occ) * (length - 1) - (length + 3), length)   # lines saved
                if best is None or score > best[0]:
                    best = (score, key, length)
    if best is None or best[0][0] <= 0:
        return None
    _, key, length = best
    insts = []
    for body in all_bodies:
        k, out = 0, []
        while k < len(body):
            window = body[k:k + length]
            if len(window) == length and all(_plain(body, k + j) for j in range(length)) \
                    and all(x.node.name in single for x in window[:-1]) and tuple(x.node.op for x in window) == key:
                run = Run(list(window))
                out.append(run)
                insts.append(run)
                k += length
            else:
                out.append(body[k])
                k += 1
        body[:] = out
    block = Block(_run_name(key, insts, taken), "run", insts)
    calls = {id(r): Call(block, [r]) for r in insts}
    block.calls = list(calls.values())
    for body in bodies(items):
        body[:] = [calls.get(id(x), x) for x in body]
    return block


def _unit(ops: tuple) -> bool:
    """One conv/dense layer with its helpers after it (conv → bn → relu) or before it (bn → relu → conv)."""
    return sum(op in WEIGHTED for op in ops) == 1 and (ops[0] in WEIGHTED or ops[-1] in WEIGHTED)


def _run_name(ops, insts, taken) -> str:
    parts = []
    for j, op in enumerate(ops):
        if op == "activation":
            acts = {r.items[j].node.attrs.activation for r in insts}
            parts.append(acts.pop() if len(acts) == 1 else "act")
        else:
            parts.append(SHORT.get(op, op))
    return _unique("_".join(parts), taken)


def _unique(name: str, taken) -> str:
    cand, k = name, 2
    while cand in taken:
        cand, k = f"{name}_{k}", k + 1
    return cand


def _structure_blocks(items, taken) -> list[Block]:
    counts = Counter()
    skel = {}
    for body in bodies(items):
        for item in body:
            if isinstance(item, STRUCTURE_KINDS):
                skel[id(item)] = describe(item, "", [])
                counts[skel[id(item)]] += 1
    groups: dict[tuple, list] = {}

    def visit(body):
        for item in body:
            if isinstance(item, STRUCTURE_KINDS) and counts[skel[id(item)]] >= 2:
                groups.setdefault(skel[id(item)], []).append(item)
            else:
                for sub in _sub_bodies(item):
                    visit(sub)

    visit(items)
    blocks = []
    by_name: dict[str, list] = {}
    for key, insts in groups.items():
        for part in _split_by_stem(insts):
            blocks.append(Block("", "structure", part))
            by_name.setdefault(_structure_name(part), []).append(blocks[-1])
    for base, group in by_name.items():
        for block in group:
            name = base
            if len(group) > 1 and _projects(block.insts[0]):
                name = f"{base}_proj"
            block.name = _unique(name, taken)
            taken.add(block.name)
    calls = {}
    for block in blocks:
        for inst in block.insts:
            calls[id(inst)] = call = Call(block, [inst])
            block.calls.append(call)
    for body in bodies(items):
        body[:] = [calls.get(id(x), x) for x in body]
    return blocks


def _stem(item) -> str | None:
    """What kind of block the instance's Keras name says it is, without its index: a number token is the
    index (block17_3 → block17, block_2 → block), else a number ending the name is (conv2_block1 →
    conv2_block); numbers inside the name (stage indices) go too (conv2_block → conv_block)."""
    import re

    p = instance_prefix(item, "")
    if not p:
        return None
    tokens = p.split("_")
    kept = [t for t in tokens if not t.isdigit()]
    stem = "_".join(kept) if len(kept) < len(tokens) else re.sub(r"\d+$", "", p)
    return re.sub(r"\d+(?=\D)", "", stem) or None


def _split_by_stem(insts) -> list[list]:
    """Instances whose Keras names say they are different blocks (block17_*, block8_*) stay apart when
    each kind occurs at least twice."""
    parts: dict = {}
    for inst in insts:
        parts.setdefault(_stem(inst), []).append(inst)
    if len(parts) > 1 and None not in parts and all(len(p) >= 2 for p in parts.values()):
        return list(parts.values())
    return [insts]


def _projects(item) -> bool:
    """A residual with a shortcut body, or an add whose shorter path is a 1×1-style projection."""
    if isinstance(item, Residual):
        return bool(item.shortcut)
    return isinstance(item, Branches) and item.merge.op == "add" and all(item.paths)


def _structure_name(insts) -> str:
    """A block name from its instances' Keras names: block35_1 … block35_10 → block35, conv2_block1 …
    → conv_block; else the structure kind."""
    import re

    prefixes = [instance_prefix(i, "") for i in insts]
    if all(prefixes):
        for strip_digits in (lambda t: [x for x in t if not x.isdigit()],
                             lambda t: [re.sub(r"\d+", "", x) for x in t]):
            names = {"_".join(x for x in strip_digits(p.split("_")) if x) for p in prefixes}
            if len(names) == 1 and names != {""}:
                name = names.pop()
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    return name
    first = insts[0]
    if isinstance(first, Residual):
        return "residual_block"
    return f"{first.merge.op}_block"


# ---- parameters -------------------------------------------------------------------------------------------
def _labels(block: Block) -> dict | None:
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


def _parameterize(block: Block) -> None:
    block.labels = _labels(block)
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
            pname = base if base not in names_used else _unique(base, names_used)
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
        if inst.merge.op == "scaled_add":
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


def _best_sequence_pattern(items, taken) -> Block | None:
    """The most line-saving run of 2–5 consecutive items, at least one a block call, that recurs (block
    calls compare by block, not by arguments or repeat count) in the bodies outside block instances."""
    def key_of(x):
        if isinstance(x, Call):
            return ("C", x.block.name)
        if isinstance(x, Layer) and x.node.op != "input":
            return ("L", x.node.op)
        return None

    def plain(body, k):
        x = body[k]
        if key_of(x) is None or id(body) in _WIRED_LISTS:
            return False                                 # (a stage never starts inside wired layers)
        return not isinstance(x, Layer) or k == 0 or x.node.inputs == [body[k - 1].out]

    found = list(_outer_bodies(items))
    best = None
    for length in (5, 4, 3, 2):
        counts: dict[tuple, list] = {}
        for body in found:
            k, last = 0, {}
            while k + length <= len(body):
                window = body[k:k + length]
                if all(plain(body, k + j) for j in range(length)) and any(
                        isinstance(x, Call) and x.block.kind == "structure" for x in window):
                    key = tuple(key_of(x) for x in window)
                    if last.get(key, -1) <= k and not _periodic(key):
                        clean = _clean_cut(body, k, k + length)
                        counts.setdefault(key, []).append(clean)
                        last[key] = k + length
                k += 1
        for key, cleans in counts.items():
            occ = len(cleans)
            score = occ * (length - 1) - (length + 1)
            rank = (all(cleans), score, occ, -length)
            if occ >= 2 and score > 0 and (best is None or rank > best[0]):
                best = (rank, key, length)
    if best is None:
        return None
    _, key, length = best
    groups = []
    for body in found:
        k, out = 0, []
        while k < len(body):
            window = body[k:k + length]
            if len(window) == length and all(plain(body, k + j) for j in range(length)) \
                    and tuple(key_of(x) for x in window) == key:
                groups.append(Group(list(window)))
                out.append(groups[-1])
                k += length
            else:
                out.append(body[k])
                k += 1
        body[:] = out
    block = Block(_unique(_sequence_name(groups), taken), "sequence", groups)
    for g in groups:
        block.calls.append(Call(block, [g]))
    calls = {id(c.insts[0]): c for c in block.calls}
    for body in found:
        body[:] = [calls.get(id(x), x) for x in body]
    return block


def _group_key(item) -> str | None:
    """The first number-carrying token of an item's Keras name (conv2_block1 → conv2, block_1_pad → 1)."""
    p = instance_prefix(item, "")
    return next((t for t in p.split("_") if any(c.isdigit() for c in t)), None) if p else None


def _clean_cut(body, start, end) -> bool:
    """Whether the window body[start:end] starts and ends where the Keras names change group."""
    first, last = _group_key(body[start]), _group_key(body[end - 1])
    ok_start = first is None or start == 0 or _group_key(body[start - 1]) != first
    ok_end = last is None or end == len(body) or _group_key(body[end]) != last
    return ok_start and ok_end


def _periodic(key: tuple) -> bool:
    """(a, b, a, b) is (a, b) twice: the shorter pattern is the stage."""
    n = len(key)
    return any(n % p == 0 and key == key[:p] * (n // p) for p in range(1, n))


def _sequence_name(groups) -> str:
    import re

    prefixes = [instance_prefix(g, "") for g in groups]
    if all(prefixes) and len(set(prefixes)) == len(prefixes):
        names = {re.sub(r"\d+", "", p).strip("_") for p in prefixes}
        if len(names) == 1 and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", next(iter(names))):
            return names.pop() + "_stage"
    return "stage"


def _outer_bodies(items):
    """The bodies not inside a block instance: the model and the structures written out in it."""
    yield items
    for item in items:
        if not isinstance(item, (Call, Run, Group)):
            for sub in _sub_bodies(item):
                yield from _outer_bodies(sub)


# ---- repeat ------------------------------------------------------------------------------------------------
def _merge_repeats(items) -> None:
    """Consecutive calls of one block with equal arguments → one call with `repeat`. Not inside a block's
    instances: there the calls must stay apart wherever another instance has different arguments."""
    out = []
    for item in items:
        prev = out[-1] if out else None
        if isinstance(item, Call) and isinstance(prev, Call) and prev.block is item.block and prev.args == item.args:
            prev.insts.extend(item.insts)
            continue
        out.append(item)
        if not isinstance(item, Call):
            for sub in _sub_bodies(item):
                _merge_repeats(sub)
    items[:] = out
