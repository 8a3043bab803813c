"""Custom Keras layers that ops build (their ``build_keras``). Importing this module imports Keras.

They live with the ops (an op's Keras layer is part of its story); :mod:`archspec.compile.layers`
re-exports them. Registered names do not depend on the module: a ``.keras`` file saved when the class
lived in ``archspec.compile.layers`` loads unchanged.

Each layer is registered with ``keras.saving.register_keras_serializable(package="archspec")``, so a
saved ``.keras`` file names it ``archspec>ScaledAdd``. Keras 3 will not import a module that is not
part of Keras while loading (``serialization_lib._retrieve_class_or_fn``), so the class must be
registered before ``keras.saving.load_model``: ``import archspec`` arranges that without importing Keras
itself (see :func:`archspec.compile.register_on_keras_import`, which imports this module).

Only ``keras.ops`` is used, so the layers run on every Keras backend (TensorFlow, JAX, PyTorch).
"""
from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="archspec")
class ScaledAdd(keras.layers.Layer):
    """``inputs[0] + scale * inputs[1]``: Inception-ResNet's scaled residual connection.

    Replaces the seeds' ``Lambda(lambda x: x[0] + x[1] * scale)``, which cannot be saved portably
    (a Lambda stores Python bytecode and is refused by ``load_model(safe_mode=True)``).

    >>> import numpy as np
    >>> layer = ScaledAdd(scale=0.5, name="res")
    >>> np.asarray(layer([np.ones((1, 2)), np.full((1, 2), 4.0)])).tolist()
    [[3.0, 3.0]]
    >>> ScaledAdd.from_config(layer.get_config()).scale
    0.5
    """

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        shortcut, residual = inputs
        return keras.ops.add(shortcut, keras.ops.multiply(residual, keras.ops.cast(self.scale, residual.dtype)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


__all__ = ["ScaledAdd"]
