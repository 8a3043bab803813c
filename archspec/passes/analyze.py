"""Costs per node and per scope: parameters (trainable / non-trainable, as Keras counts them),
MACs, FLOPs, output activation size and memory, and peak activation memory for inference.

Conventions (docs/conventions.md): MACs count the multiply-accumulates of conv, depthwise,
separable, transposed-conv and dense layers; FLOPs follow TensorFlow's profiler (2 per MAC plus
bias adds, batch-norm scale/shift, pooling windows, merges and softmax; ReLU counts 0).
Activation memory = output elements × batch × dtype bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph import SEP, Graph
from ..ops import REGISTRY
from ..ops.shapes import size

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


@dataclass
class Cost:
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    flops: int = 0
    elements: int = 0           # output activation elements per example
    layers: int = 0

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


@dataclass
class Analysis:
    graph: Graph
    batch_size: int
    dtype: str
    nodes: dict[str, Cost]
    scopes: dict[str, Cost]
    total: Cost
    peak_bytes: int                 # peak live activation memory, inference, along definition order
    peak_at: str | None
    param_bytes: int
    train_bytes: int = 0            # rough training footprint (see estimate_training)

    @property
    def bytes_per_elem(self) -> int:
        return DTYPE_BYTES[self.dtype]

    def act_bytes(self, cost: Cost) -> int:
        return cost.elements * self.batch_size * self.bytes_per_elem


def analyze(graph: Graph, batch_size: int = 1, dtype: str = "float32") -> Analysis:
    nodes: dict[str, Cost] = {}
    scopes: dict[str, Cost] = {p: Cost() for p in graph.scopes}
    total = Cost()
    for n in graph:
        op = REGISTRY[n.op]
        ins = [graph[i].shape for i in n.inputs]
        out = n.shape
        t, nt = op.params(n.attrs, ins, out)
        c = Cost(t, nt, op.macs(n.attrs, ins, out), op.flops(n.attrs, ins, out),
                 size(out), 0 if op.source else 1)
        nodes[n.id] = c
        total.add(c)
        scope = n.scope
        while scope:
            scopes[scope].add(c)
            scope = scope.rsplit(SEP, 1)[0] if SEP in scope else ""
    peak, peak_at = peak_memory(graph)
    bpe = DTYPE_BYTES[dtype]
    a = Analysis(graph, batch_size, dtype, nodes, scopes, total, peak * batch_size * bpe, peak_at,
                 total.params * bpe)
    # training: weights + gradients + 2 Adam slots (float32), and every activation kept for backprop
    a.train_bytes = total.trainable * 4 * 4 + total.non_trainable * 4 + total.elements * batch_size * bpe
    return a


def peak_memory(graph: Graph) -> tuple[int, str | None]:
    """Peak number of live activation elements when running nodes in definition order.

    A tensor is live from the step that produces it until its last consumer has run; model outputs
    stay live to the end. Inputs count as live from the start.
    """
    last_use: dict[str, int] = {}
    order = list(graph.nodes)
    index = {nid: k for k, nid in enumerate(order)}
    for n in graph:
        for i in n.inputs:
            last_use[i] = max(last_use.get(i, -1), index[n.id])
    for o in graph.outputs.values():
        last_use[o] = len(order)
    live = 0
    peak, peak_at = 0, None
    frees: dict[int, int] = {}
    for k, nid in enumerate(order):
        n = graph[nid]
        live += size(n.shape)
        if live > peak:
            peak, peak_at = live, nid
        end = last_use.get(nid, k)
        frees[end] = frees.get(end, 0) + size(n.shape)
        live -= frees.pop(k, 0)
    return peak, peak_at
