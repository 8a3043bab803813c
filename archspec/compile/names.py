"""Keras layer names from scope paths. Keras refuses ``/`` in a layer name, so the path separator
becomes a dot: the node ``stage3/block_2/conv2d`` is the layer ``stage3.block_2.conv2d``.

>>> keras_name("stage3/block_2/conv2d")
'stage3.block_2.conv2d'
>>> keras_name("predictions")
'predictions'
"""
from __future__ import annotations

KERAS_SEP = "."


def keras_name(path: str) -> str:
    """The Keras layer name of the node at scope path `path`."""
    return path.replace("/", KERAS_SEP)
