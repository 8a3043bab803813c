"""Attention: multi-head attention (self- and cross-attention), as keras.layers.MultiHeadAttention.

Inputs, wired with `from` (or the previous layer): one tensor is self-attention (query = key = value);
`[query, context]` is cross-attention (key = value = context); `[query, value, key]` names all three, in
the order Keras's `MultiHeadAttention(query, value, key)` takes them. Every input is a token sequence
`(tokens, features)`.

Costs (docs/conventions.md), with h heads, key size dk, value size dv, Tq query and Tk key tokens:

* MACs: the projections Q (Tq·Dq·h·dk), K (Tk·Dk·h·dk), V (Tk·Dv·h·dv) and the output (Tq·h·dv·Do),
  plus the scores QKᵀ (h·Tq·Tk·dk) and the weighted sum A·V (h·Tq·Tk·dv);
* FLOPs: 2 per MAC, + 1 per projected element for each bias, + the 1/√dk scaling (one multiply per
  score, h·Tq·Tk; with dropout Keras scales the queries instead, Tq·h·dk), + 5 per score for the softmax.

>>> from archspec.ops import REGISTRY
>>> op = REGISTRY["attention"]
>>> a = op.Attrs(heads=12, key_dim=64)
>>> op.infer(a, [(197, 768)]), op.params(a, [(197, 768)], (197, 768))
((197, 768), (2362368, 0))
>>> op.label(a)
'attention · 12 heads · 64'
"""
from __future__ import annotations

from . import register
from .base import Attrs, Field, KerasImportError, Op, PosInt, ShapeError


class AttentionAttrs(Attrs):
    heads: PosInt = Field(description="number of attention heads (Keras num_heads)")
    key_dim: PosInt = Field(description="size of each head's query and key projection")
    value_dim: PosInt | None = Field(None, description="size of each head's value projection (default: key_dim)")
    output_dim: PosInt | None = Field(None, description="features of the output projection (default: the query's)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the attention scores while training")
    use_bias: bool = True
    key_bias: bool = Field(True, description="with use_bias, whether the key projection has a bias too (Whisper's has "
                                             "none; it cannot change the output: the softmax cancels it)")


def _roles(ins: list) -> tuple:
    """(query, key, value) from 1, 2 or 3 inputs given as Keras orders them: query, value, key."""
    if len(ins) == 1:
        return ins[0], ins[0], ins[0]
    if len(ins) == 2:
        return ins[0], ins[1], ins[1]
    return ins[0], ins[2], ins[1]


@register
class Attention(Op):
    name, keras_class, Attrs, category, arity, primary = (
        "attention", "MultiHeadAttention", AttentionAttrs, "attn", (1, 3), "heads")
    keras_names = {"heads": "num_heads", "output_dim": "output_shape"}
    keras_classes = ("MultiHeadAttention", "NoKeyBiasAttention")   # the second: archspec's, for key_bias: false
    keras_call_inputs = ("key",)                       # layer(query, value, key=key): inputs [query, value, key]
    doc = ("Multi-head attention (keras.layers.MultiHeadAttention). `from: x` is self-attention, "
           "`from: [query, context]` cross-attention, `from: [query, value, key]` (Keras's order) names all three; inputs are "
           "token sequences (tokens, features). Output: (query tokens, output_dim or the query's features).")
    examples = [({"heads": 4, "key_dim": 8}, [(10, 16)], (10, 16), (2160, 0)),
                ({"heads": 2, "key_dim": 8, "value_dim": 6, "output_dim": 12, "use_bias": False}, [(5, 16), (7, 10)], (5, 12), (680, 0)),
                ({"heads": 3, "key_dim": 4, "dropout": 0.1}, [(6, 8), (9, 5), (9, 7)], (6, 8), (380, 0)),
                ({"heads": 2, "key_dim": 4, "key_bias": False}, [(5, 8)], (5, 8), (280, 0))]

    def infer(self, a, ins):
        for i, s in enumerate(ins):
            if len(s) != 2:
                what = ("query", "value", "key")[i] if len(ins) == 3 else ("query", "context")[i] if len(ins) == 2 else "input"
                raise ShapeError(f"attention needs token sequences (tokens, features); its {what} has shape {s}",
                                 "shape-rank", f"turn it into tokens first: `- reshape: [-1, {s[-1]}]`")
        q, k, v = _roles(ins)
        if k[0] != v[0]:
            raise ShapeError(f"attention's key has {k[0]} tokens but its value {v[0]}: each key needs a value",
                             "shape-mismatch")
        return (q[0], a.output_dim or q[1])

    def _dims(self, a, ins, out):
        q, k, v = _roles(ins)
        return q[0], k[0], q[1], k[1], v[1], a.heads, a.key_dim, a.value_dim or a.key_dim, out[1]

    def params(self, a, ins, out):
        _, _, dq, dk, dv, h, kd, vd, do = self._dims(a, ins, out)
        weights = h * kd * (dq + dk) + h * vd * (dv + do)
        biases = (1 + int(a.key_bias)) * h * kd + h * vd + do if a.use_bias else 0
        return (weights + biases, 0)

    def macs(self, a, ins, out):
        tq, tk, dq, dk, dv, h, kd, vd, do = self._dims(a, ins, out)
        projections = tq * dq * h * kd + tk * dk * h * kd + tk * dv * h * vd + tq * h * vd * do
        return projections + h * tq * tk * (kd + vd)          # QKᵀ and attention × V

    def extra_flops(self, a, ins, out):
        tq, tk, _, _, _, h, kd, vd, do = self._dims(a, ins, out)
        biases = tq * h * kd + tk * h * kd * a.key_bias + tk * h * vd + tq * do if a.use_bias else 0
        scale = tq * h * kd if a.dropout > 0 else h * tq * tk
        return biases + scale + 5 * h * tq * tk

    def backward_keeps(self, a, ins, out):
        """Its inputs (the projection weights' gradients), and inside: Q, K, V, the attention
        probabilities (and their dropout mask) and the heads' output before the output projection."""
        tq, tk, _, _, _, h, kd, vd, _ = self._dims(a, ins, out)
        probs = h * tq * tk * (2 if a.dropout > 0 else 1)
        return True, False, tq * h * kd + tk * h * kd + tk * h * vd + probs + tq * h * vd

    def label(self, a):
        v = f"/{a.value_dim}" if a.value_dim and a.value_dim != a.key_dim else ""
        return f"attention · {a.heads} head{'s' if a.heads > 1 else ''} · {a.key_dim}{v}"

    def keras_kwargs(self, a):
        kw = dict(num_heads=a.heads, key_dim=a.key_dim, value_dim=a.value_dim, dropout=a.dropout,
                  use_bias=a.use_bias, output_shape=a.output_dim)
        return kw if a.key_bias or not a.use_bias else dict(kw, key_bias=False)

    def build_keras(self, a, name):
        """keras.layers.MultiHeadAttention, or archspec's NoKeyBiasAttention (its subclass) for key_bias: false;
        on JAX with value_dim ≠ key_dim, made to take Keras's explicit path (_explicit_attention)."""
        if a.key_bias or not a.use_bias:
            layer = super().build_keras(a, name)
        else:
            from .keras_layers import NoKeyBiasAttention

            layer = NoKeyBiasAttention(**self.keras_kwargs(a), name=name)
        if a.value_dim is not None and a.value_dim != a.key_dim:
            import keras

            if keras.backend.backend() == "jax":
                _explicit_attention(layer)
        return layer

    def keras_config(self, cfg, shapes):
        cfg = dict(cfg)
        out = cfg.get("output_shape")
        if isinstance(out, (list, tuple)):              # a built layer keeps output_shape as a tuple: (64,)
            if len(out) != 1:
                raise KerasImportError(f"its output_shape {list(out)} has several axes; archspec's attention "
                                       "projects to one feature axis")
            cfg["output_shape"] = out[0]
        axes = cfg.get("attention_axes")
        if axes is not None and shapes and len(shapes[0]) == 2 and list(axes) in ([1], [-2]):
            cfg["attention_axes"] = None                # attention over the tokens: what None means for sequences
        if cfg.get("value_dim") is not None and cfg.get("value_dim") == cfg.get("key_dim"):
            cfg["value_dim"] = None                     # Keras stores the default (key_dim) explicitly
        return cfg

    def input_roles(self, a, n):
        return {2: ("q", "kv"), 3: ("q", "v", "k")}.get(n)

    def call_keras(self, layer, tensors):
        q, k, v = _roles(tensors)
        return layer(q, v, key=k if len(tensors) == 3 else None)


def _explicit_attention(layer) -> None:
    """Keras 3.15 on JAX: MultiHeadAttention's fused path (`ops.dot_product_attention`, taken without dropout
    and without returned scores) requires value heads as wide as key heads, so a layer with value_dim ≠
    key_dim builds but fails on its first call. The layer is made to take Keras's own explicit path instead
    (softmax(QKᵀ)·V with einsums, what it runs whenever the scores are asked for): the same weights, the
    same function, the scores dropped unless the caller asked for them."""
    inner = layer._compute_attention

    def compute(query, key, value, attention_mask=None, training=None, return_attention_scores=False, **kw):
        out, scores = inner(query, key, value, attention_mask, training, True, **kw)
        return out, (scores if return_attention_scores else None)

    layer._compute_attention = compute
