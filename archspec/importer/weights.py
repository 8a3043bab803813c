"""What a Keras model computes with, as against what it holds (imports Keras when called).

A model may hold weights none of its outputs depends on — KerasHub's BASNet keeps its ResNet encoder's
stem, which it replaces — and ``model.count_params()`` counts those too. A spec describes the computation,
so the importer's header and the round trip count the weights of the layers the outputs depend on, and
the importer names the rest in a warning.
"""
from __future__ import annotations

from .blocks import idle_weights


def _graph(model):
    """The plain functional model over `model`'s inputs and outputs (its computation, nothing else)."""
    import keras

    return keras.Model(model.inputs, model.outputs)


def graph_params(model) -> int:
    """Keras's parameter count of what `model` computes: the weights of the layers its outputs depend on,
    less those such a layer holds but never computes with (importer/blocks.py: DINOv2's mask token).
    A model may also hold weights no output depends on (KerasHub's BASNet keeps its ResNet encoder's
    stem, which it replaces); `model.count_params()` counts those too."""
    import math

    graph = _graph(model)
    return graph.count_params() - sum(math.prod(v.shape) for v in idle_weights(graph))


def unused_weights(model) -> list:
    """The weights `model` holds that none of its outputs depends on, or that the layer holding them never
    computes with."""
    graph = _graph(model)
    idle = {id(v) for v in idle_weights(graph)}
    used = {id(v) for v in graph.weights} - idle
    return [v for v in model.weights if id(v) not in used]
