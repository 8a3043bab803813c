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

    def build(self, input_shape):
        # as archspec's scaled_add rule: no broadcasting (a mismatch is a bug in the network)
        a, b = (tuple(s)[1:] for s in input_shape)
        if len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a, b)):
            raise ValueError(f"ScaledAdd joins tensors of the same shape; got {a} and {b}")

    def call(self, inputs):
        shortcut, residual = inputs
        return keras.ops.add(shortcut, keras.ops.multiply(residual, keras.ops.cast(self.scale, residual.dtype)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="archspec")
class PositionEmbedding(keras.layers.Layer):
    """``x + E``: a learned embedding of the input's shape (one vector per token), ViT's AddPositionEmbs.

    >>> import numpy as np
    >>> layer = PositionEmbedding(stddev=0.0, name="pos")
    >>> np.asarray(layer(np.ones((2, 3, 4)))).shape, layer.count_params()
    ((2, 3, 4), 12)
    """

    def __init__(self, stddev: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)

    def build(self, input_shape):
        self.embedding = self.add_weight(name="embedding", shape=tuple(input_shape[1:]),
                                         initializer=keras.initializers.RandomNormal(stddev=self.stddev))

    def call(self, inputs):
        return inputs + keras.ops.cast(self.embedding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


@keras.saving.register_keras_serializable(package="archspec")
class ClassToken(keras.layers.Layer):
    """Prepends `tokens` learned vectors (initially zero) to a sequence: (B, T, D) → (B, T + tokens, D).

    >>> import numpy as np
    >>> layer = ClassToken(name="cls")
    >>> np.asarray(layer(np.ones((2, 3, 4)))).shape, layer.count_params()
    ((2, 4, 4), 4)
    """

    def __init__(self, tokens: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.tokens = int(tokens)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"ClassToken takes a sequence (batch, tokens, channels); got the shape {tuple(input_shape)}")
        self.token = self.add_weight(name="token", shape=(1, self.tokens, input_shape[-1]), initializer="zeros")

    def call(self, inputs):
        batch = keras.ops.shape(inputs)[0]
        token = keras.ops.broadcast_to(keras.ops.cast(self.token, inputs.dtype),
                                       (batch, self.tokens, keras.ops.shape(inputs)[-1]))
        return keras.ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        t = None if input_shape[1] is None else input_shape[1] + self.tokens
        return (input_shape[0], t, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "tokens": self.tokens}


@keras.saving.register_keras_serializable(package="archspec")
class SelectToken(keras.layers.Layer):
    """``x[:, index]``: one token of a sequence, (B, T, D) → (B, D).

    >>> import numpy as np
    >>> np.asarray(SelectToken(index=1)(np.arange(6.0).reshape(1, 3, 2))).tolist()
    [[2.0, 3.0]]
    """

    def __init__(self, index: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"SelectToken takes a sequence (batch, tokens, channels); got the shape {tuple(input_shape)}")
        t = input_shape[1]
        if t is not None and not -t <= self.index < t:
            raise ValueError(f"SelectToken index {self.index} is out of range for {t} tokens")

    def call(self, inputs):
        return inputs[:, self.index]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "index": self.index}


@keras.saving.register_keras_serializable(package="archspec")
class LayerScale(keras.layers.Layer):
    """``x · γ`` per channel (last axis), γ initially `init_values`: ConvNeXt's LayerScale
    (keras.applications.convnext.LayerScale, same weight and config); `projection_dim` is taken from
    the input when not given.

    >>> import numpy as np
    >>> layer = LayerScale(0.5)
    >>> np.asarray(layer(np.ones((1, 2, 3)))).tolist(), layer.projection_dim
    ([[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]], 3)
    """

    def __init__(self, init_values: float = 1e-6, projection_dim: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.init_values = float(init_values)
        self.projection_dim = projection_dim

    def build(self, input_shape):
        self.projection_dim = self.projection_dim or int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(self.projection_dim,),
                                     initializer=keras.initializers.Constant(self.init_values))

    def call(self, inputs):
        return inputs * keras.ops.cast(self.gamma, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


@keras.saving.register_keras_serializable(package="archspec")
class GELU(keras.layers.Layer):
    """``keras.activations.gelu(x, approximate)`` as a layer (Keras has no GELU layer): exact (erf) or the
    tanh approximation of GPT-2.

    >>> import numpy as np
    >>> [round(float(v), 4) for v in np.asarray(GELU(approximate=True)(np.array([1.0])))]
    [0.8412]
    """

    def __init__(self, approximate: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.approximate = bool(approximate)

    def call(self, inputs):
        return keras.activations.gelu(inputs, approximate=self.approximate)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "approximate": self.approximate}


@keras.saving.register_keras_serializable(package="archspec")
class SinePosition(keras.layers.Layer):
    """``x + PE[:steps]``, the sinusoidal position encoding (archspec.ops.tokens.sinusoid) added to a sequence.
    With `table`, PE is a non-trainable weight of `table` rows (Whisper keeps it as a buffer, and pretrained
    weights carry it); without, a constant computed when the layer is built.

    >>> import numpy as np
    >>> layer = SinePosition(table=5, layout="split")
    >>> y = np.asarray(layer(np.zeros((1, 3, 4))))
    >>> y.shape, layer.count_params(), [round(float(v), 4) for v in y[0, 1]]
    ((1, 3, 4), 20, [0.8415, 0.0001, 0.5403, 1.0])
    """

    def __init__(self, max_wavelength: float = 10000.0, layout: str = "interleaved", table: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength, self.layout, self.table = float(max_wavelength), layout, table

    def build(self, input_shape):
        from .tokens import sinusoid

        if len(input_shape) != 3:
            raise ValueError(f"SinePosition takes a sequence (batch, steps, features); got the shape {tuple(input_shape)}")
        steps, dim = input_shape[-2], int(input_shape[-1])
        # as archspec's sine_position rule (tests/test_differential.py): the layer refuses what the spec does
        if dim % 2 or (self.layout == "split" and dim < 4):
            raise ValueError(f"SinePosition pairs sines with cosines: {dim} features (layout {self.layout}) will not do")
        if self.table is not None and steps is not None and steps > self.table:
            raise ValueError(f"the sequence has {steps} steps but the position table only {self.table}")
        if self.table is not None:
            self.positions = self.add_weight(name="positions", shape=(self.table, dim), initializer="zeros",
                                             trainable=False)
            self.positions.assign(sinusoid(self.table, dim, self.max_wavelength, self.layout).astype("float32"))
        else:
            if steps is None:
                raise ValueError("SinePosition without `table` needs a fixed sequence length")
            self._encoding = sinusoid(steps, dim, self.max_wavelength, self.layout).astype("float32")

    def call(self, inputs):
        steps = keras.ops.shape(inputs)[-2]
        if self.table is not None:
            pe = keras.ops.slice(keras.ops.convert_to_tensor(self.positions), (0, 0), (steps, keras.ops.shape(inputs)[-1]))
        else:
            pe = keras.ops.convert_to_tensor(self._encoding)
        return inputs + keras.ops.cast(pe, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength, "layout": self.layout,
                "table": self.table}


@keras.saving.register_keras_serializable(package="archspec")
class NoKeyBiasAttention(keras.layers.MultiHeadAttention):
    """keras.layers.MultiHeadAttention whose key projection has no bias (the query, value and output
    projections keep theirs): Whisper's attention (OpenAI's `key = Linear(n_state, n_state, bias=False)`,
    KerasHub's WhisperCachedMultiHeadAttention). A key bias adds q·b to every score of a query, which the
    softmax cancels: it never changed the output, only the parameter count.

    >>> layer = NoKeyBiasAttention(num_heads=2, key_dim=4)
    >>> import numpy as np
    >>> _ = layer(np.zeros((1, 3, 8)), np.zeros((1, 3, 8)))
    >>> layer.count_params()          # 4·(8·8) weights + 3·8 biases (query, value, output)
    280
    """

    def __init__(self, key_bias: bool = False, **kwargs):
        if key_bias:
            raise ValueError("NoKeyBiasAttention has no key bias: use keras.layers.MultiHeadAttention")
        super().__init__(**kwargs)

    def get_config(self):
        return {**super().get_config(), "key_bias": False}

    def build(self, query_shape, value_shape, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        key = self._key_dense
        if key.bias is not None:
            key._untrack_variable(key.bias)
            key._tracker.unlock()
            key.bias = None
            key._tracker.lock()


__all__ = ["ScaledAdd", "PositionEmbedding", "ClassToken", "SelectToken", "LayerScale", "GELU", "SinePosition",
           "NoKeyBiasAttention"]
