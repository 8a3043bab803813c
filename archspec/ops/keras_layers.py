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

from .tables import alibi_slopes  # (pure Python: one place for ALiBi's slopes)


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

    def __init__(self, stddev: float = 0.02, length: int | None = None, add: bool = True, start: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)
        self.length = None if length is None else int(length)
        self.add = bool(add)
        self.start = int(start)                 # the first row taken (KerasHub's start_index)
        if self.start and self.length is None:
            raise ValueError("PositionEmbedding's start picks a row of a table: give its length too")

    def build(self, input_shape):
        if self.length is not None:          # as archspec's rule: a table of rows for a sequence of tokens
            if len(input_shape) != 3:
                raise ValueError(f"PositionEmbedding with `length` takes (batch, tokens, features); got {tuple(input_shape)}")
            if input_shape[1] is not None and input_shape[1] > self.length - self.start:
                raise ValueError(f"a sequence of {input_shape[1]} tokens is longer than the table's {self.length} rows "
                                 f"from row {self.start}")
        shape = tuple(input_shape[1:]) if self.length is None else (self.length, input_shape[-1])
        self.embedding = self.add_weight(name="embedding", shape=shape,
                                         initializer=keras.initializers.RandomNormal(stddev=self.stddev))

    def call(self, inputs):
        table = keras.ops.cast(self.embedding, inputs.dtype)
        if self.length is not None:
            table = keras.ops.slice(table, (self.start, 0), (keras.ops.shape(inputs)[-2], keras.ops.shape(inputs)[-1]))
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
        if self.start:
            config["start"] = self.start
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




def inverse_frequencies(size: int, wavelength: float):
    """RoPE's size / 2 inverse frequencies 1 / wavelength^(2j/size), as KerasHub computes them."""
    ops = keras.ops
    return 1.0 / (wavelength ** ops.divide(ops.arange(0, size, 2, dtype="float32"), ops.cast(size, "float32")))


class RotaryTable(keras.layers.Layer):
    """The rotary inverse frequencies held as a non-trainable weight `inv_freq` (SmolLM3 keeps them so):
    GroupedAttention's part with `rotary_table`."""

    def __init__(self, size: int, wavelength: float, **kwargs):
        super().__init__(**kwargs)
        self.size, self.wavelength = int(size), float(wavelength)

    def build(self, input_shape=None):
        self.inv_freq = self.add_weight(name="inv_freq", shape=(self.size // 2,), initializer="zeros", trainable=False)
        self.inv_freq.assign(inverse_frequencies(self.size, self.wavelength))
        self.built = True


def rotate(x, wavelength: float, scaling: float = 1.0, inverse_freq=None):
    """Rotary position embedding (RoFormer) of `x` (batch, tokens, heads, size): feature pairs (j, j + size/2)
    of token t rotated by the angle (t / scaling) / wavelength^(2j/size) — the half-split form Llama uses
    (KerasHub's RotaryEmbedding, whose linear scaling_factor divides the frequencies), computed with the same
    operations. `inverse_freq`: the frequencies as a tensor (a RotaryTable's weight) instead."""
    ops = keras.ops
    size = x.shape[-1]
    if inverse_freq is None:
        inverse_freq = inverse_frequencies(size, wavelength)
    else:
        inverse_freq = ops.cast(inverse_freq, "float32")
    if scaling != 1.0:
        inverse_freq = inverse_freq / ops.cast(scaling, "float32")
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


def _prefix_lm_mask(padding, response, tokens):
    """(batch, tokens, tokens): PaliGemma's prefix-LM mask — query i sees key j when j is an unpadded prefix
    key, or a response key with j ≤ i; masks (batch, n) shorter than the tokens cover the last n, the first
    ones unpadded prefix keys (its image tokens)."""
    ops = keras.ops
    batch, first = ops.shape(padding)[0], tokens - ops.shape(padding)[1]
    pad = ops.concatenate([ops.ones((batch, first), "bool"), ops.cast(padding, "bool")], 1)
    resp = ops.concatenate([ops.zeros((batch, first), "bool"), ops.cast(response, "bool")], 1)
    positions = ops.arange(tokens)
    causal = ops.expand_dims(ops.greater_equal(ops.expand_dims(positions, 1), ops.expand_dims(positions, 0)), 0)
    prefix = ops.expand_dims(ops.logical_and(pad, ops.logical_not(resp)), 1)              # (B, 1, T)
    return ops.logical_or(prefix, ops.logical_and(causal, ops.expand_dims(resp, 1)))     # (B, T, T)


@keras.saving.register_keras_serializable(package="archspec")
class GroupedAttention(keras.layers.Layer):
    """Multi-head attention with grouped key/value heads and rotary position embedding: each of
    `key_value_heads` key/value heads serves num_heads / key_value_heads query heads (grouped-query
    attention; 1 is multi-query), and `rotary` rotates queries and keys by their position (RoPE) — Llama's,
    Mistral's, Qwen's attention (KerasHub's LlamaAttention computes the same). Same call as Keras's
    MultiHeadAttention: `layer(query, value, key=None, value_mask=None, use_causal_mask=False)`; same weights
    (query, key, value, output projections as EinsumDense, kernel then bias), key and value with
    `key_value_heads` heads. With `use_bias`, `key_bias` and `output_bias` say whether the key and output
    projections have one too (Whisper's key has none, Qwen's output none). `rotary_scaling` divides the
    positions (linear RoPE scaling); `rotary_table` keeps the rotary frequencies as a non-trainable weight
    (SmolLM3's inv_freq) and rotates with it; `rotary_fraction` rotates only the first ⌊key_dim · fraction⌋
    features of each query and key head, with the frequencies of a head that size (GPT-NeoX's partial rotary).
    With ``padding_mask_on="queries"`` its `value_mask` marks the queries (KerasHub's ESM): no key is masked,
    and a padded query's scores are all set alike (0), so it attends to every key equally.

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
                 alibi: bool = False, alibi_positions: str = "keys", alibi_scaled: bool = False,
                 output_bias: bool = True, rotary_scaling: float = 1.0, rotary_table: bool = False,
                 score_scale: float | None = None, additive_mask: bool = False, merged: bool = False,
                 prefix_lm: bool = False, rotary_fraction: float = 1.0, padding_mask_on: str = "keys", **kwargs):
        super().__init__(**kwargs)
        self.rotary_fraction = float(rotary_fraction)
        if padding_mask_on not in ("keys", "queries"):
            raise ValueError(f"padding_mask_on is 'keys' or 'queries', not {padding_mask_on!r}")
        self.padding_mask_on = padding_mask_on
        self.prefix_lm = bool(prefix_lm)
        self.merged = bool(merged)
        if self.merged and alibi:                 # what the spec's attention refuses, refused here too
            raise ValueError("merged attention has no ALiBi bias (its keys are two sequences)")
        if self.prefix_lm and (self.merged or alibi):
            raise ValueError("prefix_lm states its own causal part: no merged, no alibi")
        if (self.merged or self.prefix_lm) and padding_mask_on != "keys":
            raise ValueError("merged and prefix_lm attention mask keys (padding_mask_on='keys')")
        self.additive_mask = bool(additive_mask)
        self.score_scale = None if score_scale is None else float(score_scale)
        self.alibi, self.alibi_positions, self.alibi_scaled = bool(alibi), alibi_positions, bool(alibi_scaled)
        self.qk_norm, self.qk_norm_unit_offset = bool(qk_norm), bool(qk_norm_unit_offset)
        self.qk_norm_epsilon = float(qk_norm_epsilon)
        self.key_bias, self.output_bias = bool(key_bias), bool(output_bias)
        self.logit_soft_cap = None if logit_soft_cap is None else float(logit_soft_cap)
        self.rotary_scaling, self.rotary_table = float(rotary_scaling), bool(rotary_table)
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.key_value_heads = int(key_value_heads or num_heads)
        if self.num_heads % self.key_value_heads:
            raise ValueError(f"num_heads ({num_heads}) must be a multiple of key_value_heads ({key_value_heads})")
        self.value_dim = int(value_dim or key_dim)
        self.output_dim = None if output_shape is None else int(output_shape)
        self.dropout, self.use_bias = float(dropout), bool(use_bias)
        self.rotary, self.rotary_wavelength = bool(rotary), float(rotary_wavelength)
        self._rotated = int(self.key_dim * self.rotary_fraction)
        if self.rotary_fraction != 1.0 and not self.rotary:
            raise ValueError(f"rotary_fraction={rotary_fraction} is the share of each head rotated: set rotary=True")
        if self.rotary and (self._rotated % 2 or self._rotated < 2):
            raise ValueError(f"rotary position embedding rotates pairs of features: {self._rotated} of key_dim "
                             f"({key_dim}) rotated must be even and at least 2")
        self._dropout_layer = keras.layers.Dropout(self.dropout)
        self._softmax = keras.layers.Softmax(axis=-1, dtype="float32")

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        if self.merged:                           # one key and value projection for x and the context
            value_shape = key_shape = query_shape
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
        self._output = dense("attention_output", "bquh,uhm->bqm", (None, out),
                             "m" if self.use_bias and self.output_bias else None,
                             (None, None, self.num_heads, self.value_dim))
        if self.qk_norm:                          # over each head's features: a scale of key_dim for each
            def norm(name, heads):
                layer = (UnitOffsetRMSNorm(epsilon=self.qk_norm_epsilon, name=name) if self.qk_norm_unit_offset
                         else keras.layers.RMSNormalization(epsilon=self.qk_norm_epsilon, name=name))
                layer.build((None, None, heads, self.key_dim))
                return layer

            self._query_norm, self._key_norm = norm("query_norm", self.num_heads), norm("key_norm", self.key_value_heads)
        if self.rotary_table:
            self._table = RotaryTable(self._rotated, self.rotary_wavelength, name="rotary_table")
            self._table.build()
        self.built = True

    def call(self, query, value, key=None, value_mask=None, use_causal_mask=False, context_mask=None,
             response_mask=None, training=None):
        self._refuse(key, use_causal_mask)
        if self.merged:
            return self._merged(query, value, value_mask, use_causal_mask, context_mask, training)
        if self.prefix_lm and value_mask is not None and response_mask is not None:
            value_mask = _prefix_lm_mask(value_mask, response_mask, keras.ops.shape(query)[1])
        key = value if key is None else key
        q, k, v = self._query(query), self._key(key), self._value(value)
        if self.qk_norm:
            q, k = self._query_norm(q), self._key_norm(k)
        if self.rotary:
            table = self._table.inv_freq if self.rotary_table else None
            q, k = (self._rotate(t, table) for t in (q, k))
        return self._attend(q, k, v, value_mask, use_causal_mask, training)

    def _merged(self, x, context, x_mask, causal, context_mask, training):
        """T5Gemma 2's merged attention: x's queries over x's keys (normed, rotated; causal, x_mask) joined by
        the context's (normed, not rotated; context_mask), one projection for both."""
        ops = keras.ops
        q, k, v = self._query(x), self._key(x), self._value(x)
        kc, vc = self._key(context), self._value(context)
        if self.qk_norm:
            q, k, kc = self._query_norm(q), self._key_norm(k), self._key_norm(kc)
        if self.rotary:
            table = self._table.inv_freq if self.rotary_table else None
            q, k = (self._rotate(t, table) for t in (q, k))
        mask = None
        if x_mask is not None or context_mask is not None or causal:
            batch, tq, tk = ops.shape(q)[0], ops.shape(q)[1], ops.shape(kc)[1]
            own = ops.ones((1, tq, tq), "bool")
            if x_mask is not None:
                own = ops.logical_and(own, ops.expand_dims(ops.cast(x_mask, "bool"), 1))
            if causal:
                own = ops.logical_and(own, ops.expand_dims(ops.greater_equal(
                    ops.expand_dims(ops.arange(tq), 1), ops.expand_dims(ops.arange(tq), 0)), 0))
            ctx = ops.ones((1, 1, tk), "bool") if context_mask is None else ops.expand_dims(ops.cast(context_mask,
                                                                                                    "bool"), 1)
            mask = ops.concatenate([ops.broadcast_to(own, (batch, tq, tq)), ops.broadcast_to(ctx, (batch, tq, tk))], -1)
        return self._attend(q, ops.concatenate([k, kc], 1), ops.concatenate([v, vc], 1), mask, False, training)

    def _attend(self, q, k, v, value_mask, use_causal_mask, training):
        """softmax(QKᵀ · scale (+ ALiBi, soft cap), masked)·V through the output projection; `value_mask` a
        padding mask (batch, keys) or a full mask (batch, queries, keys)."""
        ops = keras.ops
        groups = self.num_heads // self.key_value_heads
        if groups > 1:
            k, v = ops.repeat(k, groups, axis=2), ops.repeat(v, groups, axis=2)
        scores = ops.einsum("bquh,bkuh->buqk", q, k)
        scale = 1.0 / float(self.key_dim) ** 0.5 if self.score_scale is None else self.score_scale
        scores = ops.multiply(scores, ops.cast(scale, scores.dtype))
        if self.alibi:                                       # BLOOM: m_h · (j − Tk + 1); Falcon: unpadded positions
            if self.alibi_positions == "unpadded" and value_mask is not None:
                pad = ops.cast(value_mask, "int32")
                positions = ops.cast((ops.cumsum(pad, axis=-1) - 1) * pad, scores.dtype)          # (B, Tk)
                slopes = ops.convert_to_tensor(alibi_slopes(self.num_heads), dtype=scores.dtype)
                bias = ops.expand_dims(slopes[None, :, None] * positions[:, None, :], 2)        # (B, H, 1, Tk)
            else:
                bias = alibi_bias(self.num_heads, ops.shape(k)[1], scores.dtype)
            if self.alibi_scaled:                            # added before the scaling: scaled with the scores
                bias = ops.multiply(bias, ops.cast(scale, scores.dtype))
            scores = ops.add(scores, bias)
        if self.logit_soft_cap is not None:                                    # Gemma 2: cap · tanh(s / cap)
            scores = ops.multiply(ops.tanh(ops.divide(scores, self.logit_soft_cap)), self.logit_soft_cap)
        mask = None
        if value_mask is not None and len(value_mask.shape) == 3:                  # (B, Tq, Tk): merged's
            mask = ops.cast(value_mask, "bool")
        elif value_mask is not None and self.padding_mask_on == "queries":
            # ESM's: a padded query's scores all set alike (it attends to every key equally), no key masked
            marked = ops.expand_dims(ops.expand_dims(ops.cast(value_mask, "bool"), 1), -1)   # (B, 1, Tq, 1)
            scores = ops.where(marked, scores, ops.zeros_like(scores))
        elif value_mask is not None:
            mask = ops.expand_dims(ops.cast(value_mask, "bool"), 1)                   # (B, 1, Tk)
        if use_causal_mask:
            tq, tk = ops.shape(q)[1], ops.shape(k)[1]
            causal = ops.expand_dims(ops.greater_equal(ops.expand_dims(ops.arange(tq), 1) + (tk - tq),
                                                       ops.expand_dims(ops.arange(tk), 0)), 0)   # (1, Tq, Tk)
            mask = causal if mask is None else ops.logical_and(mask, causal)
        if mask is not None and self.additive_mask:          # T5Gemma's: (1 − mask)·−10⁹ added to the scores
            scores = ops.add(scores, ops.expand_dims(ops.multiply(ops.subtract(1.0, ops.cast(mask, scores.dtype)),
                                                                  ops.cast(-1e9, scores.dtype)), 1))
            mask = None
        # (no mask: none passed — Keras's Softmax given mask=None positionally gets a second `mask` from __call__)
        probs = self._softmax(scores) if mask is None else self._softmax(scores, ops.expand_dims(mask, 1))
        probs = self._dropout_layer(ops.cast(probs, q.dtype), training=training)
        return self._output(ops.einsum("buqk,bkuh->bquh", probs, v))

    def _rotate(self, x, table):
        if self._rotated == self.key_dim:
            return rotate(x, self.rotary_wavelength, self.rotary_scaling, table)
        part = rotate(x[..., :self._rotated], self.rotary_wavelength, self.rotary_scaling, table)
        return keras.ops.concatenate((part, x[..., self._rotated:]), axis=-1)

    def _refuse(self, key, use_causal_mask):
        """The call's arguments the spec's attention refuses with these attributes (checked on real and on
        symbolic tensors: Keras builds a functional graph from compute_output_spec, without `call`)."""
        if self.prefix_lm and use_causal_mask:
            raise ValueError("prefix_lm states its own causal part: call it without use_causal_mask")
        if self.merged and key is not None:
            raise ValueError("merged attention takes x and a context, one projection for both: no separate key")

    def compute_output_spec(self, query, value, key=None, value_mask=None, use_causal_mask=False, **kwargs):
        self._refuse(key, use_causal_mask)
        return super().compute_output_spec(query, value, key=key, value_mask=value_mask,
                                           use_causal_mask=use_causal_mask, **kwargs)

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return (*query_shape[:-1], self.output_dim or query_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "key_value_heads": self.key_value_heads, "value_dim": self.value_dim, "output_shape": self.output_dim,
                "dropout": self.dropout, "use_bias": self.use_bias, "rotary": self.rotary,
                "rotary_wavelength": self.rotary_wavelength, "key_bias": self.key_bias,
                "logit_soft_cap": self.logit_soft_cap, "qk_norm": self.qk_norm,
                "qk_norm_unit_offset": self.qk_norm_unit_offset, "qk_norm_epsilon": self.qk_norm_epsilon,
                "alibi": self.alibi, "alibi_positions": self.alibi_positions, "alibi_scaled": self.alibi_scaled,
                "output_bias": self.output_bias, "rotary_scaling": self.rotary_scaling, "rotary_table": self.rotary_table,
                "score_scale": self.score_scale, "additive_mask": self.additive_mask, "merged": self.merged,
                "prefix_lm": self.prefix_lm, "rotary_fraction": self.rotary_fraction, "padding_mask_on": self.padding_mask_on}


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
class MatMul(keras.layers.Layer):
    """``keras.ops.matmul(a, b)`` as a layer: the product over the last two axes, the axes before them equal.

    >>> import numpy as np
    >>> np.asarray(MatMul()([np.ones((1, 2, 3)), np.ones((1, 3, 4))])).shape
    (1, 2, 4)
    """

    def build(self, input_shape):
        # as archspec's matmul rule: one rank, the leading axes equal (no broadcasting), inner sizes agreeing
        a, b = (tuple(s)[1:] for s in input_shape)

        def same(x, y):
            return x is None or y is None or x == y

        if len(a) < 2 or len(a) != len(b) or not all(same(x, y) for x, y in zip(a[:-2], b[:-2])) or not same(a[-1], b[-2]):
            raise ValueError(f"MatMul multiplies (…, n, k) by (…, k, m) with equal leading axes; got {a} and {b}")

    def call(self, inputs):
        a, b = inputs
        return keras.ops.matmul(a, b)

    def compute_output_shape(self, input_shape):
        a, b = (tuple(s) for s in input_shape)
        return a[:-1] + (b[-1],)


@keras.saving.register_keras_serializable(package="archspec")
class FFT2Real(keras.layers.Layer):
    """The real part of ``keras.ops.fft2((real, imag))`` over the last two axes; given one tensor, its
    imaginary part is zero (FNet's Fourier mixing).

    >>> import numpy as np
    >>> np.asarray(FFT2Real()([np.ones((1, 2, 2), "float32")])).tolist()
    [[[4.0, 0.0], [0.0, 0.0]]]
    """

    def build(self, input_shape):
        # as archspec's fft2_real rule: two axes besides the batch at least; the parts of one shape
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape[0], (list, tuple)) else [tuple(input_shape)]
        if len(shapes[0]) < 3 or any(s != shapes[0] for s in shapes[1:]):
            raise ValueError(f"FFT2Real transforms the last two axes of (batch, …, rows, columns); got {shapes}")

    def call(self, inputs):
        parts = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        real = parts[0]
        imag = parts[1] if len(parts) > 1 else keras.ops.zeros_like(real)
        return keras.ops.fft2((real, imag))[0]

    def compute_output_shape(self, input_shape):
        first = input_shape[0] if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)) else input_shape
        return tuple(first)


@keras.saving.register_keras_serializable(package="archspec")
class ZerosLike(keras.layers.Layer):
    """``keras.ops.zeros_like(x)``: zeros shaped (and typed) as the input."""

    def call(self, inputs):
        return keras.ops.zeros_like(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="archspec")
class PaddingMask(keras.layers.Layer):
    """``keras.ops.not_equal(ids, pad_id)``: the padding mask of integer token ids (true: a token).

    >>> import numpy as np
    >>> np.asarray(PaddingMask(pad_id=1)(np.array([[5, 1, 1]], "int32"))).tolist()
    [[True, False, False]]
    """

    def __init__(self, pad_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)

    def call(self, inputs):
        return keras.ops.not_equal(inputs, self.pad_id)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="bool")

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}


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
           "GELU", "SinePosition", "NoKeyBiasAttention", "PaddingMask",
           "UnitOffsetRMSNorm", "WindowAttention", "AlignedResize", "GridRopeAttention"]


@keras.saving.register_keras_serializable(package="archspec")
class WindowAttention(keras.layers.Layer):
    """Multi-head self-attention over a feature map (batch, height, width, channels), within windows of
    `window` × `window` positions (0: the whole map), with relative positions added to the scores:
    ``relative="decomposed"`` — one learned table per axis, 2·size − 1 rows of key_dim, dotted with the query
    (ViTDet's and SAM's MultiHeadAttentionWithRelativePE inside KerasHub's WindowedTransformerEncoder);
    ``relative="bias"`` — a learned bias per head for each of the (2w − 1)² relative offsets, and with
    ``shift`` the map rolled by −shift before the windows and back after, scores across the roll's seams
    masked (−100) (Swin's shifted-window attention); ``relative="none"``. The windows pad the map with
    zeros to whole windows and crop it back.

    >>> import numpy as np
    >>> layer = WindowAttention(heads=2, key_dim=4, window=2)
    >>> np.asarray(layer(np.ones((1, 3, 3, 8), "float32"))).shape, layer.count_params()
    ((1, 3, 3, 8), 312)
    >>> np.asarray(WindowAttention(2, 4, window=2, relative="bias", shift=1)(np.ones((1, 4, 4, 8), "float32"))).shape
    (1, 4, 4, 8)
    """

    def __init__(self, heads: int, key_dim: int, window: int = 0, relative: str = "decomposed", shift: int = 0,
                 use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.key_dim, self.window, self.shift = int(heads), int(key_dim), int(window), int(shift)
        self.relative, self.use_bias = str(relative), bool(use_bias)
        if self.relative not in ("decomposed", "bias", "none"):
            raise ValueError(f"WindowAttention's relative is 'decomposed', 'bias' or 'none', not {relative!r}")
        if self.shift and not 0 < self.shift < self.window:
            raise ValueError(f"WindowAttention's shift {shift} must be below its window {window}")

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"WindowAttention takes a feature map (batch, height, width, channels); got {tuple(input_shape)}")
        _, h, w, c = input_shape
        inner = self.heads * self.key_dim
        self.qkv_kernel = self.add_weight(name="qkv_kernel", shape=(c, 3 * inner), initializer="glorot_uniform")
        self.qkv_bias = self.add_weight(name="qkv_bias", shape=(3 * inner,), initializer="zeros") if self.use_bias else None
        self.proj_kernel = self.add_weight(name="proj_kernel", shape=(inner, inner), initializer="glorot_uniform")
        self.proj_bias = self.add_weight(name="proj_bias", shape=(inner,), initializer="zeros")
        sh, sw = (self.window, self.window) if self.window else (h, w)
        if self.relative == "decomposed":
            self.rel_pos_h = self.add_weight(name="rel_pos_h", shape=(2 * sh - 1, self.key_dim), initializer="zeros")
            self.rel_pos_w = self.add_weight(name="rel_pos_w", shape=(2 * sw - 1, self.key_dim), initializer="zeros")
        elif self.relative == "bias":
            self.bias_table = self.add_weight(name="bias_table", shape=((2 * sh - 1) * (2 * sw - 1), self.heads),
                                              initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def _partition(self, x):
        ops, ws = keras.ops, self.window
        b, h, w, c = ops.shape(x)
        ph, pw = (ws - h % ws) % ws, (ws - w % ws) % ws
        if ph or pw:
            x = ops.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)))
        x = ops.reshape(x, (b, (h + ph) // ws, ws, (w + pw) // ws, ws, c))
        return ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, ws, ws, c)), (h + ph, w + pw)

    def _unpartition(self, x, padded):
        ops, ws = keras.ops, self.window
        hp, wp = padded
        b = ops.shape(x)[0] // ((hp // ws) * (wp // ws))
        x = ops.reshape(x, (b, hp // ws, wp // ws, ws, ws, -1))
        return ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (b, hp, wp, -1))

    def _decomposed(self, scores, queries, h, w):
        """Scores + the height and width tables read at (query − key) + size − 1, each dotted with the query."""
        ops = keras.ops

        def table(size, rel):
            coords = ops.arange(size)[:, None] - ops.arange(size)[None, :] + (size - 1)
            return ops.take(rel, coords, 0)                                   # (size, size, key_dim)

        n = ops.shape(queries)[0]
        q = ops.reshape(queries, (n, h, w, self.key_dim))
        rh = ops.einsum("bhwc,hkc->bhwk", q, table(h, self.rel_pos_h))
        rw = ops.einsum("bhwc,wkc->bhwk", q, table(w, self.rel_pos_w))
        scores = ops.reshape(scores, (n, h, w, h, w))
        scores = scores + rh[..., :, None]
        scores = scores + rw[..., None, :]
        return ops.reshape(scores, (n, h * w, h * w))

    def _bias_index(self, h, w):
        """Swin's relative position index: for tokens i, j of an h × w window, (Δrow + h − 1)·(2w − 1) + Δcol + w − 1."""
        import numpy as np

        xx, yy = np.meshgrid(np.arange(h), np.arange(w))
        flat = np.stack([yy, xx]).reshape(2, -1)
        rel = (flat[:, :, None] - flat[:, None, :]).transpose(1, 2, 0)
        return ((rel[:, :, 0] + h - 1) * (2 * w - 1) + rel[:, :, 1] + w - 1).astype("int32")

    def _shift_mask(self, h, w):
        """Swin's mask for the rolled map (h × w before padding): −100 between tokens of a window that come from
        different regions of the roll, 0 elsewhere; (windows, n, n)."""
        import numpy as np

        ws, s = self.window, self.shift
        label = np.zeros((h, w), "int32")
        cnt = 0
        for h0, h1 in ((0, h - ws), (h - ws, h - s), (h - s, h)):
            for w0, w1 in ((0, w - ws), (w - ws, w - s), (w - s, w)):
                label[h0:h1, w0:w1] = cnt
                cnt += 1
        ph, pw = (ws - h % ws) % ws, (ws - w % ws) % ws
        label = np.pad(label, ((0, ph), (0, pw)))
        wins = label.reshape((h + ph) // ws, ws, (w + pw) // ws, ws).transpose(0, 2, 1, 3).reshape(-1, ws * ws)
        return (wins[:, None, :] != wins[:, :, None]).astype("float32") * -100.0

    def call(self, inputs):
        ops = keras.ops
        x = inputs
        size = x.shape[1], x.shape[2]
        if self.shift:
            x = ops.roll(x, shift=(-self.shift, -self.shift), axis=(1, 2))
        if self.window:
            x, padded = self._partition(x)
        b, h, w, _ = ops.shape(x)
        qkv = ops.matmul(x, ops.cast(self.qkv_kernel, x.dtype))
        if self.use_bias:
            qkv = qkv + ops.cast(self.qkv_bias, x.dtype)
        qkv = ops.transpose(ops.reshape(qkv, (b, h * w, 3, self.heads, self.key_dim)), (2, 0, 3, 1, 4))
        q, k, v = ops.unstack(ops.reshape(qkv, (3, b * self.heads, h * w, self.key_dim)), axis=0)
        scores = (q * (self.key_dim ** -0.5)) @ ops.transpose(k, (0, 2, 1))
        if self.relative == "decomposed":
            scores = self._decomposed(scores, q, h, w)
        elif self.relative == "bias":
            n = h * w
            bias = ops.transpose(ops.take(self.bias_table, self._bias_index(h, w), axis=0), (2, 0, 1))
            scores = ops.reshape(scores, (b, self.heads, n, n)) + ops.cast(bias, scores.dtype)
            if self.shift:
                mask = self._shift_mask(*size)
                scores = ops.reshape(scores, (-1, mask.shape[0], self.heads, n, n)) + mask[None, :, None]
            scores = ops.reshape(scores, (b * self.heads, n, n))
        out = ops.reshape(ops.softmax(scores, axis=-1) @ v, (b, self.heads, h, w, self.key_dim))
        out = ops.reshape(ops.transpose(out, (0, 2, 3, 1, 4)), (b, h, w, self.heads * self.key_dim))
        out = ops.matmul(out, ops.cast(self.proj_kernel, out.dtype)) + ops.cast(self.proj_bias, out.dtype)
        if self.window:
            out = self._unpartition(out, padded)
        if self.shift:
            out = ops.roll(out, shift=(self.shift, self.shift), axis=(1, 2))
        if self.window:
            out = out[:, :size[0], :size[1], :]
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.heads * self.key_dim,)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "key_dim": self.key_dim, "window": self.window,
                "relative": self.relative, "shift": self.shift, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package="archspec")
class AlignedResize(keras.layers.Layer):
    """Bilinear resize of a feature map to (height, width) with the corner pixels aligned: output pixel i reads
    input position i · (n_in − 1) / (n_out − 1) — TensorFlow 1's ``resize(..., align_corners=True)``, PyTorch's
    ``interpolate(..., mode="bilinear", align_corners=True)``, as KerasHub's DepthAnything interpolates.

    >>> import numpy as np
    >>> np.asarray(AlignedResize(3, 1)(np.array([[[[0.0]], [[4.0]]]], "float32")))[0, :, 0, 0].tolist()
    [0.0, 2.0, 4.0]
    """

    def __init__(self, height: int, width: int, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)

    @staticmethod
    def _axis(x, n_in: int, n_out: int, axis: int):
        import numpy as np

        ops = keras.ops
        scale = np.float32((n_in - 1) / (n_out - 1)) if n_out > 1 and n_in > 1 else np.float32(0)
        pos = np.arange(n_out, dtype=np.float32) * scale
        lo = np.floor(pos).astype("int32")
        hi = np.minimum(lo + 1, n_in - 1).astype("int32")
        frac = (pos - lo).astype("float32").reshape([-1 if k == axis else 1 for k in range(4)])
        a, b = ops.take(x, lo, axis=axis), ops.take(x, hi, axis=axis)
        return a + (b - a) * ops.cast(frac, x.dtype)

    def call(self, inputs):
        x = self._axis(inputs, inputs.shape[1], self.height, 1)
        return self._axis(x, inputs.shape[2], self.width, 2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@keras.saving.register_keras_serializable(package="archspec")
class GridRopeAttention(keras.layers.Layer):
    """Multi-head self-attention over a token sequence of `prefix` leading tokens (a class token, registers)
    followed by the patches of a `grid` (rows × columns), with 2-D rotary position embeddings on the patch
    tokens' queries and keys: each head's features are rotated by angles 2π·c·f of the patch's centre
    coordinates c (rows, then columns, in [−1, 1]) and frequencies f = θ^(−4i/key_dim) — DINOv3's attention
    (KerasHub's DINOV3Attention with its DINOV3RopePositionEmbedding).

    >>> import numpy as np
    >>> layer = GridRopeAttention(heads=2, key_dim=4, grid=(2, 2), prefix=1)
    >>> np.asarray(layer(np.ones((1, 5, 8), "float32"))).shape, layer.count_params()
    ((1, 5, 8), 288)
    """

    def __init__(self, heads: int, key_dim: int, grid=(1, 1), prefix: int = 1, theta: float = 100.0,
                 query_bias: bool = True, key_bias: bool = True, value_bias: bool = True, output_bias: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        self.heads, self.key_dim, self.grid, self.prefix = int(heads), int(key_dim), tuple(int(g) for g in grid), int(prefix)
        self.theta = float(theta)
        self.query_bias, self.key_bias, self.value_bias, self.output_bias = (
            bool(query_bias), bool(key_bias), bool(value_bias), bool(output_bias))

    def build(self, input_shape):
        t, n = input_shape[1], self.prefix + self.grid[0] * self.grid[1]
        if len(input_shape) != 3 or (t is not None and t != n):
            raise ValueError(f"GridRopeAttention reads {self.prefix} prefix tokens and a {self.grid[0]}×{self.grid[1]} "
                             f"grid ({n} tokens); got the shape {tuple(input_shape)}")
        if self.key_dim % 4:
            raise ValueError(f"GridRopeAttention rotates rows and columns by halves of each head: key_dim={self.key_dim} "
                             "is not a multiple of 4")
        d, inner = input_shape[-1], self.heads * self.key_dim
        for name, rows, bias in (("query", d, self.query_bias), ("key", d, self.key_bias), ("value", d, self.value_bias),
                                 ("output", inner, self.output_bias)):
            setattr(self, f"{name}_kernel", self.add_weight(name=f"{name}_kernel", shape=(rows, inner),
                                                            initializer="glorot_uniform"))
            setattr(self, f"{name}_offset", self.add_weight(name=f"{name}_bias", shape=(inner,), initializer="zeros")
                    if bias else None)

    def _angles(self):
        """cos and sin of each patch's rotation, (patches, key_dim), as DINOV3RopePositionEmbedding computes them."""
        import math

        import numpy as np

        gh, gw = self.grid
        inv_freq = 1.0 / (np.float32(self.theta) ** np.arange(0, 1, 4 / self.key_dim, dtype=np.float32))
        ch = np.repeat((np.arange(0.5, gh, dtype=np.float32) / gh)[:, None], gw, axis=1)
        cw = np.repeat((np.arange(0.5, gw, dtype=np.float32) / gw)[None, :], gh, axis=0)
        coords = 2.0 * np.stack([ch, cw], axis=-1).reshape(-1, 2) - 1.0
        angles = (np.float32(2 * math.pi) * coords[:, :, None] * inv_freq[None, None, :]).astype(np.float32)
        angles = np.tile(angles.reshape(angles.shape[0], -1), (1, 2))
        return np.cos(angles).astype("float32"), np.sin(angles).astype("float32")

    def _project(self, x, name):
        ops = keras.ops
        y = ops.matmul(x, ops.cast(getattr(self, f"{name}_kernel"), x.dtype))
        bias = getattr(self, f"{name}_offset")            # (`{name}_bias` is the flag)
        return y if bias is None else y + ops.cast(bias, x.dtype)

    def call(self, inputs):
        ops = keras.ops
        b, t = ops.shape(inputs)[0], inputs.shape[1]
        q, k, v = (ops.reshape(self._project(inputs, n), (b, t, self.heads, self.key_dim)) for n in ("query", "key", "value"))
        cos, sin = self._angles()
        cos, sin = ops.cast(cos[None, :, None, :], q.dtype), ops.cast(sin[None, :, None, :], q.dtype)

        def rotate(x):
            half = self.key_dim // 2
            patches = x[:, self.prefix:, :, :]
            turned = ops.concatenate([-patches[..., half:], patches[..., :half]], axis=-1)
            return ops.concatenate([x[:, :self.prefix, :, :], patches * cos + turned * sin], axis=-3)

        out = ops.nn.dot_product_attention(rotate(q), rotate(k), v, scale=self.key_dim ** -0.5, is_causal=False)
        return self._project(ops.reshape(out, (b, t, self.heads * self.key_dim)), "output")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.heads * self.key_dim,)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "key_dim": self.key_dim, "grid": self.grid,
                "prefix": self.prefix, "theta": self.theta, "query_bias": self.query_bias, "key_bias": self.key_bias,
                "value_bias": self.value_bias, "output_bias": self.output_bias}
