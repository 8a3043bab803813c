"""Find what repeats: runs of layers, structures and stages become blocks; equal consecutive calls `repeat`.

Every candidate is reduced to a skeleton and slots (:mod:`.units`); candidates with equal skeletons are
instances of one block, whose parameters come from comparing their slots (:mod:`.params`). Three passes:

1. *Micro blocks*, in every body: the most line-saving pattern of 2–4 consecutive plain layers made of one
   conv/dense layer with normalization, activation or padding after it (conv → bn → relu) or before it
   (bn → relu → conv), seen at least three times; up to four such patterns.
2. *Structure blocks*: a residual or branches structure whose skeleton recurs, outermost first (the
   structures inside a block are written once, in its body); instances whose Keras names say they are
   different kinds (block17_*, block8_*) are kept apart.
3. *Stages*: a run of 2–5 block calls and layers, at least one a structure block, that recurs in the
   bodies outside blocks — block calls compare by block, their repeat counts may differ and become a
   parameter — preferring runs that start and end where the Keras names change group (conv2_… → conv3_…).
"""
from __future__ import annotations

from collections import Counter

from ..ops import REGISTRY, role
from .params import parameterize
from .structure import Branches, Layer, Residual, Tree, Wired
from .units import Block, Call, Factored, Group, Run, bodies, describe, instance_prefix, sub_bodies, unique_name

WEIGHTED = {n for n, op in REGISTRY.items() if op.weighted}        # the core of a unit: conv, dense
HELPERS = {n for n, op in REGISTRY.items() if op.unit_helper}      # around it: normalization, activation, padding
STRUCTURE_KINDS = (Residual, Branches)


# ---- the factoring -------------------------------------------------------------------------------------
def factor_tree(tree: Tree) -> Factored:
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
        parameterize(block)
        blocks.append(block)
        taken.add(block.name)
    for block in _structure_blocks(tree.items, taken):
        parameterize(block)
        blocks.append(block)
    _merge_repeats(tree.items)
    for _ in range(2):                                   # stages: runs of calls and layers that recur
        block = _best_sequence_pattern(tree.items, taken)
        if block is None:
            break
        parameterize(block)
        blocks.append(block)
        taken.add(block.name)
        _merge_repeats(tree.items)
    return Factored(blocks)


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
        names = {REGISTRY[op].short_name(r.items[j].node.attrs) for r in insts}
        parts.append(names.pop() if len(names) == 1 else REGISTRY[op].abbrev or op)
    return unique_name("_".join(parts), taken)




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
                for sub in sub_bodies(item):
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
            block.name = unique_name(name, taken)
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
    return isinstance(item, Branches) and item.merge.op == role("residual_add") and all(item.paths)


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


def _best_sequence_pattern(items, taken) -> Block | None:
    """The most line-saving run of 2–5 consecutive items, at least one a block call, that recurs (block
    calls compare by block, not by arguments or repeat count) in the bodies outside block instances."""
    def key_of(x):
        if isinstance(x, Call):
            return ("C", x.block.name)
        if isinstance(x, Layer) and not REGISTRY[x.node.op].source:
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
    block = Block(unique_name(_sequence_name(groups), taken), "sequence", groups)
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
            for sub in sub_bodies(item):
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
            for sub in sub_bodies(item):
                _merge_repeats(sub)
    items[:] = out
