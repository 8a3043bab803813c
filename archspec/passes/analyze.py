"""Costs per node and per scope: parameters (trainable / non-trainable, as Keras counts them),
MACs, FLOPs, output activation size and memory, and peak activation memory for inference.

Each op counts its own (ops/, the conventions in docs/conventions.md, its FLOP table generated from
each op's `flops_rule`); this module sums them. Activation memory = output elements × batch × dtype bytes.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..fast.dataclasses_lite import Record
from ..graph import Graph
from ..ops import REGISTRY
from ..ops.shapes import size

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


class Cost(Record):
    """Parameters (trainable, non-trainable), MACs, FLOPs, output activation elements per example and
    layers, of one layer or summed over a scope."""

    __slots__ = _fields = ("trainable", "non_trainable", "macs", "flops", "elements", "layers")

    def __init__(self, trainable: int = 0, non_trainable: int = 0, macs: int = 0, flops: int = 0,
                 elements: int = 0, layers: int = 0):
        self.trainable, self.non_trainable, self.macs, self.flops = trainable, non_trainable, macs, flops
        self.elements, self.layers = elements, layers

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable

    def add(self, other: "Cost") -> None:
        self.trainable += other.trainable
        self.non_trainable += other.non_trainable
        self.macs += other.macs
        self.flops += other.flops
        self.elements += other.elements
        self.layers += other.layers


class Analysis(Record):
    """Costs of a graph: per node and per scope, the total, the peak live activation memory (inference,
    along definition order) and where it peaks, and the parameter memory."""

    _fields = ("graph", "batch_size", "dtype", "nodes", "scopes", "total", "peak_bytes", "peak_at", "param_bytes")

    def __init__(self, graph: Graph, batch_size: int, dtype: str, nodes: dict, scopes: dict, total: Cost,
                 peak_bytes: int, peak_at: str | None, param_bytes: int):
        self.graph, self.batch_size, self.dtype, self.nodes, self.scopes = graph, batch_size, dtype, nodes, scopes
        self.total, self.peak_bytes, self.peak_at, self.param_bytes = total, peak_bytes, peak_at, param_bytes

    @property
    def bytes_per_elem(self) -> int:
        return DTYPE_BYTES[self.dtype]

    def act_bytes(self, cost: Cost) -> int:
        return cost.elements * self.batch_size * self.bytes_per_elem


def node_cost(graph: Graph, n) -> tuple:
    """(trainable, non_trainable, macs, flops, output elements) of one node, cached on the node: it
    depends only on the op, its attributes and its input and output shapes, which never change."""
    c = n.cost
    if c is None:
        op = REGISTRY[n.op]
        ins = [graph.nodes[i].shape for i in n.inputs]
        out = n.shape
        t, nt = op.params(n.attrs, ins, out)
        c = n.cost = (t, nt, op.macs(n.attrs, ins, out), op.flops(n.attrs, ins, out), size(out))
    return c


class NodeCosts(Mapping):
    """node id -> Cost, made on access from the costs cached on the nodes (a 100,000-layer graph
    need not hold 100,000 more objects for a report that shows its blocks)."""

    def __init__(self, graph: Graph):
        self._graph = graph

    def __getitem__(self, node_id: str) -> Cost:
        n = self._graph.nodes[node_id]
        c = n.cost or node_cost(self._graph, n)
        return Cost(c[0], c[1], c[2], c[3], c[4], REGISTRY[n.op].layers(n.attrs))

    def __iter__(self):
        return iter(self._graph.nodes)

    def __len__(self) -> int:
        return len(self._graph.nodes)


def analyze(graph: Graph, batch_size: int = 1, dtype: str = "float32") -> Analysis:
    sums = {p: [0, 0, 0, 0, 0, 0] for p in graph.scopes}
    parent = {p: s.parent for p, s in graph.scopes.items()}
    t = nt = macs = flops = elements = layers = 0
    per_op = _fixed_layers()
    for n in graph.nodes.values():
        c = n.cost or node_cost(graph, n)
        layer = per_op[n.op]
        if layer is None:
            layer = REGISTRY[n.op].layers(n.attrs)
        t += c[0]
        nt += c[1]
        macs += c[2]
        flops += c[3]
        elements += c[4]
        layers += layer
        scope = n.scope
        while scope:
            acc = sums[scope]
            acc[0] += c[0]
            acc[1] += c[1]
            acc[2] += c[2]
            acc[3] += c[3]
            acc[4] += c[4]
            acc[5] += layer
            scope = parent[scope]
    scopes = {p: Cost(*v) for p, v in sums.items()}
    return _finish(graph, batch_size, dtype, NodeCosts(graph), scopes, Cost(t, nt, macs, flops, elements, layers))


_FIXED: dict = {}


def _fixed_layers() -> dict:
    """op name -> the layers each of its nodes counts as (Op.layers), None for a summary op (ops/summary.py),
    whose nodes answer for themselves; looked up once per node in the loops over 100,000-layer graphs and
    pricing graphs. Rebuilt when an op is registered."""
    if len(_FIXED) != len(REGISTRY):
        _FIXED.clear()
        _FIXED.update({k: None if op.summary else op.layers(None) for k, op in REGISTRY.items()})
    return _FIXED


def _finish(graph, batch_size, dtype, nodes, scopes, total) -> Analysis:
    peak, peak_at = peak_memory(graph)
    bpe = DTYPE_BYTES[dtype]
    return Analysis(graph, batch_size, dtype, nodes, scopes, total, peak * batch_size * bpe, peak_at,
                    total.params * bpe)


def totals(graph: Graph, batch_size: int = 1, dtype: str = "float32") -> Analysis:
    """The whole-model figures of :func:`analyze` without the per-node and per-scope tables (left
    empty). Also takes pricing graphs, where one summary node (ops/summary.py) stands for a whole block call."""
    t = nt = macs = flops = elements = layers = 0
    fragments = False
    per_op = _fixed_layers()
    for n in graph.nodes.values():
        c = n.cost or node_cost(graph, n)
        t += c[0]
        nt += c[1]
        macs += c[2]
        flops += c[3]
        elements += c[4]
        layer = per_op[n.op]
        if layer is None:                    # a summary node: the layers of the call it stands for
            layer = REGISTRY[n.op].layers(n.attrs)
            fragments = True
        layers += layer
    total = Cost(t, nt, macs, flops, elements, layers)
    if not fragments:
        return _finish(graph, batch_size, dtype, {}, {}, total)
    peak = max(profile(list(graph.nodes.values()), {}, list(graph.outputs.values())).values())
    bpe = DTYPE_BYTES[dtype]
    return Analysis(graph, batch_size, dtype, {}, {}, total, peak * batch_size * bpe, None, total.params * bpe)


def profile(nodes: list, ext: dict, keep: list) -> dict:
    """The peak-memory profile of `nodes` run in order (the algorithm of :func:`peak_memory`), as
    {frozenset of external input positions: peak}. Tensors named in `keep` stay live to the end;
    `ext` maps the ids of tensors made outside (a block call's inputs) to their positions. An
    external tensor that nothing after these nodes uses is freed after its last use here, so a peak
    reached later is lower by its size: the key lists the positions whose size to subtract then.
    A node that runs many layers (a summary node) contributes its own recorded profile (`Op.peak_profile`), so
    profiles compose exactly."""
    index = {n.id: k for k, n in enumerate(nodes)}
    per_op = _fixed_layers()
    end = len(nodes)
    last = list(range(end))
    last_ext: dict = {}
    for k, n in enumerate(nodes):
        for i in n.inputs:
            j = index.get(i)
            if j is None:
                last_ext[ext[i]] = k
            elif last[j] < k:
                last[j] = k
    for o in keep:
        last[index[o]] = end
    ext_freed: dict = {}
    for pos, k in last_ext.items():
        ext_freed.setdefault(k, []).append(pos)
    gone = frozenset()
    live = 0
    frees = [0] * (end + 1)
    cands: dict = {}
    for k, n in enumerate(nodes):
        own = None if per_op[n.op] is not None else REGISTRY[n.op].peak_profile(n.attrs)   # a summary node
        if own is not None:
            ins = n.inputs
            for sub, b in own.items():
                base, extra = live + b, set()
                for pos in sub:
                    i = ins[pos]
                    j = index.get(i)
                    if j is None:
                        if last_ext[ext[i]] == k:
                            extra.add(ext[i])
                    elif last[j] == k:
                        m = nodes[j]
                        base -= m.cost[4] if per_op[m.op] is not None else REGISTRY[m.op].output_elements(m.attrs, m.cost)
                key = gone | extra if extra else gone
                if cands.get(key, -1) < base:
                    cands[key] = base
            elems = REGISTRY[n.op].output_elements(n.attrs, n.cost)
            live += elems
        else:
            elems = n.cost[4]
            live += elems
            if cands.get(gone, -1) < live:
                cands[gone] = live
        frees[last[k]] += elems
        live -= frees[k]
        if k in ext_freed:
            gone = gone | frozenset(ext_freed[k])
    return cands


def peak_memory(graph: Graph) -> tuple[int, str | None]:
    """Peak number of live activation elements when running nodes in definition order.

    A tensor is live from the step that produces it until its last consumer has run; model outputs
    stay live to the end. Inputs count as live from the start.
    """
    nodes = graph.nodes
    index = {nid: k for k, nid in enumerate(nodes)}
    last_use = [k for k in range(len(index))]
    for k, n in enumerate(nodes.values()):
        for i in n.inputs:
            j = index[i]
            if last_use[j] < k:
                last_use[j] = k
    end = len(index)
    for o in graph.outputs.values():
        last_use[index[o]] = end
    live = 0
    peak, peak_at = 0, None
    frees = [0] * (end + 1)
    for k, n in enumerate(nodes.values()):
        c = n.cost
        elems = c[4] if c is not None else size(n.shape)
        live += elems
        if live > peak:
            peak, peak_at = live, n.id
        frees[last_use[k]] += elems
        live -= frees[k]
    return peak, peak_at
