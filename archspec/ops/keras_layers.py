"""Custom Keras layers that ops build (their ``build_keras``). Importing this module imports Keras.

They live with the ops (an op's Keras layer is part of its story); ``archspec.layers`` is this module.
Registered names do not depend on the module: a ``.keras`` file saved when the classes lived in
``archspec.compile.layers`` loads unchanged.

Each layer is registered with ``keras.saving.register_keras_serializable(package="archspec")``, so a
saved ``.keras`` file names it ``archspec>ScaledAdd``. Keras 3 will not import a module that is not
part of Keras while loading (``serialization_lib._retrieve_class_or_fn``), so the class must be
registered before ``keras.saving.load_model``: ``import archspec`` arranges that without importing Keras
itself (see :func:`archspec.compile.register_on_keras_import`, which imports this module).

Only ``keras.ops`` is used, so the layers run on every Keras backend (TensorFlow, JAX, PyTorch).
"""
from __future__ import annotations

import keras

from .tables import alibi_slopes                       # (pure Python: one place for ALiBi's slopes)


@keras.saving.register_keras_serializable(package="archspec")
def gelu_approximate(x):
    """GELU's tanh form, ``keras.activations.gelu(x, approximate=True)`` — what BERT and GPT-2 use (KerasHub's
    ``gelu_approximate``); a registered function, so ``activation=`` of a saved layer names it.

    >>> import numpy as np
    >>> round(float(np.asarray(gelu_approximate(np.float32(1.0)))), 6)
    0.841192
    """
    return keras.activations.gelu(x, approximate=True)


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
    """``x + E``: a learned embedding added to the input. Without `length`, E has the input's shape (one
    vector per token), ViT's AddPositionEmbs; with it, E is a table of `length` rows of which the first T
    are added to T tokens — KerasHub's PositionEmbedding (same weight, (length, features)) and the sum
    BERT and GPT-2 make of it.

    >>> import numpy as np
    >>> layer = PositionEmbedding(stddev=0.0, name="pos")
    >>> np.asarray(layer(np.ones((2, 3, 4)))).shape, layer.count_params()
    ((2, 3, 4), 12)
    >>> table = PositionEmbedding(length=16)
    >>> np.asarray(table(np.ones((2, 3, 4)))).shape, table.count_params()
    ((2, 3, 4), 64)

    With ``add=False`` it returns E alone (broadcast over the batch), as KerasHub's PositionEmbedding does:

    >>> alone = PositionEmbedding(length=16, add=False)
    >>> out = np.asarray(alone(np.ones((2, 3, 4))))
    >>> bool(np.allclose(out[0], np.asarray(alone.embedding)[:3]))
    True
    """

    def __init__(self, stddev: float = 0.02, length: int | None = None, add: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)
        self.length = None if length is None else int(length)
        self.add = bool(add)

    def build(self, input_shape):
        if self.length is not None:          # as archspec's rule: a table of rows for a sequence of tokens
            if len(input_shape) != 3:
                raise ValueError(f"PositionEmbedding with `length` takes (batch, tokens, features); got {tuple(input_shape)}")
            if input_shape[1] is not None and input_shape[1] > self.length:
                raise ValueError(f"a sequence of {input_shape[1]} tokens is longer than the table's {self.length} rows")
        shape = tuple(input_shape[1:]) if self.length is None else (self.length, input_shape[-1])
        self.embedding = self.add_weight(name="embedding", shape=shape,
                                         initializer=keras.initializers.RandomNormal(stddev=self.stddev))

    def call(self, inputs):
        table = keras.ops.cast(self.embedding, inputs.dtype)
        if self.length is not None:
            table = keras.ops.slice(table, (0, 0), (keras.ops.shape(inputs)[-2], keras.ops.shape(inputs)[-1]))
        if not self.add:
            return keras.ops.broadcast_to(table, keras.ops.shape(inputs))
        return inputs + table

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = {**super().get_config(), "stddev": self.stddev}
        if self.length is not None:
            config["length"] = self.length
        if not self.add:
            config["add"] = False
        return config


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




def rotate(x, wavelength: float):
    """Rotary position embedding (RoFormer) of `x` (batch, tokens, heads, size): feature pairs (j, j + size/2)
    of token t rotated by the angle t / wavelength^(2j/size) — the half-split form Llama uses (KerasHub's
    RotaryEmbedding), computed with the same operations."""
    ops = keras.ops
    size = x.shape[-1]
    inverse_freq = 1.0 / (wavelength ** ops.divide(ops.arange(0, size, 2, dtype="float32"),
                                                   ops.cast(size, "float32")))
    positions = ops.expand_dims(ops.arange(ops.shape(x)[1], dtype="float32"), 0)
    freq = ops.einsum("bi,j->bij", positions, inverse_freq)
    angle = ops.reshape(ops.stack((freq, freq), axis=-2), (*ops.shape(freq)[:-1], ops.shape(freq)[-1] * 2))
    angle = ops.expand_dims(angle, 2)
    cos, sin = ops.cast(ops.cos(angle), x.dtype), ops.cast(ops.sin(angle), x.dtype)
    x1, x2 = ops.split(x, 2, axis=-1)
    half = ops.reshape(ops.stack((-x2, x1), axis=-2), ops.shape(x))
    return x * cos + half * sin


def alibi_bias(heads: int, keys, dtype):
    """(1, heads, 1, keys): m_h · (j − keys + 1) for key j, added to the scores (batch, heads, queries, keys)."""
    ops = keras.ops
    slopes = ops.expand_dims(ops.convert_to_tensor(alibi_slopes(heads), dtype=dtype), 1)
    positions = ops.cast(ops.expand_dims(ops.arange(1 - keys, 1, dtype="int32"), 0), dtype)
    return ops.expand_dims(ops.expand_dims(ops.multiply(slopes, positions), 1), 0)


@keras.saving.register_keras_serializable(package="archspec")
class GroupedAttention(keras.layers.Layer):
    """Multi-head attention with grouped key/value heads and rotary position embedding: each of
    `key_value_heads` key/value heads serves num_heads / key_value_heads query heads (grouped-query
    attention; 1 is multi-query), and `rotary` rotates queries and keys by their position (RoPE) — Llama's,
    Mistral's, Qwen's attention (KerasHub's LlamaAttention computes the same). Same call as Keras's
    MultiHeadAttention: `layer(query, value, key=None, value_mask=None, use_causal_mask=False)`; same weights
    (query, key, value, output projections as EinsumDense, kernel then bias), key and value with
    `key_value_heads` heads.

    >>> import numpy as np
    >>> layer = GroupedAttention(num_heads=4, key_dim=8, key_value_heads=2, rotary=True)
    >>> x = np.ones((1, 5, 16), "float32")
    >>> np.asarray(layer(x, x, use_causal_mask=True)).shape, layer.count_params()   # q 16·32+32, k and v 16·16+16, out 32·16+16
    ((1, 5, 16), 1616)
    """

    def __init__(self, num_heads: int, key_dim: int, key_value_heads: int | None = None, value_dim: int | None = None,
                 output_shape: int | None = None, dropout: float = 0.0, use_bias: bool = True, rotary: bool = False,
                 rotary_wavelength: float = 10000.0, key_bias: bool = True, logit_soft_cap: float | None = None,
                 qk_norm: bool = False, qk_norm_unit_offset: bool = False, qk_norm_epsilon: float = 1e-6,
                 alibi: bool = False, alibi_positions: str = "keys", alibi_scaled: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.alibi, self.alibi_positions, self.alibi_scaled = bool(alibi), alibi_positions, bool(alibi_scaled)
        self.qk_norm, self.qk_norm_unit_offset = bool(qk_norm), bool(qk_norm_unit_offset)
        self.qk_norm_epsilon = float(qk_norm_epsilon)
        self.key_bias = bool(key_bias)
        self.logit_soft_cap = None if logit_soft_cap is None else float(logit_soft_cap)
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.key_value_heads = int(key_value_heads or num_heads)
        if self.num_heads % self.key_value_heads:
            raise ValueError(f"num_heads ({num_heads}) must be a multiple of key_value_heads ({key_value_heads})")
        self.value_dim = int(value_dim or key_dim)
        self.output_dim = None if output_shape is None else int(output_shape)
        self.dropout, self.use_bias = float(dropout), bool(use_bias)
        self.rotary, self.rotary_wavelength = bool(rotary), float(rotary_wavelength)
        if self.rotary and self.key_dim % 2:
            raise ValueError(f"rotary position embedding rotates pairs of features: key_dim ({key_dim}) must be even")
        self._dropout_layer = keras.layers.Dropout(self.dropout)
        self._softmax = keras.layers.Softmax(axis=-1, dtype="float32")

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        out = self.output_dim or query_shape[-1]
        bias = "uh" if self.use_bias else None

        def dense(name, equation, shape, bias_axes, input_shape):
            layer = keras.layers.EinsumDense(equation, output_shape=shape, bias_axes=bias_axes, name=name)
            layer.build(input_shape)
            return layer

        self._query = dense("query", "bqm,muh->bquh", (None, self.num_heads, self.key_dim), bias, query_shape)
        self._key = dense("key", "bkm,muh->bkuh", (None, self.key_value_heads, self.key_dim),
                          bias if self.key_bias else None, key_shape)
        self._value = dense("value", "bkm,muh->bkuh", (None, self.key_value_heads, self.value_dim), bias, value_shape)
        self._output = dense("attention_output", "bquh,uhm->bqm", (None, out), "m" if self.use_bias else None,
                             (None, None, self.num_heads, self.value_dim))
        if self.qk_norm:                          # over each head's features: a scale of key_dim for each
            def norm(name, heads):
                layer = (UnitOffsetRMSNorm(epsilon=self.qk_norm_epsilon, name=name) if self.qk_norm_unit_offset
                         else keras.layers.RMSNormalization(epsilon=self.qk_norm_epsilon, name=name))
                layer.build((None, None, heads, self.key_dim))
                return layer

            self._query_norm, self._key_norm = norm("query_norm", self.num_heads), norm("key_norm", self.key_value_heads)
        self.built = True

    def call(self, query, value, key=None, value_mask=None, use_causal_mask=False, training=None):
        ops = keras.ops
        key = value if key is None else key
        q, k, v = self._query(query), self._key(key), self._value(value)
        if self.qk_norm:
            q, k = self._query_norm(q), self._key_norm(k)
        if self.rotary:
            q, k = rotate(q, self.rotary_wavelength), rotate(k, self.rotary_wavelength)
        groups = self.num_heads // self.key_value_heads
        if groups > 1:
            k, v = ops.repeat(k, groups, axis=2), ops.repeat(v, groups, axis=2)
        scores = ops.einsum("bquh,bkuh->buqk", q, k)
        scores = ops.multiply(scores, ops.cast(1.0 / float(self.key_dim) ** 0.5, scores.dtype))
        if self.alibi:                                       # BLOOM: m_h · (j − Tk + 1); Falcon: unpadded positions
            if self.alibi_positions == "unpadded" and value_mask is not None:
                pad = ops.cast(value_mask, "int32")
                positions = ops.cast((ops.cumsum(pad, axis=-1) - 1) * pad, scores.dtype)          # (B, Tk)
                slopes = ops.convert_to_tensor(alibi_slopes(self.num_heads), dtype=scores.dtype)
                bias = ops.expand_dims(slopes[None, :, None] * positions[:, None, :], 2)        # (B, H, 1, Tk)
            else:
                bias = alibi_bias(self.num_heads, ops.shape(k)[1], scores.dtype)
            if self.alibi_scaled:                            # added before the scaling: scaled with the scores
                bias = ops.multiply(bias, ops.cast(1.0 / float(self.key_dim) ** 0.5, scores.dtype))
            scores = ops.add(scores, bias)
        if self.logit_soft_cap is not None:                                    # Gemma 2: cap · tanh(s / cap)
            scores = ops.multiply(ops.tanh(ops.divide(scores, self.logit_soft_cap)), self.logit_soft_cap)
        mask = None
        if value_mask is not None:
            mask = ops.expand_dims(ops.cast(value_mask, "bool"), 1)                   # (B, 1, Tk)
        if use_causal_mask:
            tq, tk = ops.shape(q)[1], ops.shape(k)[1]
            causal = ops.expand_dims(ops.greater_equal(ops.expand_dims(ops.arange(tq), 1) + (tk - tq),
                                                       ops.expand_dims(ops.arange(tk), 0)), 0)   # (1, Tq, Tk)
            mask = causal if mask is None else ops.logical_and(mask, causal)
        probs = self._softmax(scores, mask=None if mask is None else ops.expand_dims(mask, 1))   # (a keyword: Keras
        # passes mask= itself to a layer whose call takes one, so a positional None clashed without any mask)
        probs = self._dropout_layer(ops.cast(probs, q.dtype), training=training)
        return self._output(ops.einsum("buqk,bkuh->bquh", probs, v))

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return (*query_shape[:-1], self.output_dim or query_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "key_value_heads": self.key_value_heads, "value_dim": self.value_dim, "output_shape": self.output_dim,
                "dropout": self.dropout, "use_bias": self.use_bias, "rotary": self.rotary,
                "rotary_wavelength": self.rotary_wavelength, "key_bias": self.key_bias,
                "logit_soft_cap": self.logit_soft_cap, "qk_norm": self.qk_norm,
                "qk_norm_unit_offset": self.qk_norm_unit_offset, "qk_norm_epsilon": self.qk_norm_epsilon,
                "alibi": self.alibi, "alibi_positions": self.alibi_positions, "alibi_scaled": self.alibi_scaled}


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
    """``x + PE[:steps]``, the sinusoidal position encoding (archspec.ops.tables.sinusoid) added to a sequence.
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
        from .tables import sinusoid

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


@keras.saving.register_keras_serializable(package="archspec")
class UnitOffsetRMSNorm(keras.layers.Layer):
    """``x · rsqrt(mean(x²) + ε) · (1 + scale)`` over `axis` (the last by default), computed in float32: Gemma's RMS norm
    (KerasHub's gemma.rms_normalization.RMSNormalization and Gemma 3's), whose `scale` starts at 0 — the
    same weight (`scale`, one per feature). keras.layers.RMSNormalization multiplies by `scale` itself.

    >>> import numpy as np
    >>> layer = UnitOffsetRMSNorm()
    >>> [round(float(v), 4) for v in np.asarray(layer(np.array([[3.0, 4.0]])))[0]], layer.count_params()
    ([0.8485, 1.1314], 2)
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-6, unit_offset: bool = True, **kwargs):
        if not unit_offset:
            raise ValueError("UnitOffsetRMSNorm scales by 1 + scale: use keras.layers.RMSNormalization")
        super().__init__(**kwargs)
        self.axis, self.epsilon = int(axis), float(epsilon)

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"axis {self.axis} is out of range for the input shape {tuple(input_shape)}")
        self._axis = self.axis % rank
        self.scale = self.add_weight(name="scale", shape=(int(input_shape[self._axis]),), initializer="zeros")

    def call(self, inputs):
        ops = keras.ops
        x = ops.cast(inputs, "float32")
        var = ops.mean(ops.square(x), axis=self._axis, keepdims=True)
        shape = [1] * len(inputs.shape)
        shape[self._axis] = -1                              # the scale along the normalized axis
        scale = ops.reshape(1 + ops.cast(self.scale, "float32"), shape)
        return ops.cast(x * ops.reciprocal(ops.sqrt(var + self.epsilon)) * scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "unit_offset": True}


__all__ = ["gelu_approximate", "GroupedAttention", "ScaledAdd", "PositionEmbedding", "ClassToken", "SelectToken", "LayerScale",
           "GELU", "SinePosition", "NoKeyBiasAttention",
           "UnitOffsetRMSNorm"]
