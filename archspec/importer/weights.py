"""What a Keras model computes with, as against what it holds (imports Keras when called).

A model may hold weights none of its outputs depends on — KerasHub's BASNet keeps its ResNet encoder's
stem, which it replaces — and ``model.count_params()`` counts those too. A spec describes the computation,
so the importer's header and the round trip count the weights of the layers the outputs depend on, and
the importer names the rest in a warning.
"""
from __future__ import annotations



def _graph(model):
    """The plain functional model over `model`'s inputs and outputs (its computation, nothing else)."""
    import keras

    return keras.Model(model.inputs, model.outputs)


def graph_params(model, idle=()) -> int:
    """Keras's parameter count of what `model` computes: the weights of the layers its outputs depend on,
    less `idle` — weights such a layer holds but never computes with (KGraph.idle, from importer/blocks.py:
    DINOv2's mask token). A model may also hold weights no output depends on (KerasHub's BASNet keeps its
    ResNet encoder's stem, which it replaces); `model.count_params()` counts those too."""
    import math

    return _graph(model).count_params() - sum(math.prod(v.shape) for v in idle)


def unused_weights(model, idle=()) -> list:
    """The weights `model` holds that none of its outputs depends on, and the `idle` ones."""
    used = {id(v) for v in _graph(model).weights} - {id(v) for v in idle}
    return [v for v in model.weights if id(v) not in used]
