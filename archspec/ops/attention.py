"""Attention: multi-head attention (self- and cross-attention), as keras.layers.MultiHeadAttention.

Inputs, wired with `from` (or the previous layer): one tensor is self-attention (query = key = value);
`[query, context]` is cross-attention (key = value = context); `[query, value, key]` names all three, in
the order Keras's `MultiHeadAttention(query, value, key)` takes them. Every input is a token sequence
`(tokens, features)`. With `padding_mask: true` one more input comes last: a mask `(key tokens,)` of
1 (attend) and 0 (padding), Keras's `value_mask`; `causal: true` lets token i attend to tokens ≤ i only
(Keras's `use_causal_mask`). Both masks may be combined, as GPT-2 does. The mask may be an input or
computed from the token ids (the `padding_mask` op); `padding_mask_on: queries` reads it as KerasHub's ESM
does on TensorFlow and JAX: no key masked, a padded query attending to every key equally.

Costs (docs/conventions.md), with h heads, key size dk, value size dv, Tq query and Tk key tokens:

* MACs: the projections Q (Tq·Dq·h·dk), K (Tk·Dk·h·dk), V (Tk·Dv·h·dv) and the output (Tq·h·dv·Do),
  plus the scores QKᵀ (h·Tq·Tk·dk) and the weighted sum A·V (h·Tq·Tk·dv);
* FLOPs: 2 per MAC, + 1 per projected element for each bias, + the 1/√dk scaling (one multiply per
  score, h·Tq·Tk; with dropout Keras scales the queries instead, Tq·h·dk), + 5 per score for the softmax;
  a mask (padding or causal) is a select, 0 FLOPs (the TensorFlow profiler counts none either), or an add
  per score with additive_mask; rotary:
  3.5 per rotated query and key element; qk_norm as rms_norm: 4 per query and key element + 3 per head.
* A causal mask does not halve the count: Keras (and XLA's dense kernels) compute every score and then
  mask it, so the MACs of QKᵀ and A·V are those of the full Tq×Tk matrix; a kernel that skips the masked
  half (flash attention) does about half of that work.

>>> from archspec.ops import REGISTRY
>>> op = REGISTRY["attention"]
>>> a = op.Attrs(heads=12, key_dim=64)
>>> op.infer(a, [(197, 768)]), op.params(a, [(197, 768)], (197, 768))
((197, 768), (2362368, 0))
>>> op.label(a)
'attention · 12 heads · 64'
"""
from __future__ import annotations

from typing import Literal

from .base import Attrs, Field, KerasImportError, MixedKeeps, Op, PosInt, ShapeError, model_validator
from .registry import register
from .tables import alibi_slopes


class AttentionAttrs(Attrs):
    heads: PosInt = Field(description="number of attention heads (Keras num_heads)")
    key_dim: PosInt = Field(description="size of each head's query and key projection")
    value_dim: PosInt | None = Field(None, description="size of each head's value projection (default: key_dim)")
    output_dim: PosInt | None = Field(None, description="features of the output projection (default: the query's)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the attention scores while training")
    use_bias: bool = True
    key_value_heads: PosInt | None = Field(None, description="heads of the key and value projections, each shared by "
                                                          "heads / key_value_heads query heads (grouped-query "
                                                          "attention; 1: multi-query); default: heads")
    rotary: bool = Field(False, description="rotate queries and keys by their position (rotary position embedding, RoPE)")
    rotary_wavelength: float = Field(10000.0, gt=0, description="the longest rotary wavelength (Llama's rope_max_wavelength)")
    causal: bool = Field(False, description="each query token attends to key tokens at or before its position only")
    padding_mask: bool = Field(False, description="the last input is a mask (key tokens,): 1 attend, 0 padding "
                                                  "(Keras's value_mask)")
    key_bias: bool = Field(True, description="with use_bias, whether the key projection has a bias too (Whisper's has "
                                             "none; it cannot change the output: the softmax cancels it)")
    output_bias: bool = Field(True, description="with use_bias, whether the output projection has a bias too (Qwen's "
                                                "query, key and value projections have biases, its output none)")
    rotary_scaling: float = Field(1.0, gt=0, description="with rotary, positions are divided by it (linear RoPE "
                                                         "scaling, KerasHub's rope_scaling_factor)")
    rotary_table: bool = Field(False, description="keep the rotary frequencies as a non-trainable weight (one per "
                                                  "rotated pair: key_dim / 2 values; SmolLM3's inv_freq, held even by "
                                                  "its layers without rotary)")
    logit_soft_cap: float | None = Field(None, gt=0, description="cap the scaled scores smoothly at ± this value, "
                                                               "cap · tanh(score / cap), before the softmax (Gemma 2's "
                                                               "attention_logit_soft_cap)")
    qk_norm: bool = Field(False, description="RMS-normalize each head's queries and keys over key_dim (a scale of "
                                             "key_dim each, for queries and for keys, shared by the heads) before the "
                                             "rotation (Qwen3's and Gemma 3's query and key norms)")
    qk_norm_unit_offset: bool = Field(False, description="with qk_norm, scale by 1 + scale (Gemma 3's RMS norm; "
                                                         "rms_norm's unit_offset)")
    qk_norm_epsilon: float = Field(1e-6, gt=0, description="with qk_norm, the ε of its RMS norms")
    alibi: bool = Field(False, description="add m_h · (j − Tk + 1) to head h's score of key j (ALiBi, BLOOM's: "
                                           "slopes m_h = 2^(−8(h+1)/heads) for a power-of-2 number of heads; with a "
                                           "causal mask the same softmax as −m_h · (i − j))")
    alibi_positions: Literal["keys", "unpadded"] = Field(
        "keys", description="with alibi, the position of key j: keys — j (BLOOM); unpadded — the number of "
                            "unpadded keys before it, from the padding mask (Falcon)")
    alibi_scaled: bool = Field(False, description="with alibi, add the bias before the 1/√key_dim scaling, so it is "
                                                  "scaled with the scores (Falcon)")
    score_scale: float | None = Field(None, gt=0, description="multiply the scores by this instead of 1/√key_dim "
                                                            "(T5Gemma's query_pre_attn_scalar^−½)")
    additive_mask: bool = Field(False, description="the masks (padding, causal) are added to the scores as −10⁹ where "
                                                   "they mask (KerasHub's T5Gemma) instead of applied by Keras's masked "
                                                   "softmax: the same wherever a query sees a key; a query that sees "
                                                   "none gets about the mean of the values instead of 0")
    merged: bool = Field(False, description="with `from: [x, context]`: self- and cross-attention in one softmax — the "
                                            "query attends to x's tokens and the context's, their keys and values made "
                                            "by the same projections and joined (x's first); rotary and causal apply "
                                            "to x's keys only; with padding_mask, two masks follow: x's, then the "
                                            "context's (T5Gemma 2's merged attention)")
    prefix_lm: bool = Field(False, description="with padding_mask, a response mask follows the padding mask (1: a "
                                               "response token, 0: a prefix token): each query attends to every "
                                               "unpadded prefix key and to the response keys at or before its position, "
                                               "padded or not (PaliGemma's prefix-LM mask); masks shorter than the keys "
                                               "cover the last keys, the first ones (PaliGemma's image tokens) being "
                                               "unpadded prefix keys")
    rotary_fraction: float = Field(1.0, gt=0, le=1, description="with rotary, the share of each query and key head "
                                   "rotated: its first ⌊key_dim · fraction⌋ features (an even number), the rest passed "
                                   "as they are (partial rotary: GPT-NeoX's rotary_percentage, 0.25)")
    padding_mask_on: Literal["keys", "queries"] = Field(
        "keys", description="with padding_mask, the tokens its mask marks: keys — no query attends to a padded key "
                            "(Keras's value_mask); queries — no key is masked, and a padded query's scores are all "
                            "masked alike, so it attends to every key equally (KerasHub's ESM on TensorFlow and JAX, "
                            "which gives dot_product_attention its mask as (batch, 1, tokens, 1))")

    @model_validator(mode="after")
    def _rotary_options(self):
        if self.rotary_scaling != 1.0 and not self.rotary:
            raise ValueError("rotary_scaling scales the rotary embedding's positions; set `rotary: true` too")
        if self.merged and self.alibi:
            raise ValueError("merged attention has no ALiBi bias (its keys are two sequences); set one of them")
        if self.prefix_lm and (self.causal or self.merged or self.alibi):
            raise ValueError("prefix_lm states its own causal part (leave causal, merged and alibi unset)")
        if (self.merged or self.prefix_lm) and self.padding_mask_on != "keys":
            raise ValueError("merged and prefix_lm attention mask keys (padding_mask_on: keys)")
        if self.rotary_fraction != 1.0 and not self.rotary:
            raise ValueError("rotary_fraction is the share of each head that the rotary embedding rotates; set "
                             "`rotary: true` too")
        return self


def _rotated(a) -> int:
    """How many features of each query and key head the rotary embedding rotates (0 without rotary)."""
    return int(a.key_dim * a.rotary_fraction) if a.rotary else 0


def _roles(ins: list) -> tuple:
    """(query, key, value) from 1, 2 or 3 inputs given as Keras orders them: query, value, key."""
    if len(ins) == 1:
        return ins[0], ins[0], ins[0]
    if len(ins) == 2:
        return ins[0], ins[1], ins[1]
    return ins[0], ins[2], ins[1]


def _split(a, ins: list) -> tuple[list, object]:
    """(the query/value/key inputs, the padding mask or None; merged: [x's mask, the context's])."""
    if a.padding_mask and (a.merged or a.prefix_lm):
        return ins[:-2], ins[-2:]
    if a.padding_mask:
        return ins[:-1], ins[-1]
    return ins, None


_WHISPER = "keras_hub.src.models.whisper.whisper_cached_multi_head_attention.WhisperCachedMultiHeadAttention"
_GEMMA = "keras_hub.src.models.gemma.gemma_attention.CachedGemmaAttention"
_GEMMA3 = "keras_hub.src.models.gemma3.gemma3_attention.CachedGemma3Attention"
_BLOOM = "keras_hub.src.models.bloom.bloom_attention.BloomAttention"
_FALCON = "keras_hub.src.models.falcon.falcon_attention.FalconAttention"
_T5GEMMA = "keras_hub.src.models.t5gemma.t5gemma_attention.T5GemmaAttention"
_T5GEMMA2 = "keras_hub.src.models.t5gemma2.t5gemma2_attention.T5Gemma2Attention"
_T5GEMMA2_MERGED = "keras_hub.src.models.t5gemma2.t5gemma2_attention.T5Gemma2MergedAttention"
_GPT_NEOX = "keras_hub.src.models.gpt_neo_x.gpt_neo_x_attention.GPTNeoXAttention"
_ESM = "keras_hub.src.models.esm.esm_attention.EsmSelfAttention"
# another library's names for the attention's parts (KerasHub's BLOOM, Qwen3, SmolLM3) → the rebuilt layer's
_PROJECTIONS = {"query_dense": "query", "key_dense": "key", "value_dense": "value", "output_dense": "attention_output",
                "q_proj": "query", "k_proj": "key", "v_proj": "value", "o_proj": "attention_output",
                "query_dense_layernorm": "query_norm", "key_dense_layernorm": "key_norm", "rotary_emb": "rotary_table",
                "q_dense_layer": "query", "k_dense_layer": "key", "v_dense_layer": "value",     # ESM's
                "o_dense_layer": "attention_output"}

# KerasHub's attention layers of the Llama family (under keras_hub.src.models) → what each computes beyond the
# grouped-query rotary attention without biases that CachedMistralAttention computes (read from their source,
# keras-hub 0.32: EinsumDense projections query, key, value, attention_output; RotaryEmbedding on queries and
# keys; softmax(QKᵀ/√head_dim) with the heads' output dropped by `dropout` before the output projection), as
# keras_class_attrs: settings their configs do not state. Llama's LlamaRotaryEmbedding and Phi-3's
# RotaryEmbedding compute the same with their scaling options unset (refused otherwise).
_HUB_ATTENTION = {
    "mistral.mistral_attention.CachedMistralAttention": {},
    "llama.llama_attention.LlamaAttention": {},
    "phi3.phi3_attention.Phi3Attention": {},
    "qwen.qwen_attention.QwenAttention": {"use_bias": True, "output_bias": False},   # bias_axes on q, k, v only
    "qwen3.qwen3_attention.Qwen3Attention": {"qk_norm": True},   # Qwen3LayerNorm on each query and key head
    # their mixture-of-experts models' attention: the same computations (a fused-kernel choice aside)
    "mixtral.mixtral_attention.CachedMixtralAttention": {},
    "qwen_moe.qwen_moe_attention.QwenMoeAttention": {"use_bias": True, "output_bias": False},
    "qwen3_moe.qwen3_moe_attention.Qwen3MoeAttention": {"qk_norm": True},
    # Dense projections (reshaped to the rebuilt per-head kernels: keras_weights), its frequency table a weight,
    # a bias on q/k/v only when attention_bias, rotary switched per layer (_smollm3)
    "smollm3.smollm3_layers.SmolLM3Attention": {"output_bias": False, "rotary_table": True},
}


def _smollm3(cfg: dict) -> dict:
    """SmolLM3Attention's arguments in the names of the others: query/key/value biases as attention_bias says
    (none on the output), rotary or not as its layer's entry of rope_layer_enabled_list says (NoPE layers),
    the frequencies of rope_theta; attention_dropout, layer_types and max_position_embeddings change nothing
    it computes (keras-hub 0.32 applies no dropout)."""
    if cfg.get("partial_rotary_factor", 1.0) != 1.0:
        raise KerasImportError(f"its partial_rotary_factor={cfg['partial_rotary_factor']} rotates part of each head; "
                               "archspec's rotary attention rotates all of it")
    heads, enabled, index = cfg["num_attention_heads"], list(cfg.get("rope_layer_enabled_list") or []), cfg["layer_idx"]
    return {**{k: cfg[k] for k in ("output_bias", "rotary_table") if k in cfg},
            "num_query_heads": heads, "num_key_value_heads": cfg["num_key_value_heads"],
            "head_dim": cfg["hidden_size"] // heads, "rope_max_wavelength": cfg.get("rope_theta", 10000.0),
            "use_bias": bool(cfg.get("attention_bias")), "rotary": bool(enabled[index]) if index < len(enabled) else True}


@register
class Attention(Op):
    name, keras_class, Attrs, category, arity, primary = (
        "attention", "MultiHeadAttention", AttentionAttrs, "attn", (1, 4), "heads")
    keras_names = {"heads": "num_heads", "output_dim": "output_shape"}
    # the others: archspec's (ops/keras_layers.py), for grouped heads or rotary, and for key_bias: false
    # KerasHub's CachedMultiHeadAttention (its decoders' attention) is MultiHeadAttention with a key/value
    # cache for generation: called without a cache, as a model's graph calls it, it computes the same
    # KerasHub's Llama-family attention layers are the grouped-query rotary attention GroupedAttention computes
    # (read from their own config and arguments: from_keras, keras_live_args; what each adds: _HUB_ATTENTION)
    keras_classes = ("MultiHeadAttention", "GroupedAttention", "NoKeyBiasAttention", "keras_hub>CachedMultiHeadAttention",
                     "keras_hub.src.models.mistral.mistral_attention.CachedMistralAttention", _WHISPER, _GEMMA, _GEMMA3,
                     _BLOOM, _FALCON, _ESM, _GPT_NEOX, _T5GEMMA, _T5GEMMA2, _T5GEMMA2_MERGED,
                     *(f"keras_hub.src.models.{k}" for k in _HUB_ATTENTION if not k.startswith("mistral.")))
    # Whisper's is CachedMultiHeadAttention built without the key projection's bias; its config says nothing of it
    keras_class_attrs = {_WHISPER: {"key_bias": False}, _BLOOM: {"alibi": True},       # BLOOM's: ALiBi, always
                         _T5GEMMA2_MERGED: {"merged": True},
                         _FALCON: {"alibi": True, "alibi_positions": "unpadded", "alibi_scaled": True},
                         **{f"keras_hub.src.models.{k}": v for k, v in _HUB_ATTENTION.items() if v}}
    keras_live_args = True
    keras_call_inputs = ("key",)                       # layer(query, value, key=key): inputs [query, value, key]
    keras_call_flags = {"value_mask": "padding_mask", "use_causal_mask": "causal", "additive_mask": "additive_mask",
                        "context_mask": "padding_mask", "response_mask": "prefix_lm"}
    # (the fourth: a merged attention's mask over x's keys then the context's is read as x's and the context's;
    # the fifth: a prefix-LM mask computed from a padding and a response mask is read as both)
    keras_call_masks = {"attention_mask": ("value_mask", "use_causal_mask", "additive_mask", "context_mask",
                                           "response_mask")}
    keras_call_derived = {"alibi": lambda layer, pad: _unpadded_alibi(layer.num_heads, pad)}    # Falcon's
    # a loaded SmolLM3Backbone passes its own name, trainable and dtype to every decoder call, which hands them
    # to SmolLM3Attention.call's **kwargs (it reads only its cache keys there); no attention's call names them
    keras_call_ignored = ("name", "trainable", "dtype")
    doc = ("Multi-head attention (keras.layers.MultiHeadAttention). `from: x` is self-attention, "
           "`from: [query, context]` cross-attention, `from: [query, value, key]` (Keras's order) names all three; inputs are "
           "token sequences (tokens, features). Output: (query tokens, output_dim or the query's features).")
    examples = [({"heads": 4, "key_dim": 8}, [(10, 16)], (10, 16), (2160, 0)),
                ({"heads": 2, "key_dim": 4, "causal": True, "padding_mask": True}, [(6, 8), (6,)], (6, 8), (288, 0)),
                ({"heads": 2, "key_dim": 4, "padding_mask": True}, [(3, 8), (5, 6), (5,)], (3, 8), (256, 0)),
                ({"heads": 4, "key_dim": 4, "key_value_heads": 2, "rotary": True, "causal": True, "use_bias": False},
                 [(6, 16)], (6, 16), (768, 0)),
                ({"heads": 4, "key_dim": 2, "key_value_heads": 1, "padding_mask": True}, [(5, 8), (5,)], (5, 8), (180, 0)),
                ({"heads": 2, "key_dim": 8, "value_dim": 6, "output_dim": 12, "use_bias": False}, [(5, 16), (7, 10)], (5, 12), (680, 0)),
                ({"heads": 3, "key_dim": 4, "dropout": 0.1}, [(6, 8), (9, 5), (9, 7)], (6, 8), (380, 0)),
                ({"heads": 2, "key_dim": 4, "key_bias": False}, [(5, 8)], (5, 8), (280, 0)),
                ({"heads": 2, "key_dim": 4, "key_value_heads": 1, "key_bias": False}, [(5, 8)], (5, 8), (212, 0)),
                # Qwen's: q/k/v biases, none on the output: 2·4·8 + 2·(1·4·8) weights out, 8 + 4 + 4 biases in
                ({"heads": 2, "key_dim": 4, "key_value_heads": 1, "rotary": True, "causal": True, "output_bias": False},
                 [(6, 8)], (6, 8), (208, 0)),
                # Qwen3's: + a (key_dim,) scale for the query heads and one for the key heads
                ({"heads": 2, "key_dim": 8, "key_value_heads": 1, "rotary": True, "use_bias": False, "qk_norm": True,
                  "qk_norm_epsilon": 1e-5}, [(5, 12)], (5, 12), (592, 0)),
                ({"heads": 2, "key_dim": 4, "rotary": True, "rotary_scaling": 4.0, "use_bias": False},
                 [(5, 8)], (5, 8), (256, 0)),
                # GPT-NeoX's: a quarter of each head of 8 rotated (2 features), biases, output to the input's width
                ({"heads": 2, "key_dim": 8, "rotary": True, "rotary_fraction": 0.25, "causal": True,
                  "padding_mask": True}, [(6, 16), (6,)], (6, 16), (1088, 0)),
                # half of each head of 8 rotated, its 2 frequencies kept as a weight
                ({"heads": 2, "key_dim": 8, "key_value_heads": 1, "rotary": True, "rotary_fraction": 0.5,
                  "use_bias": False, "rotary_table": True}, [(5, 16)], (5, 16), (768, 2)),
                # SmolLM3's: the 2 rotary frequencies of a head of 4 kept as a weight
                ({"heads": 2, "key_dim": 4, "key_value_heads": 1, "rotary": True, "use_bias": False, "rotary_table": True},
                 [(5, 8)], (5, 8), (192, 2)),
                ({"heads": 2, "key_dim": 8, "key_value_heads": 1, "rotary": True, "causal": True, "use_bias": False,
                  "logit_soft_cap": 50.0}, [(6, 16)], (6, 16), (768, 0)),
                ({"heads": 2, "key_dim": 8, "key_value_heads": 1, "rotary": True, "use_bias": False, "qk_norm": True,
                  "qk_norm_unit_offset": True}, [(6, 16)], (6, 16), (784, 0)),
                ({"heads": 2, "key_dim": 8, "alibi": True, "causal": True}, [(6, 16)], (6, 16), (1088, 0)),
                ({"heads": 2, "key_dim": 8, "alibi": True, "alibi_positions": "unpadded", "alibi_scaled": True,
                  "causal": True, "padding_mask": True}, [(6, 16), (6,)], (6, 16), (1088, 0)),
                # T5Gemma's: scores × query_pre_attn_scalar^−½, masks added as −10⁹; its cross-attention unrotated
                ({"heads": 2, "key_dim": 8, "key_value_heads": 1, "rotary": True, "causal": True, "padding_mask": True,
                  "use_bias": False, "score_scale": 0.5, "additive_mask": True}, [(6, 16), (6,)], (6, 16), (768, 0)),
                ({"heads": 2, "key_dim": 8, "key_value_heads": 1, "padding_mask": True, "use_bias": False,
                  "score_scale": 1.0, "additive_mask": True}, [(5, 16), (7, 12), (7,)], (5, 16), (704, 0)),
                # T5Gemma 2's decoder: x's 5 tokens and the context's 7 as keys, one projection for both
                ({"heads": 2, "key_dim": 8, "key_value_heads": 1, "rotary": True, "causal": True, "padding_mask": True,
                  "use_bias": False, "qk_norm": True, "qk_norm_unit_offset": True, "merged": True, "additive_mask": True},
                 [(5, 16), (7, 16), (5,), (7,)], (5, 16), (784, 0)),
                ({"heads": 2, "key_dim": 4, "merged": True}, [(5, 8), (3, 8)], (5, 8), (288, 0)),
                # PaliGemma's: 4 image tokens, then 6 text tokens with their padding and response masks
                ({"heads": 2, "key_dim": 8, "key_value_heads": 1, "rotary": True, "use_bias": False,
                  "padding_mask": True, "prefix_lm": True}, [(10, 16), (6,), (6,)], (10, 16), (768, 0)),
                # ESM's: the mask marks the queries (one per query token: 3 here, against 5 keys)
                ({"heads": 2, "key_dim": 4, "rotary": True, "padding_mask": True, "padding_mask_on": "queries"},
                 [(3, 8), (5, 8), (3,)], (3, 8), (288, 0))]

    def infer(self, a, ins):
        ins, mask = _split(a, ins)
        if not ins:
            raise ShapeError("attention with padding_mask: true needs its query before the mask",
                             "arity", "wire it as `from: [x, padding_mask]`", field="padding_mask")
        if len(ins) > 3:
            raise ShapeError(f"attention takes a query, value and key (and a mask with padding_mask: true); it "
                             f"receives {len(ins)} tensors besides", "arity",
                             "set `padding_mask: true` if the last input is a mask" if not a.padding_mask else None)
        for i, s in enumerate(ins):
            if len(s) != 2:
                what = ("query", "value", "key")[i] if len(ins) == 3 else ("query", "context")[i] if len(ins) == 2 else "input"
                raise ShapeError(f"attention needs token sequences (tokens, features); its {what} has shape {s}",
                                 "shape-rank", f"turn it into tokens first: `- reshape: [-1, {s[-1]}]`")
        if a.merged:
            self._merged_shapes(a, ins, mask)
        if a.prefix_lm and not a.padding_mask:
            raise ShapeError("prefix_lm attention reads a padding mask and a response mask after x", "arity",
                             "set `padding_mask: true` and wire it as `from: [x, padding_mask, response_mask]`",
                             field="prefix_lm")
        if a.prefix_lm and (len(ins) > 2 or ins[-1][0] != ins[0][0] or mask[0] != mask[1] or len(mask[0]) != 1
                            or mask[0][0] > ins[0][0]):        # ([x, x, …]: Keras's own call, query and value)
            raise ShapeError(f"prefix_lm attention takes x, its padding mask and its response mask (`from: [x, "
                             f"padding_mask, response_mask]`), the masks alike and no longer than x's {ins[0][0]} "
                             f"tokens; it receives {', '.join(map(str, ins + list(mask)))}", "shape-mismatch",
                             field="prefix_lm")
        q, k, v = _roles(ins)
        kv = a.key_value_heads or a.heads
        if a.heads % kv:
            raise ShapeError(f"{a.heads} query heads cannot be shared evenly by {kv} key/value heads", "attention-heads",
                             "make heads a multiple of key_value_heads (e.g. 32 and 8)", field="key_value_heads")
        if a.rotary and a.key_dim % 2 and a.rotary_fraction == 1.0:
            raise ShapeError(f"rotary position embedding rotates feature pairs; the head size key_dim={a.key_dim} is odd",
                             "attention-heads", "use an even key_dim", field="rotary")
        if a.rotary and a.rotary_fraction != 1.0 and (_rotated(a) < 2 or _rotated(a) % 2):
            raise ShapeError(f"rotary position embedding rotates feature pairs; rotary_fraction {a.rotary_fraction:g} "
                             f"of key_dim {a.key_dim} rotates {_rotated(a)} features of each head",
                             "attention-heads", "choose a fraction that rotates an even number of features (≥ 2), "
                             f"e.g. {2 * max(1, _rotated(a) // 2) / a.key_dim:g}", field="rotary_fraction")
        if k[0] != v[0]:
            raise ShapeError(f"attention's key has {k[0]} tokens but its value {v[0]}: each key needs a value",
                             "shape-mismatch")
        marked = (q if a.padding_mask_on == "queries" else k)[0]
        if mask is not None and not a.merged and not a.prefix_lm and mask != (marked,):
            what = "query" if a.padding_mask_on == "queries" else "key"
            raise ShapeError(f"attention's padding mask has shape {mask}; it needs one entry per {what} token ({marked},)",
                             "shape-mismatch", "pass the (tokens,) mask input that goes with the "
                             f"{'queries' if what == 'query' else 'keys'}' ids",
                             field="padding_mask")
        if a.causal and not a.merged and q[0] > k[0]:
            raise ShapeError(f"causal attention with {q[0]} query tokens but only {k[0]} key tokens: the last "
                             "queries would see nothing", "shape-mismatch", field="causal")
        return (q[0], a.output_dim or q[1])

    @staticmethod
    def _merged_shapes(a, ins, masks):
        if len(ins) != 2:
            raise ShapeError(f"merged attention takes x and a context (`from: [x, context]`); it receives {len(ins)} "
                             "sequences", "arity", field="merged")
        (tq, dq), (tk, dk) = ins
        if dq != dk:
            raise ShapeError(f"merged attention projects x and the context with the same weights; x has {dq} features, "
                             f"the context {dk}", "shape-mismatch", field="merged")
        if masks is not None and list(masks) != [(tq,), (tk,)]:
            raise ShapeError(f"merged attention's padding masks have shapes {list(masks)}; they need x's ({tq},) then "
                             f"the context's ({tk},)", "shape-mismatch", "wire it as `from: [x, context, x_mask, "
                             "context_mask]`", field="padding_mask")

    def _dims(self, a, ins, out):
        q, k, v = _roles(_split(a, ins)[0])
        tk = q[0] + k[0] if a.merged else k[0]              # merged: keys of x's tokens and the context's
        return q[0], tk, q[1], k[1], v[1], a.heads, a.key_dim, a.value_dim or a.key_dim, out[1]

    def params(self, a, ins, out):
        _, _, dq, dk, dv, h, kd, vd, do = self._dims(a, ins, out)
        g = a.key_value_heads or h
        weights = h * kd * dq + g * kd * dk + g * vd * dv + h * vd * do
        biases = h * kd + g * kd * a.key_bias + g * vd + do * a.output_bias if a.use_bias else 0
        # qk_norm: a scale for queries, one for keys; rotary_table: a frequency per rotated pair, not trained
        return (weights + biases + 2 * kd * a.qk_norm, int(kd * a.rotary_fraction) // 2 * a.rotary_table)

    macs_rule = "everything that multiplies: the Q, K, V and output projections, the scores QKᵀ and attention × V (below)"

    def macs(self, a, ins, out):
        tq, tk, dq, dk, dv, h, kd, vd, do = self._dims(a, ins, out)
        g = a.key_value_heads or h
        projections = tq * dq * h * kd + tk * dk * g * kd + tk * dv * g * vd + tq * h * vd * do
        return projections + h * tq * tk * (kd + vd)          # QKᵀ and attention × V (every query head)

    flops_rule = ("2 per MAC; + 1 per projected element for each bias; + 1 per score (h·Tq·Tk) for the 1/√dk scaling — "
                  "with `dropout` > 0 Keras scales the queries instead (Tq·h·dk); + 5 per score for the softmax; a mask "
                  "(`causal`, `padding_mask`, `prefix_lm`) 0 — it is a select, which the profiler does not count either; + 3.5 per "
                  "rotated query and key element with `rotary` (⌊key_dim · rotary_fraction⌋ of each head; x·cos, "
                  "rotate(x)·sin, their sum, the negated half; the sin/cos table of positions × frequencies is not "
                  "counted); + 2 per score with `logit_soft_cap` "
                  "(divide, multiply; the tanh, an activation, is not counted, as the profiler counts none); with "
                  "`qk_norm`, rms_norm's count over the queries and keys (4 per element, 3 per head vector; with "
                  "`qk_norm_unit_offset` 2 per head vector + 1 per scale entry, 2·key_dim); + 1 per score with "
                  "`alibi` (the bias added; its table of slope × position per head and key is not counted); + 1 per "
                  "score with `additive_mask` (the mask added; building it, (1 − mask)·−10⁹, is not counted); "
                  "`score_scale` changes the scaling's factor, not its count; `merged`: Tk is x's tokens and the "
                  "context's, of which x's keys only are rotated, and the key norm's 1 + scale is made for each "
                  "(3·key_dim)")

    def extra_flops(self, a, ins, out):
        tq, tk, _, _, _, h, kd, vd, do = self._dims(a, ins, out)
        g = a.key_value_heads or h
        biases = tq * h * kd + tk * g * kd * a.key_bias + tk * g * vd + tq * do * a.output_bias if a.use_bias else 0
        scale = tq * h * kd if a.dropout > 0 and not self._grouped(a) else h * tq * tk
        # rotary, per query/key element: x·cos, rotate(x)·sin, their sum, and the negated half of rotate(x)
        rotary = 7 * _rotated(a) * (tq * h + (tq if a.merged else tk) * g) // 2    # merged: x's keys only
        cap = 2 * h * tq * tk if a.logit_soft_cap is not None else 0   # cap · tanh(score / cap)
        vectors = tq * h + tk * g                                       # query and key head vectors normalized
        norms = 0
        if a.qk_norm:
            # (merged: the key norm is applied to x's keys and to the context's, its 1 + scale made twice)
            norms = 4 * kd * vectors + (2 * vectors + (2 + a.merged) * kd if a.qk_norm_unit_offset else 3 * vectors)
        masked = h * tq * tk * (a.additive_mask and (a.padding_mask or a.causal))
        return biases + scale + 5 * h * tq * tk + rotary + cap + norms + h * tq * tk * a.alibi + masked

    def _fused(self, a) -> bool:
        """Whether Keras on JAX runs this layer through `ops.dot_product_attention` (no dropout, Keras's own
        MultiHeadAttention with value heads as wide as key heads) rather than its explicit einsum → softmax
        path (dropout, GroupedAttention, value_dim ≠ key_dim: `_explicit_attention`)."""
        return a.dropout == 0 and not self._grouped(a) and (a.value_dim is None or a.value_dim == a.key_dim)

    def backward_keeps(self, a, ins, out):
        """Its inputs (the projection weights' gradients), and inside: Q, K, V, the heads' output before the
        output projection and score-sized tensors — through `dot_product_attention`, JAX's saved residuals
        are both exp(scores − max) and the probabilities (2, `jax.ad_checkpoint.print_saved_residuals`);
        through the explicit path, softmax's output (1) and the dropout mask (1 more with dropout)."""
        tq, tk, _, _, _, h, kd, vd, _ = self._dims(a, ins, out)
        g = a.key_value_heads or h
        scores = 2 if self._fused(a) else 1 + (a.dropout > 0)
        scores += a.logit_soft_cap is not None          # tanh's gradient reads its output (reasoned, not measured)
        norms = (tq * h * kd + tk * g * kd) * a.qk_norm      # the projections before their norm (not measured)
        # the explicit path repeats grouped key/value heads for the query heads (`ops.repeat`) before its
        # einsums, which keep the repeated ones: K and V at h heads (Llama's blocks, buffer assignment)
        kv = g if self._fused(a) else h
        return True, False, tq * h * kd + tk * kv * kd + tk * kv * vd + scores * h * tq * tk + tq * h * vd + norms

    def workspace(self, a, ins, out, platform):
        """XLA:CPU stores one more score-sized tensor per attention layer than JAX's residuals name: the
        max-subtracted scores, the output of the fusion that computes them (3 of 12 × 197 × 197 per block in
        ViT-B/16's compiled step, through dot_product_attention; through the explicit path GPT-2's blocks keep
        the same 3 with dropout — scores, probabilities, dropped probabilities; buffer assignment). Through the
        explicit path, 2 more with dropout — the random bits the keep mask is drawn from (two uint32 tensors
        of the scores' size from the threefry loop, alive until the backward: GPT-2's and BERT's blocks) —
        and without dropout, 1 more with a mask: softmax's masked input (`softmax/jit(_where)/select_n`,
        Llama's blocks)."""
        if platform != "cpu":
            return 0
        tq, tk, _, _, _, h, _, _, _ = self._dims(a, ins, out)
        extra = 0
        if not self._fused(a):
            extra = 2 if a.dropout > 0 else int(bool(a.padding_mask or a.causal) and not a.additive_mask)
        return (1 + extra) * h * tq * tk

    def shared_workspace(self, a, ins, out, platform):
        """Through `dot_product_attention` XLA:CPU broadcasts the scores' scale (1/√key_dim, `f32[1, B, heads,
        T, T]` of a constant) once and keeps it from the first layer's forward to the end of the backward, where
        every layer's backward fusion reads it: one float32 score-sized tensor per model, not per layer, and none
        with a single such layer (Whisper's encoder with 3 layers: 103 MiB at batch 2; with 1, no such buffer;
        buffer assignment)."""
        if platform != "cpu" or not self._fused(a):
            return None, 0
        tq, tk, _, _, _, h, kd, _, _ = self._dims(a, ins, out)
        return ("attention scale", h, tq, tk, a.score_scale or kd), h * tq * tk

    def mixed_float32(self, a, ins, out, platform, inside):
        """On XLA:CPU everything it keeps is float32: its projections and score matmuls run in float32, as every
        kernel's there (`Op.mixed_float32`), and so do the scores' softmax (below) — Q, K, V and 3 score-sized
        tensors per layer, all float32 in the buffer assignment. On a GPU, through `dot_product_attention` JAX computes the scores and
        their softmax in float32 whatever the inputs' dtype (`_dot_product_attention_core`: float32 logits,
        probabilities cast back to the value's dtype): exp(scores − max) is a float32 residual, the
        probabilities 16-bit (read from JAX's source; a 2-layer ViT-B/16's deviceless XLA:GPU compile stores
        `exp` as float32 and recomputes the probabilities from it: 134 MiB per layer at batch 32, 122 counted)."""
        if platform == "cpu":
            return MixedKeeps(True, False, inside, True)
        if not self._fused(a):
            return super().mixed_float32(a, ins, out, platform, inside)
        tq, tk, _, _, _, h, _, _, _ = self._dims(a, ins, out)
        return MixedKeeps(False, False, h * tq * tk, False)

    def lint(self, a, ins, out):
        q = _roles(_split(a, ins)[0])[0]
        if a.output_dim is None and a.heads * a.key_dim != q[1]:
            return [("heads-split", f"{a.heads} heads × key_dim {a.key_dim} = {a.heads * a.key_dim} features, but the "
                     f"query has {q[1]}: the hidden size does not divide into the heads",
                     f"choose a hidden size divisible by {a.heads} (e.g. {q[1] // a.heads * a.heads} or "
                     f"{-(-q[1] // a.heads) * a.heads}), or another number of heads")]
        return []

    def token_mixing(self, a, n):
        if n - int(a.padding_mask) * (1 + (a.merged or a.prefix_lm)) > 1:
            return None, (0,)                   # cross-attention: the query's tokens mix with another sequence's
        return ("causal" if a.causal else "all"), (0,)          # (prefix_lm: all — its prefix is seen whole)

    @staticmethod
    def _grouped(a) -> bool:
        """Built as archspec's GroupedAttention (grouped key/value heads or rotary) instead of Keras's MHA."""
        return (a.rotary or a.rotary_fraction != 1.0 or (a.key_value_heads or a.heads) != a.heads
                or a.logit_soft_cap is not None or a.qk_norm or a.alibi or a.rotary_table or (a.use_bias and not a.output_bias)
                or a.score_scale is not None or a.additive_mask or a.merged or a.prefix_lm
                or a.padding_mask_on != "keys")

    def build_keras(self, a, name):
        """keras.layers.MultiHeadAttention; archspec's GroupedAttention for grouped heads or rotary, its
        NoKeyBiasAttention (a MultiHeadAttention subclass) for key_bias: false; on JAX with value_dim ≠ key_dim,
        made to take Keras's explicit path (_explicit_attention)."""
        if self._grouped(a):
            from . import keras_layers

            return keras_layers.GroupedAttention(**self.keras_kwargs(a), name=name)
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

    def label(self, a):
        v = f"/{a.value_dim}" if a.value_dim and a.value_dim != a.key_dim else ""
        kv = f" · {a.key_value_heads} kv" if (a.key_value_heads or a.heads) != a.heads else ""
        rope = (" · rotary" + (f" {_rotated(a)}/{a.key_dim}" if a.rotary_fraction != 1 else "")
                + (f" ÷{a.rotary_scaling:g}" if a.rotary_scaling != 1 else "")) if a.rotary else ""
        causal = " · causal" if a.causal else ""
        extra = (" · alibi" if a.alibi else "") + (f" · cap {a.logit_soft_cap:g}" if a.logit_soft_cap else "") + (
            " · qk norm" if a.qk_norm else "") + (f" · scale {a.score_scale:g}" if a.score_scale is not None else "") + (
            " · merged" if a.merged else "") + (" · prefix lm" if a.prefix_lm else "") + (
            " · mask on queries" if a.padding_mask_on == "queries" else "")
        return f"attention · {a.heads} head{'s' if a.heads > 1 else ''} · {a.key_dim}{v}{kv}{rope}{causal}{extra}"

    def keras_kwargs(self, a):
        kw = dict(num_heads=a.heads, key_dim=a.key_dim, value_dim=a.value_dim, dropout=a.dropout,
                  use_bias=a.use_bias, output_shape=a.output_dim)
        if self._grouped(a):
            kw.update(key_value_heads=a.key_value_heads or a.heads, rotary=a.rotary,
                      rotary_wavelength=a.rotary_wavelength)
            if a.rotary_scaling != 1.0:
                kw.update(rotary_scaling=a.rotary_scaling)
            if a.rotary_fraction != 1.0:
                kw.update(rotary_fraction=a.rotary_fraction)
            if a.rotary_table:
                kw.update(rotary_table=True)
            if a.use_bias and not a.output_bias:
                kw.update(output_bias=False)
            if a.logit_soft_cap is not None:
                kw.update(logit_soft_cap=a.logit_soft_cap)
            if a.alibi:
                kw.update(alibi=True, alibi_positions=a.alibi_positions, alibi_scaled=a.alibi_scaled)
            if a.qk_norm:
                kw.update(qk_norm=True, qk_norm_unit_offset=a.qk_norm_unit_offset, qk_norm_epsilon=a.qk_norm_epsilon)
            if a.score_scale is not None:
                kw.update(score_scale=a.score_scale)
            if a.additive_mask:
                kw.update(additive_mask=True)
            if a.merged:
                kw.update(merged=True)
            if a.prefix_lm:
                kw.update(prefix_lm=True)
            if a.padding_mask_on != "keys":
                kw.update(padding_mask_on=a.padding_mask_on)
        return kw if a.key_bias or not a.use_bias else dict(kw, key_bias=False)

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

    def from_keras(self, cfg, shapes):
        if "query_pre_attn_scalar" in cfg:
            return self._from_t5gemma(cfg, shapes)
        if "rotary_percentage" in cfg:
            return self._from_gpt_neox(cfg, shapes)
        if cfg.get("alibi") and "key_dim" not in cfg:
            return self._from_bloom(cfg, shapes)
        if "use_query_key_norm" in cfg:
            return self._from_gemma3(cfg, shapes)
        if "query_head_dim_normalize" in cfg:
            return self._from_gemma(cfg, shapes)
        if "use_rotary" in cfg and "head_size" in cfg:
            return self._from_esm(cfg, shapes)
        if "num_attention_heads" in cfg and "num_query_heads" not in cfg:
            cfg = _smollm3(cfg)
        if "num_query_heads" not in cfg:
            return super().from_keras(cfg, shapes)
        # KerasHub's Llama-family attention: grouped-query heads, rotary embedding, and what _HUB_ATTENTION adds
        # (keras_class_attrs: in the config as if it stated them)
        heads, kv = cfg["num_query_heads"], cfg["num_key_value_heads"]
        for key, fine in (("rope_position_scaling_factor", 1.0), ("rope_frequency_adjustment_factor", None),
                          ("rope_scaling_type", None)):
            if cfg.get(key, fine) != fine:      # Llama's position scaling and Llama 3.1's, Phi-3's "su" frequencies
                raise KerasImportError(f"its {key}={cfg[key]!r} changes the rotary frequencies; archspec's rotary "
                                       "attention reads plain RoPE (with linear position scaling: rope_scaling_factor)")
        if cfg.get("dropout"):
            raise KerasImportError(f"it drops the heads' output (dropout={cfg['dropout']}) where archspec's attention "
                                   "drops the attention probabilities; import it with dropout=0")
        length = shapes[0][0] if shapes and shapes[0] else None
        # Mistral's window (applied by its decoder's mask), Qwen's and Qwen3's (a band |i - j| < window)
        window = (cfg.get("sliding_window") if "sliding_window" in cfg else
                  cfg.get("sliding_window_size") if cfg.get("use_sliding_window_attention", True) else None)
        if window and (length is None or length > window):
            raise KerasImportError(f"its sliding window of {window} tokens is shorter than the sequence of {length}; "
                                   "archspec's causal attention sees every earlier token")
        dim = cfg.get("head_dim") or (shapes[0][-1] // heads if shapes else None)
        if dim is None:
            raise KerasImportError("its head size is not stated and its input has no fixed width")
        values = dict(heads=heads, key_dim=dim, key_value_heads=kv if kv != heads else None, rotary=True,
                      rotary_wavelength=float(cfg.get("rope_max_wavelength", 10000)),
                      rotary_scaling=float(cfg.get("rope_scaling_factor") or 1.0), use_bias=False)
        values.update({k: cfg[k] for k in ("use_bias", "output_bias", "qk_norm", "rotary_table", "rotary") if k in cfg})
        if values.get("qk_norm"):
            if cfg.get("layer_norm_epsilon") is None:
                raise KerasImportError("the epsilon of its query and key norms is not stated")
            values["qk_norm_epsilon"] = float(cfg["layer_norm_epsilon"])
        return values

    def _from_gemma(self, cfg, shapes):
        """KerasHub's CachedGemmaAttention: grouped-query heads, rotary positions (wavelength 10000; Gemma
        interleaves the rotated halves of queries and keys alike, which leaves every score q·k as it is), no
        biases, scores scaled by 1/√head_dim (or, with query_head_dim_normalize=False, 1/√(hidden size / heads):
        score_scale), optionally soft-capped, dropout on the probabilities; a query that
        attends to no key gives 0 (as Keras's masked softmax). Its sliding window is taken only where it
        covers the whole sequence."""
        heads, kv, dim = cfg["num_query_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
        width = shapes[0][-1] if shapes and shapes[0] else None
        scale = None
        if not cfg.get("query_head_dim_normalize", True) and (width is None or width // heads != dim):
            if width is None:
                raise KerasImportError("it scales the scores by 1/√(hidden size / heads) "
                                       "(query_head_dim_normalize=False) and its input has no fixed width")
            scale = (width // heads) ** -0.5            # 1/√(hidden size / heads) instead of 1/√head_dim
        length = shapes[0][0] if shapes and shapes[0] else None
        window = cfg.get("sliding_window_size")
        if cfg.get("use_sliding_window_attention") and (length is None or window is None or length > window):
            raise KerasImportError(f"its sliding window of {window} tokens is shorter than the sequence of {length}; "
                                   "archspec's causal attention sees every earlier token")
        cap = cfg.get("logit_soft_cap")
        return dict(heads=heads, key_dim=dim, key_value_heads=kv if kv != heads else None, rotary=True,
                    use_bias=False, dropout=float(cfg.get("dropout") or 0.0), logit_soft_cap=cap or None,
                    score_scale=scale)

    def _from_gemma3(self, cfg, shapes):
        """KerasHub's CachedGemma3Attention: Gemma's (above), with query and key RMS norms of (1 + scale), its
        rotary wavelength set per layer (10 000 local, 1 000 000 global) and no interleaving of the halves."""
        if cfg.get("rope_scaling_factor", 1.0) != 1.0:
            raise KerasImportError(f"its rope_scaling_factor={cfg['rope_scaling_factor']} stretches the rotary "
                                   "positions; archspec's rotary attention has no scaling")
        values = self._from_gemma(cfg, shapes)
        values["rotary_wavelength"] = float(cfg.get("rope_wavelength", 10000.0))
        if cfg.get("use_query_key_norm"):
            values.update(qk_norm=True, qk_norm_unit_offset=True, qk_norm_epsilon=float(cfg.get("layer_norm_epsilon",
                                                                                              1e-6)))
        return values

    def _from_t5gemma(self, cfg, shapes):
        """KerasHub's T5GemmaAttention (and T5Gemma 2's self-attention, T5Gemma2Attention): Gemma's grouped-query
        heads, biases on all four projections or none (attention_bias), scores scaled by query_pre_attn_scalar^−½,
        optionally soft-capped, the additive mask its layer computes (read as padding and causal masks), dropout
        on the probabilities. Self-attention (attention_type 'self'; T5Gemma 2's always) rotates queries and keys
        (KerasHub's RotaryEmbedding, positions divided by rope_scaling_factor); cross-attention (a [query,
        context] input) does not. T5Gemma 2's adds query and key RMS norms of (1 + scale); its decoder's
        T5Gemma2MergedAttention is self- and cross-attention in one softmax (merged)."""
        heads, kv, dim = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
        rotary = cfg.get("attention_type", "self") == "self"
        scalar = float(cfg["query_pre_attn_scalar"])
        values = dict(heads=heads, key_dim=dim, key_value_heads=kv if kv != heads else None, rotary=rotary,
                      use_bias=bool(cfg.get("attention_bias")), dropout=float(cfg.get("attention_dropout") or 0.0),
                      logit_soft_cap=cfg.get("attn_logit_softcapping") or None,
                      score_scale=None if scalar == float(dim) else scalar ** -0.5)
        width = shapes[0][-1] if shapes and shapes[0] else None
        if cfg.get("hidden_size") is not None and width is not None and cfg["hidden_size"] != width:
            raise KerasImportError(f"its hidden_size {cfg['hidden_size']} is not its query's width {width}")
        if rotary:
            values.update(rotary_wavelength=float(cfg.get("rope_max_wavelength", 10000.0)),
                          rotary_scaling=float(cfg.get("rope_scaling_factor") or 1.0))
        if cfg.get("use_query_key_norm"):
            values.update(qk_norm=True, qk_norm_unit_offset=True, qk_norm_epsilon=float(cfg.get("rms_norm_eps", 1e-6)))
        if cfg.get("merged"):                       # T5Gemma2MergedAttention: x's keys rotated, the context's not
            values["merged"] = True
        return values
    def _from_esm(self, cfg, shapes):
        """KerasHub's EsmSelfAttention (ESM, ESM-2): Dense query, key, value and output projections (biased with
        use_bias; their kernels reshaped to the rebuilt per-head ones: keras_weights), queries and keys rotated
        as RotaryEmbedding rotates them (the halves of each head; use_rotary), softmax(QKᵀ/√head_size)·V by
        `ops.dot_product_attention`, no dropout. It is always called with its padding mask (batch, tokens), which
        it gives dot_product_attention as (batch, 1, tokens, 1): a mask over the queries on TensorFlow and JAX
        (each padded query attends to every key equally, no key is masked), one over the keys on PyTorch (where
        it repeats and transposes it) — read for the backend Keras runs."""
        import keras

        heads, dim = cfg["heads"], cfg["head_size"]
        width = shapes[0][-1] if shapes and shapes[0] else None
        out = cfg.get("out_dim") or heads * dim
        return dict(heads=heads, key_dim=dim, output_dim=None if out == width else out, use_bias=bool(cfg.get("use_bias")),
                    rotary=bool(cfg["use_rotary"]), rotary_wavelength=float(cfg.get("max_wavelength", 10000)),
                    padding_mask=True, padding_mask_on="keys" if keras.config.backend() == "torch" else "queries")

    def _from_bloom(self, cfg, shapes):
        """KerasHub's BloomAttention: heads of hidden size / heads, biased projections, ALiBi added to the
        scaled scores; its dropout drops both the probabilities and the output (archspec's: the probabilities).
        Falcon's FalconAttention: the same, its ALiBi over the unpadded positions (the bias it is called with,
        which the reader checks is that: keras_call_derived) added before the scaling, its dropout on the
        probabilities (attention_dropout_rate)."""
        heads, width = cfg["num_heads"], shapes[0][-1] if shapes and shapes[0] else None
        if "attention_dropout_rate" in cfg:
            if width is None or width % heads:
                raise KerasImportError(f"its {heads} heads do not divide the input's width {width}")
            return dict(heads=heads, key_dim=width // heads, alibi=True, alibi_positions=cfg["alibi_positions"],
                        alibi_scaled=cfg["alibi_scaled"], dropout=float(cfg.get("attention_dropout_rate") or 0.0))
        if cfg.get("dropout"):
            raise KerasImportError(f"it drops both the attention probabilities and its output (dropout="
                                   f"{cfg['dropout']}) where archspec's attention drops the probabilities only; "
                                   "import it with dropout=0")
        if width is None or width % heads:
            raise KerasImportError(f"its {heads} heads do not divide the input's width {width}")
        return dict(heads=heads, key_dim=width // heads, alibi=True)

    def _from_gpt_neox(self, cfg, shapes):
        """KerasHub's GPTNeoXAttention: one EinsumDense to each head's query, key and value side by side
        (keras_weights splits it), rotary positions on the first ⌊head size · rotary_percentage⌋ features of
        each query and key head (KerasHub's RotaryEmbedding: the half-split form), softmax(QKᵀ/√head size)
        with dropout on the probabilities, biased projections, an output projection to hidden_dim."""
        heads, hidden = cfg["num_heads"], cfg["hidden_dim"]
        if hidden % heads:
            raise KerasImportError(f"its {heads} heads do not divide its hidden_dim {hidden}")
        width = shapes[0][-1] if shapes and shapes[0] else None
        return dict(heads=heads, key_dim=hidden // heads, output_dim=hidden if hidden != width else None,
                    rotary=True, rotary_fraction=float(cfg["rotary_percentage"]),
                    rotary_wavelength=float(cfg.get("rotary_max_wavelength", 10000)),
                    dropout=float(cfg.get("dropout") or 0.0))

    def keras_weights(self, source, target, weights):
        """By meaning: each of `target`'s projection weights (query, key, value, attention_output; kernel, bias)
        takes the `source` weight of the same projection and kind, a kernel laid out as the target's einsum
        equation reads it (Gemma's query kernel is (heads, in, size), Keras's (in, heads, size); BLOOM's output
        Dense over the flattened heads); GPT-NeoX's one `query_key_value` projection, each head's query, key
        and value side by side on its last axis, split in three. Where the names do not pair one to one, the
        weights go in order, as they are (the shapes are then checked by Keras)."""
        src, n = {}, len(weights)
        for v, w in zip(source.weights, weights):
            role, eq = _role(v.path), _einsum_of(source, v)
            if role[0] == "query_key_value" and w.shape[-1] % 3 == 0:    # GPT-NeoX's: each head's q | k | v
                for name, part in zip(("query", "key", "value"), _thirds(w)):
                    src[(name, role[1])] = (part, eq)
                n += 2
            else:
                src[role] = (w, eq)
        roles = [_role(v.path) for v in target.weights]
        if len(src) != n or sorted(src) != sorted(roles):
            return weights
        out = []
        for v, role in zip(target.weights, roles):
            w, eq = src[role]
            if role[1] == "kernel" and tuple(w.shape) != tuple(v.shape):
                w = _relayout(w, eq, _einsum_of(target, v))
            if role[1] == "kernel" and role[0] == "attention_output" and w.ndim == 2 and v.ndim == 3 \
                    and w.shape[0] == v.shape[0] * v.shape[1]:
                w = w.reshape(tuple(v.shape))                # a Dense over the heads flattened (heads, size)
            if role[0] in ("query", "key", "value") and w.ndim == v.ndim - 1 and w.shape[:-1] == v.shape[:-2] \
                    and w.shape[-1] == v.shape[-2] * v.shape[-1]:
                w = w.reshape(tuple(v.shape))                # SmolLM3's Dense to heads × size, reshaped so in its call
            out.append(w)
        return out

    def input_roles(self, a, n):
        if a.merged:
            return {2: ("q", "kv"), 4: ("q", "kv", "mask", "mask")}.get(n)
        if a.prefix_lm:
            return {3: ("q", "mask", "mask"), 4: ("q", "kv", "mask", "mask")}.get(n)
        if a.padding_mask:
            return {1: ("mask",), 2: ("q", "mask"), 3: ("q", "kv", "mask"), 4: ("q", "v", "k", "mask")}.get(n)
        return {2: ("q", "kv"), 3: ("q", "v", "k")}.get(n)

    def call_keras(self, layer, tensors, attrs=None):
        tensors, mask = _split(attrs, tensors) if attrs is not None else (tensors, None)
        q, k, v = _roles(tensors)
        extra = {}
        if mask is not None and attrs.merged:
            extra.update(value_mask=mask[0], context_mask=mask[1])
        elif mask is not None and attrs.prefix_lm:
            extra.update(value_mask=mask[0], response_mask=mask[1])
        elif mask is not None:
            extra["value_mask"] = mask
        if attrs is not None and attrs.causal:
            extra["use_causal_mask"] = True
        return layer(q, v, key=k if len(tensors) == 3 else None, **extra)


def prefix_lm_keep(padding, response, tokens: int):
    """prefix_lm's mask in numpy, (batch, tokens, tokens) booleans from a padding and a response mask
    (batch, n ≤ tokens): query i sees key j when j is an unpadded prefix key (response 0) or a response key
    with j ≤ i, padded or not; the first tokens − n keys are unpadded prefix keys (the import reads a mask a
    layer computes as this one: importer/trace.py)."""
    import numpy as np

    first = tokens - padding.shape[1]
    pad = np.concatenate([np.ones((padding.shape[0], first), bool), np.asarray(padding).astype(bool)], 1)
    resp = np.concatenate([np.zeros((padding.shape[0], first), bool), np.asarray(response).astype(bool)], 1)
    causal = np.tril(np.ones((tokens, tokens), bool))
    return (pad & ~resp)[:, None, :] | (causal[None] & resp[:, None, :])


def _unpadded_alibi(heads: int, pad):
    """(batch, heads, 1, keys): m_h · (the number of unpadded keys before key j), 0 at a padded key — Falcon's
    bias for the padding mask `pad` (batch, keys)."""
    import numpy as np

    pad = np.asarray(pad).astype("int64")
    positions = (np.cumsum(pad, axis=-1) - 1) * pad
    return np.asarray(alibi_slopes(heads), "float64")[None, :, None, None] * positions[:, None, None, :]


def _thirds(w) -> list:
    """A fused projection's weight split in three along its last axis (query, key, value)."""
    import numpy as np

    return np.split(np.asarray(w), 3, axis=-1)


def _role(path: str) -> tuple[str, str]:
    """(projection, kind) of an attention weight's path: ('query', 'kernel') for '…/attention/query/kernel'."""
    parts = path.split("/")
    return (_PROJECTIONS.get(parts[-2], parts[-2]), parts[-1]) if len(parts) >= 2 else ("", parts[-1])


def _einsum_of(layer, variable) -> str | None:
    """The einsum equation of the EinsumDense inside `layer` that holds `variable`, if any (none in a block's
    WeightView, importer/blocks.py: it gives its weights in the rebuilt layer's layout)."""
    for sub in getattr(layer, "_flatten_layers", lambda **_: [])(include_self=False):
        if any(w is variable for w in sub.weights) and hasattr(sub, "equation"):
            return sub.equation.replace(" ", "")
    return None


def _kernel_roles(equation: str) -> list:
    """Each kernel axis of an EinsumDense `x,kernel->y` by what it is: ('in', k) the input's k-th axis from
    the end that it contracts, ('out', k) the output's k-th axis from the end."""
    x, rest = equation.split(",")
    kernel, y = rest.split("->")
    return [("out", len(y) - y.index(c)) if c in y else ("in", len(x) - x.index(c)) for c in kernel]


def _relayout(w, source_eq: str | None, target_eq: str | None):
    """The kernel `w` of an EinsumDense with `source_eq`, transposed to the axis order of `target_eq`."""
    import numpy as np

    if not source_eq or not target_eq:
        return w
    src, dst = _kernel_roles(source_eq), _kernel_roles(target_eq)
    if sorted(src) != sorted(dst):
        return w                                            # different computations: the shape check says so
    return np.transpose(w, [src.index(r) for r in dst])


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
