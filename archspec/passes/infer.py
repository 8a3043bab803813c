"""Shape inference over a whole graph, in definition (= topological) order.

Expansion already infers shapes node by node (block bodies may read `$in.channels`); this pass
re-derives every shape from the inputs alone, so tests and `lint()` can prove the graph is
self-consistent after any transformation.
"""
from __future__ import annotations

from ..graph import Graph
from ..ops import REGISTRY


def infer_shapes(graph: Graph) -> dict[str, tuple]:
    shapes: dict[str, tuple] = {}
    for n in graph:
        shapes[n.id] = tuple(REGISTRY[n.op].infer(n.attrs, [shapes[i] for i in n.inputs]))
    return shapes


def check_shapes(graph: Graph) -> list[str]:
    """Nodes whose stored shape differs from a fresh inference (empty when consistent)."""
    fresh = infer_shapes(graph)
    return [f"{n.id}: stored {n.shape}, inferred {fresh[n.id]}" for n in graph if fresh[n.id] != n.shape]
