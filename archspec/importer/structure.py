"""Turn the imported DAG into a tree of spec structures: layers in sequence, `residual:`, `branches:`,
and — where neither fits — explicitly wired layers (`name:` + `from:`).

The tree is cut at *cut points*: nodes every path from the region's entry to its exit passes through.
In a topological order they are the nodes no edge jumps over (no edge u → w with u before v and w after
v), which one forward sweep finds. Between two consecutive cuts lies a *segment*: one layer, or a
subgraph that opens at the previous cut and closes at a merge (add, concat, multiply, scaled add).
A segment whose merge inputs are fed by disjoint sub-paths is a residual (add or scaled add with one
path the identity or the shorter projection) or branches; each path is structured the same way,
recursively. Anything else (paths that share layers, a merge no structure expresses, a model with
several inputs before its first cut) is kept as wired layers, which express any DAG.

>>> from archspec.importer.structure import cut_points
>>> succ = {"x": ["a", "b"], "a": ["c"], "b": ["c"], "c": ["d"], "d": []}
>>> cut_points("x", ["a", "b", "c", "d"], succ)
['c', 'd']
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ops import REGISTRY, role
from .reader import KGraph, KNode

VIRTUAL = "<source>"


@dataclass
class Layer:
    node: KNode

    @property
    def out(self) -> str:
        return self.node.name


@dataclass
class Residual:
    body: list
    shortcut: list | None
    merge: KNode                  # add or scaled_add, inputs [shortcut, body]
    act: KNode | None = None      # an Activation right after the merge

    @property
    def out(self) -> str:
        return (self.act or self.merge).name


@dataclass
class Branches:
    paths: list[list]
    merge: KNode

    @property
    def out(self) -> str:
        return self.merge.name


@dataclass
class Wired:
    items: list                   # Layer items in topological order (the last is the segment's exit);
                                  # factoring may replace runs of them by block calls

    @property
    def out(self) -> str:
        return self.items[-1].out

    @property
    def nodes(self) -> list[KNode]:
        return list(walk(self.items))


@dataclass
class Tree:
    graph: KGraph
    items: list                   # the top-level body
    entry: str                    # the input the body starts from
    stats: dict = field(default_factory=dict)


def cut_points(entry: str, order: list[str], succ: dict[str, list[str]], tail: set = frozenset()) -> list[str]:
    """Nodes of `order` (topological, all descendants of `entry`) that every path passes through. Edges
    leaving the region are ignored; nodes in `tail` (extra outputs) have an edge past the end."""
    idx = {n: k for k, n in enumerate(order)}
    end = len(order)

    def reach(u):
        r = max((idx[w] for w in succ.get(u, ()) if w in idx), default=-1)
        return end if u in tail else r

    cuts, far = [], reach(entry)
    for p, n in enumerate(order):
        if far <= p:
            cuts.append(n)
        far = max(far, reach(n))
    return cuts


def build_tree(kg: KGraph) -> Tree:
    """The structured form of `kg` (see the module docstring)."""
    nodes = kg.nodes
    succ = kg.consumers()
    order = [n for n in nodes if not REGISTRY[nodes[n].op].source]
    tail = set(kg.outputs[:-1]) | ({kg.outputs[-1]} if order and kg.outputs[-1] != order[-1] else set())
    if len(kg.inputs) == 1:
        entry = kg.inputs[0]
    else:
        entry = VIRTUAL
        succ = dict(succ)
        succ[VIRTUAL] = [c for i in kg.inputs for c in succ[i]]   # the virtual source feeds every input's consumers
    b = _Builder(kg, succ, tail)
    items = b.seq(entry, order)
    return Tree(kg, items, kg.inputs[0], b.stats)


class _Builder:
    def __init__(self, kg: KGraph, succ, tail):
        self.kg, self.succ, self.tail = kg, succ, tail
        self.pos = {n: k for k, n in enumerate(kg.nodes)}
        self.stats = {"residual": 0, "branches": 0, "wired": 0}

    def seq(self, entry: str, order: list[str]) -> list:
        cuts = cut_points(entry, order, self.succ, self.tail)
        items, start, prev = [], 0, entry
        for c in cuts:
            end = order.index(c, start) + 1
            items.append(self.segment(prev, order[start:end]))
            start, prev = end, c
        if start < len(order):                   # after the last cut: several outputs, or a virtual start
            items.append(self._wired(order[start:]))
        return _absorb_activations(items, set(self.kg.outputs))

    def segment(self, entry: str, seg: list[str]):
        nodes = self.kg.nodes
        if len(seg) == 1:
            return Layer(nodes[seg[0]])
        if entry == VIRTUAL:
            return self._wired(seg)
        exit_ = nodes[seg[-1]]
        ins = exit_.inputs
        inner = set(seg[:-1])
        if len(set(ins)) != len(ins) or len(ins) < 2:
            return self._wired(seg)
        groups = []
        for i in ins:
            groups.append(set() if i == entry else self._ancestors(i, inner))
        covered = set().union(*groups)
        if covered != inner or sum(len(g) for g in groups) != len(inner):
            return self._wired(seg)                # paths share layers, or a layer feeds no merge input
        paths = [self.seq(entry, sorted(g, key=self.pos.__getitem__)) if g else [] for g in groups]
        op = exit_.op
        if op == role("scaled_residual") and paths[1]:
            self.stats["residual"] += 1
            return Residual(paths[1], paths[0] or None, exit_)
        if op == role("residual_add") and len(paths) == 2 and paths[1] and (
                not paths[0] or _size(paths[0]) <= _size(paths[1])):
            self.stats["residual"] += 1
            return Residual(paths[1], paths[0] or None, exit_)
        if REGISTRY[op].branch_merge:
            self.stats["branches"] += 1
            return Branches(paths, exit_)
        return self._wired(seg)

    def _ancestors(self, node: str, within: set) -> set:
        out, todo = set(), [node]
        while todo:
            n = todo.pop()
            if n in within and n not in out:
                out.add(n)
                todo.extend(self.kg.nodes[n].inputs)
        return out

    def _wired(self, seg: list[str]) -> Wired:
        self.stats["wired"] += 1
        return Wired([Layer(self.kg.nodes[n]) for n in chain_first(seg, self.kg)])


def chain_first(seg: list[str], kg: KGraph) -> list[str]:
    """A topological order of `seg` that follows chains: after a layer, the next is one that takes it as
    its first input when one is ready, so wired layers need `from:` only where a chain really forks."""
    inside = set(seg)
    waiting = {n: sum(1 for i in set(kg.nodes[n].inputs) if i in inside) for n in seg}
    users: dict[str, list[str]] = {n: [] for n in seg}
    for n in seg:
        for i in set(kg.nodes[n].inputs):
            if i in inside:
                users[i].append(n)
    pos = {n: k for k, n in enumerate(seg)}
    ready = sorted((n for n in seg if waiting[n] == 0), key=pos.__getitem__)
    order = []
    while ready:
        last = order[-1] if order else None
        pick = next((n for n in ready if kg.nodes[n].inputs[:1] == [last]), ready[0]) if last else ready[0]
        ready.remove(pick)
        order.append(pick)
        for u in users[pick]:
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
        ready.sort(key=pos.__getitem__)
    return order


def _size(items) -> int:
    return sum(_count(i) for i in items)


def _count(item) -> int:
    if isinstance(item, Layer):
        return 1
    if isinstance(item, Wired):
        return len(item.nodes)
    if isinstance(item, Residual):
        return _size(item.body) + _size(item.shortcut or []) + 1 + (item.act is not None)
    return sum(_size(p) for p in item.paths) + 1


def _absorb_activations(items: list, outputs: set) -> list:
    """`Residual` + the `Activation` layer right after its merge → one residual with `activation:`."""
    out = []
    for item in items:
        prev = out[-1] if out else None
        if (isinstance(item, Layer) and item.node.op == role("activation") and isinstance(prev, Residual)
                and prev.act is None and prev.merge.name not in outputs and item.node.inputs == [prev.merge.name]):
            prev.act = item.node
            continue
        out.append(item)
    return out


def walk(items):
    """Every KNode under `items`, in emission order."""
    for item in items:
        if isinstance(item, Layer):
            yield item.node
        elif hasattr(item, "insts"):             # a block call (archspec.importer.units.Call)
            for inst in item.insts:
                yield from walk(inst.items if hasattr(inst, "items") else [inst])
        elif isinstance(item, Wired):
            yield from walk(item.items)
        elif isinstance(item, Residual):
            yield from walk(item.body)
            if item.shortcut:
                yield from walk(item.shortcut)
            yield item.merge
            if item.act:
                yield item.act
        elif isinstance(item, Branches):
            for p in item.paths:
                yield from walk(p)
            yield item.merge
