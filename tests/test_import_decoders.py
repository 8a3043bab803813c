"""archspec import of KerasHub's decoders — Gemma, Gemma 3, PaliGemma, BLOOM, Falcon, Whisper, T5Gemma (1 and 2),
and the Llama family (Mistral, Llama, Phi-3, Qwen, Qwen3, SmolLM3) — proven on real inputs.

`archspec import`'s own verification feeds every integer input uniform(0, 1) cast to int — token ids
and padding masks of zeros — so with every query masked, attention contributes nothing there. These
tests compare the imported spec with the KerasHub model on token ids spread over the vocabulary and
padding masks with padded tails, after giving every weight a random value (the same in both, copied by
the op's own ``keras_weights``): they fail if an attribute is read wrong (a mutated spec is shown to
differ), if a weight goes to the wrong place, or if a mask is read as the wrong kind.

The Llama family's attention layers are each read as the `attention` op with what that class computes
beyond grouped-query rotary attention — Qwen's query/key/value biases without an output bias, Qwen3's RMS
norm on each query and key head, SmolLM3's Dense projections and frequency table, linear RoPE scaling —
first on the layers alone (float inputs, no mask), then in their backbones on real inputs; rotary variants
archspec does not compute are refused naming the layer, a mixture of experts naming its block.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import keras_hub_zoo as zoo  # noqa: E402

np = pytest.importorskip("numpy")
pytestmark = pytest.mark.keras


def _imported(name, **changes):
    pytest.importorskip("keras_hub")
    from archspec.importer import fix_input_shapes, import_keras

    model = zoo.build(name, {**zoo.CONFIGS[name], **changes})
    model = fix_input_shapes(model, zoo.open_inputs(model, name=name))
    return model, import_keras(model)


def _max_diff(model, result, text=None, seed=1, feeds=None):
    """max |Δ| over the outputs of `model` and the spec `text` (default: the import's), on random token ids,
    padding masks with a padded tail, a padded head and a hole, and random features (or the arrays `feeds`
    gives by input name); weights random and shared."""
    import keras

    from archspec import ops
    from archspec.api import load_text
    from archspec.compile import keras_name
    from archspec.importer.verify import match

    spec = load_text(text or result.text, "<spec>")
    pairs = match(load_text(result.text, "<import>").graph, result.graph)
    compiled = spec.to_keras()
    rng = np.random.default_rng(seed)
    for sid, kname in pairs.items():
        layer = result.graph.nodes[kname].layer
        if layer is None or not layer.weights:
            continue
        ws = [w if np.ptp(w) > 0 else rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in layer.get_weights()]
        layer.set_weights(ws)
        target = compiled.get_layer(keras_name(sid))
        target.set_weights(ops.get(spec.graph[sid].op).keras_weights(layer, target, ws))
    xs = []
    for i in spec.graph.inputs:
        shape = (3,) + tuple(spec.graph[i].shape)
        if feeds and i in feeds:
            x = feeds[i]
        elif "mask" in i:
            x = np.ones(shape, "int32")
            x[1, 7:] = 0                                    # a padded tail
            x[2, :3] = 0                                    # a padded head: those queries attend to no key
            x[0, 4] = 0                                     # a hole
        elif spec.graph[i].attrs.dtype.startswith("int"):
            x = rng.integers(0, 50, shape).astype("int32")          # (the zoo's vocabulary_size)
        else:
            x = rng.normal(0, 1, shape).astype("float32")
        xs.append(x)
    by_name = {t._keras_history.operation.name: t for t in model.inputs}
    want = keras.Model([by_name[n] for n in result.graph.inputs], model.output)(xs)
    got = compiled(xs)
    keys = list(spec.graph.outputs)
    if isinstance(want, dict):
        want, got = [want[k] for k in keys], [got[k] for k in keys]
    else:
        want, got = [want], [got]
    assert max(float(np.max(np.abs(np.asarray(w)))) for w in want) > 0.1      # not a vacuous comparison
    return max(float(np.max(np.abs(np.asarray(w) - np.asarray(g)))) for w, g in zip(want, got))


def _round_trip(model, result):
    from archspec.importer.verify import roundtrip

    assert roundtrip(model, result.text, kg=result.graph).exact


def test_gemma_imports_exactly_with_its_norms_soft_cap_and_weights_read_by_meaning():
    """Gemma 2's settings on the tiny Gemma: soft-capped scores (a cap of 0.5 bites), post norms, a sliding
    window as long as the sequence. Without unit_offset or without the cap, the same weights give other outputs."""
    model, result = _imported("GemmaBackbone", attention_logit_soft_cap=0.5, use_post_ffw_norm=True,
                              use_post_attention_norm=True, use_sliding_window_attention=True, sliding_window_size=12)
    nodes = result.graph.nodes
    attn = nodes["decoder_block_0_attention"].attrs
    assert (attn.heads, attn.key_dim, attn.key_value_heads, attn.rotary, attn.use_bias, attn.logit_soft_cap) == (
        2, 8, 1, True, False, 0.5)
    assert nodes["decoder_block_0_pre_attention_norm"].attrs.unit_offset
    assert nodes["decoder_block_0_ffw_gating"].op == "dense"               # EinsumDense btd,df->btf
    _round_trip(model, result)
    assert _max_diff(model, result) < 1e-5
    assert _max_diff(model, result, result.text.replace("unit_offset: true", "unit_offset: false")) > 1e-3
    assert _max_diff(model, result, result.text.replace("logit_soft_cap: 0.5", "logit_soft_cap: 50.0")) > 1e-3


def test_gemma_attention_scaled_by_hidden_size_over_heads_is_score_scale():
    """CachedGemmaAttention with query_head_dim_normalize=False scales by 1/√(hidden size / heads) = 1/√8
    with heads of 4 on a width of 16: score_scale (refused before; KerasHub's Gemma decoder block always
    normalizes by head_dim, so the layer is tried alone); 1/√key_dim instead is not the same function."""
    pytest.importorskip("keras_hub")
    import keras
    from keras_hub.src.models.gemma.gemma_attention import CachedGemmaAttention

    from archspec.importer import import_keras

    layer = CachedGemmaAttention(head_dim=4, num_query_heads=2, num_key_value_heads=1, query_head_dim_normalize=False,
                                 name="attn")
    x = keras.Input((6, 16), name="x")
    model = keras.Model(x, layer(x, attention_mask=np.tril(np.ones((1, 6, 6), "int32"))), name="m")    # causal
    a = _exact(model)
    assert (a.key_dim, a.score_scale) == (4, 8 ** -0.5)
    result = import_keras(model)
    wrong = result.text.replace(f"score_scale: {8 ** -0.5}", "score_scale: 0.5")
    assert wrong != result.text and _max_diff(model, result, wrong) > 1e-3 and _max_diff(model, result) < 1e-5


def test_gemma_with_a_window_shorter_than_the_sequence_is_refused_by_name():
    from archspec.importer import UnsupportedModel

    with pytest.raises(UnsupportedModel, match=r"decoder_block_0_attention.*sliding window of 4 tokens is shorter"):
        _imported("GemmaBackbone", use_sliding_window_attention=True, sliding_window_size=4)


def test_gemma3_query_and_key_norms_and_rotary_wavelength():
    model, result = _imported("Gemma3Backbone")
    attn = result.graph.nodes["decoder_block_0_attention"].attrs
    assert attn.qk_norm and attn.qk_norm_unit_offset and attn.rotary_wavelength == 1_000_000.0
    _round_trip(model, result)
    assert _max_diff(model, result) < 1e-5
    assert _max_diff(model, result, result.text.replace("qk_norm_unit_offset: true", "qk_norm_unit_offset: false")) > 1e-3


def test_bloom_attention_is_alibi_attention():
    model, result = _imported("BloomBackbone", num_heads=4, hidden_dim=24)     # 4 heads: 4 slopes
    attn = result.graph.nodes["transformer_layer_0_self_attention"].attrs
    assert attn.alibi and attn.causal and attn.padding_mask and (attn.heads, attn.key_dim) == (4, 6)
    _round_trip(model, result)
    assert _max_diff(model, result) < 1e-5
    assert _max_diff(model, result, result.text.replace("alibi: true", "alibi: false")) > 1e-3


def test_falcon_attention_is_alibi_over_unpadded_positions_before_the_scaling():
    """Falcon's decoder computes its ALiBi bias from the padding mask and passes it to its attention: found to
    be the bias archspec's attention computes (evaluated on random padding masks) and dropped from the call.
    With a hole in the padding mask, positions over the keys (BLOOM's) give other outputs."""
    model, result = _imported("FalconBackbone")
    attn = result.graph.nodes["transformer_layer_0_attention"].attrs
    assert (attn.alibi, attn.alibi_positions, attn.alibi_scaled, attn.causal, attn.padding_mask) == (
        True, "unpadded", True, True, True)
    _round_trip(model, result)
    assert _max_diff(model, result) < 1e-5
    assert _max_diff(model, result, result.text.replace("alibi_positions: unpadded", "alibi_positions: keys")) > 1e-4
    assert _max_diff(model, result, result.text.replace("alibi_scaled: true", "alibi_scaled: false")) > 1e-3


def test_whisper_decoder_self_and_cross_attention():
    model, result = _imported("WhisperBackbone")
    nodes = result.graph.nodes
    self_attn = nodes["transformer_decoder_layer_0_self_attention"].attrs
    cross = nodes["transformer_decoder_layer_0_cross_attention"].attrs
    assert self_attn.causal and self_attn.padding_mask and not self_attn.key_bias
    assert not cross.causal and not cross.key_bias and len(nodes["transformer_decoder_layer_0_cross_attention"].inputs) == 2
    pads = [n for n in nodes.values() if n.cls == "Pad"]                     # keras.ops.pad of the steps
    assert [(n.op, n.attrs.padding) for n in pads] == [("zero_padding_1d", (1, 1))]
    _round_trip(model, result)
    assert _max_diff(model, result) < 1e-5


def test_t5gemma_encoder_decoder_with_its_score_scale_additive_masks_and_cross_attention():
    """T5Gemma: the encoder's self-attention (rotary, padding), the decoder's (rotary, causal and padding) and
    its cross-attention over the encoder's output (no rotary, the encoder's padding), each given the additive
    mask its layer computes and scaled by query_pre_attn_scalar^−½. The padded head of `_max_diff`'s masks
    leaves decoder queries that see no key: the additive mask gives them about the mean of the values, Keras's
    masked softmax 0 — so additive_mask: false, like another scale, gives other outputs."""
    model, result = _imported("T5GemmaBackbone", query_pre_attn_scalar=4.0, attn_logit_softcapping=2.0)
    nodes = result.graph.nodes
    enc, dec = nodes["encoder_layer_0_self_attention"], nodes["decoder_layer_0_self_attention"]
    cross = nodes["decoder_layer_0_cross_attention"]
    for node, rotary, causal in ((enc, True, False), (dec, True, True), (cross, False, False)):
        a = node.attrs
        assert (a.heads, a.key_dim, a.key_value_heads, a.score_scale, a.logit_soft_cap) == (2, 8, 1, 0.5, 2.0)
        assert (a.rotary, a.causal, a.padding_mask, a.additive_mask, a.use_bias) == (rotary, causal, True, True, False)
    query, context, mask = cross.inputs                 # the context: the encoder's output (its last dropout)
    assert (query, nodes[context].op, mask) == ("decoder_layer_0_decoder_pre_cross_attention_layernorm", "dropout",
                                                "encoder_padding_mask")
    assert enc.inputs[-1] == "encoder_padding_mask" and dec.inputs[-1] == "decoder_padding_mask"
    _round_trip(model, result)
    assert _max_diff(model, result) < 1e-5
    assert _max_diff(model, result, result.text.replace("score_scale: 0.5", "score_scale: 0.25")) > 1e-3
    assert _max_diff(model, result, result.text.replace("additive_mask: true", "additive_mask: false")) > 1e-3


def test_t5gemma_sliding_window_shorter_than_the_sequence_is_refused_naming_the_attention():
    """A decoder sliding window of 4 tokens over 12 is neither causal nor any mask the attention op reads:
    refused, naming the attention layer (a window as long as the sequence is causal: read, verified exact)."""
    from archspec.importer import UnsupportedModel

    with pytest.raises(UnsupportedModel) as err:
        _imported("T5GemmaBackbone", decoder_layer_types=["sliding_attention"], sliding_window=4)
    assert any(p.startswith("layer 'decoder_layer_0_self_attention' (keras_hub.src.models.t5gemma.t5gemma_attention."
                            "T5GemmaAttention): it is given an attention_mask that is neither") for p in err.value.problems)
    _round_trip(*_imported("T5GemmaBackbone", decoder_layer_types=["sliding_attention"], sliding_window=12))


def test_t5gemma2_merged_self_and_cross_attention():
    """T5Gemma 2's decoder attends to its own tokens and the encoder's in one softmax: its mask over the joined
    keys (causal and the decoder's padding, then the encoder's padding), computed from two padding-mask inputs,
    is read as both; its keys are the decoder's, normed and rotated, then the encoder's, normed only. A
    non-causal spec, or another rotary wavelength, gives other outputs."""
    model, result = _imported("T5Gemma2Backbone", query_pre_attn_scalar=4.0)
    nodes = result.graph.nodes
    enc, merged = nodes["encoder_layer_0_self_attention"].attrs, nodes["decoder_layer_0_merged_attention"]
    assert (enc.qk_norm, enc.qk_norm_unit_offset, enc.rotary, enc.causal, enc.merged) == (True, True, True, False, False)
    a = merged.attrs
    assert (a.merged, a.causal, a.padding_mask, a.additive_mask, a.qk_norm, a.rotary_wavelength, a.score_scale) == (
        True, True, True, True, True, 1_000_000.0, 0.5)
    query, context, *masks = merged.inputs
    assert (query, nodes[context].op, masks) == ("decoder_layer_0_decoder_pre_self_attention_layernorm", "dropout",
                                                 ["decoder_padding_mask", "encoder_padding_mask"])
    _round_trip(model, result)
    assert _max_diff(model, result) < 1e-5
    text = result.text
    at = text.index("name: decoder_layer_0_merged_attention")
    assert _max_diff(model, result, text[:at] + text[at:].replace("causal: true", "causal: false", 1)) > 1e-3
    assert _max_diff(model, result, text[:at] + text[at:].replace("rotary_wavelength: 1000000.0",
                                                                  "rotary_wavelength: 10000.0", 1)) > 1e-3


def test_pali_gemma_prefix_lm_attention():
    """PaliGemma's decoder blocks attend over its image tokens and the text: every query sees the image tokens
    and the unpadded text prefix, and the response causally. The mask its block computes from the padding
    and response masks is read as both, the image tokens (which the masks do not cover) as prefix. Compared
    on a prefix of 5, 3 and all 12 text tokens; with the two masks swapped, the outputs differ."""
    model, result = _imported("PaliGemmaBackbone")
    attn = [n for n in result.graph.nodes.values() if n.op == "attention"]
    assert len(attn) == 2 and all(n.attrs.prefix_lm and n.attrs.padding_mask and not n.attrs.causal for n in attn)
    assert [n.inputs[1:] for n in attn] == [["padding_mask", "response_mask"]] * 2
    _round_trip(model, result)
    pad = np.ones((3, 12), "int32")
    pad[1, 9:] = 0
    resp = np.zeros((3, 12), "int32")
    resp[0, 5:], resp[1, 3:9] = 1, 1                       # row 2: all prefix (bidirectional)
    feeds = {"padding_mask": pad, "response_mask": resp}
    assert _max_diff(model, result, feeds=feeds) < 1e-5
    swapped = result.text.replace("from: [pre_attention_norm, in1, in2]", "from: [pre_attention_norm, in2, in1]")
    assert swapped != result.text and _max_diff(model, result, swapped, feeds=feeds) > 1e-3


MASKED = """
archspec: 1
name: masked
inputs:
  img: {shape: [4, 8]}
  x: {shape: [6, 8]}
  ctx: {shape: [5, 8]}
  xm: {shape: [6], dtype: int32}
  cm: {shape: [5], dtype: int32}
  pm: {shape: [3], dtype: int32}
  rm: {shape: [3], dtype: int32}
model:
  - attention: {heads: 2, key_dim: 4, key_value_heads: 1, rotary: true, causal: true, padding_mask: true, merged: true,
                use_bias: false, qk_norm: true, qk_norm_unit_offset: true, additive_mask: true, score_scale: 0.7,
                from: [x, ctx, xm, cm], name: merged_attn}
  - attention: {heads: 2, key_dim: 4, padding_mask: true, additive_mask: true, score_scale: 0.7,
                from: [merged_attn, ctx, cm], name: cross}
  - attention: {heads: 2, key_dim: 4, padding_mask: true, prefix_lm: true, from: [img, pm, rm], name: prefix}
outputs: {a: cross, b: prefix}
"""


def test_merged_prefix_lm_and_additive_attention_compile_and_import_back():
    """A spec written with the attributes T5Gemma, T5Gemma 2 and PaliGemma are read as compiles to Keras, and
    its model imports back to the same attributes, exactly: GroupedAttention's call states the masks as
    keywords (value_mask, context_mask, response_mask); the prefix-LM masks cover 3 of the 4 tokens."""
    import archspec
    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    spec = archspec.load_text(MASKED)
    model = spec.to_keras()
    assert model.count_params() == spec.analysis().total.params
    result = import_keras(model)
    assert roundtrip(model, result.text, kg=result.graph).exact
    nodes = result.graph.nodes
    assert nodes["merged_attn"].inputs == ["x", "ctx", "xm", "cm"] and nodes["merged_attn"].attrs.merged
    assert nodes["cross"].attrs.additive_mask and nodes["cross"].attrs.score_scale == 0.7
    assert nodes["prefix"].attrs.prefix_lm and nodes["prefix"].inputs[-2:] == ["pm", "rm"]


def test_einsum_dense_is_read_as_dense_only_where_it_is_one():
    import keras

    from archspec.importer import UnsupportedModel, import_keras
    from archspec.importer.verify import roundtrip

    inp = keras.Input((5, 8))
    y = keras.layers.EinsumDense("btd,df->btf", output_shape=(None, 6), bias_axes="f", activation="relu", name="ed")(inp)
    model = keras.Model(inp, y)
    result = import_keras(model)
    node = result.graph.nodes["ed"]
    assert (node.op, node.attrs.units, node.attrs.use_bias, node.attrs.activation) == ("dense", 6, True, "relu")
    assert roundtrip(model, result.text, kg=result.graph).exact
    heads = keras.layers.EinsumDense("btd,dnh->btnh", output_shape=(None, 2, 4), name="heads")(inp)
    with pytest.raises(UnsupportedModel, match=r"'heads'.*equation 'btd,dnh->btnh' is not a dense layer"):
        import_keras(keras.Model(inp, keras.layers.Reshape((5, 8))(heads)))
    per_token = keras.layers.EinsumDense("btd,df->btf", output_shape=(5, 6), bias_axes="t", name="odd")(inp)
    with pytest.raises(UnsupportedModel, match=r"'odd'.*bias_axes='t'"):
        import_keras(keras.Model(inp, per_token))


def test_keras_ops_pad_of_the_steps_is_zero_padding_1d():
    import keras

    from archspec.importer import UnsupportedModel, import_keras
    from archspec.importer.verify import roundtrip

    inp = keras.Input((5, 3))
    model = keras.Model(inp, keras.layers.Dense(4, name="d")(keras.ops.pad(inp, [[0, 0], [1, 2], [0, 0]])))
    result = import_keras(model)
    pad = next(n for n in result.graph.nodes.values() if n.cls == "Pad")
    assert (pad.op, pad.attrs.padding) == ("zero_padding_1d", (1, 2))
    assert roundtrip(model, result.text, kg=result.graph).exact
    for width, mode in (([[0, 0], [0, 0], [1, 1]], "constant"), ([[0, 0], [1, 1], [0, 0]], "reflect")):
        with pytest.raises(UnsupportedModel, match="keras.ops.pad"):       # the channels, or not zeros
            import_keras(keras.Model(inp, keras.ops.pad(inp, width, mode=mode)))


def test_a_mask_the_attention_op_cannot_state_is_refused_naming_it():
    """Gemma 3 with bidirectional attention (EmbeddingGemma) masks padded queries as well as keys: neither a
    padding mask over the keys nor a causal mask — refused, naming the part and the keyword."""
    from archspec.importer import UnsupportedModel

    with pytest.raises(UnsupportedModel) as err:
        _imported("Gemma3Backbone", use_bidirectional_attention=True)
    assert any(p.startswith("layer 'decoder_block_0_attention' (keras_hub.src.models.gemma3.gemma3_attention.CachedGemma3"
                            "Attention): it is given an attention_mask that is neither a padding mask")
               for p in err.value.problems), err.value.problems


# ---- the Llama family ----------------------------------------------------------------------------------
def _model(layer, width=16, tokens=6):
    import keras

    x = keras.Input((tokens, width), name="x")
    return keras.Model(x, layer(x), name="m")


def _exact(model, name="attn"):
    """The imported attention's attributes, after checking that the spec computes what the model does."""
    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    result = import_keras(model)
    node = result.graph.nodes[name]
    assert node.op == "attention"
    rt = roundtrip(model, result.text, kg=result.graph)
    assert rt.params_keras == rt.params_compiled == rt.params_spec, rt.summary()
    assert rt.max_abs_diff <= 1e-5 and rt.exact, rt.summary()
    return node.attrs


def test_qwen_attention_has_query_key_value_biases_and_no_output_bias():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.qwen.qwen_attention import QwenAttention

    a = _exact(_model(QwenAttention(num_query_heads=4, num_key_value_heads=2, name="attn")))
    assert (a.heads, a.key_dim, a.key_value_heads, a.rotary) == (4, 4, 2, True)
    assert a.use_bias and a.key_bias and not a.output_bias


def test_qwen3_attention_normalizes_query_and_key_heads_with_the_epsilon_its_config_leaves_out():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.qwen3.qwen3_attention import Qwen3Attention

    layer = Qwen3Attention(num_query_heads=2, num_key_value_heads=1, head_dim=8, layer_norm_epsilon=1e-3,
                           name="attn")
    a = _exact(_model(layer, width=12))
    assert "layer_norm_epsilon" not in layer.get_config()        # read from the live layer
    assert (a.heads, a.key_dim, a.key_value_heads, a.qk_norm, a.qk_norm_epsilon) == (2, 8, 1, True, 1e-3)
    assert not a.use_bias


def test_llama_attention_whose_get_config_raises_is_read_from_its_arguments():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.llama.llama_attention import LlamaAttention

    layer = LlamaAttention(num_query_heads=4, num_key_value_heads=1, rope_max_wavelength=500, name="attn")
    model = _model(layer)
    with pytest.raises(AttributeError):
        layer.get_config()                                   # keras-hub 0.32: rope_scaling_factor never set
    a = _exact(model)
    assert (a.heads, a.key_value_heads, a.rotary_wavelength, a.use_bias) == (4, 1, 500.0, False)


def test_linear_rope_scaling_is_read_and_computed():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.mistral.mistral_attention import CachedMistralAttention

    a = _exact(_model(CachedMistralAttention(num_query_heads=2, num_key_value_heads=2, rope_scaling_factor=4.0,
                                             name="attn")))
    assert a.rotary_scaling == 4.0 and a.key_value_heads is None


def test_phi3_attention_imports_and_its_su_scaled_rope_is_refused_by_name():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.phi3.phi3_attention import Phi3Attention

    from archspec.importer import UnsupportedModel, import_keras

    _exact(_model(Phi3Attention(num_query_heads=2, num_key_value_heads=1, name="attn")))
    su = Phi3Attention(num_query_heads=2, num_key_value_heads=1, rope_scaling_type="su",
                       rope_scaling_short_factor=[1.0] * 4, rope_scaling_long_factor=[2.0] * 4, name="attn")
    with pytest.raises(UnsupportedModel, match=r"layer 'attn' .*rope_scaling_type='su'"):
        import_keras(_model(su))


def test_a_mixture_of_experts_decoder_is_refused_naming_its_experts_block(tmp_path):
    pytest.importorskip("keras_hub")
    row = zoo.measure("MixtralBackbone", str(tmp_path))
    assert row["result"] == "refused", row
    assert "MixtralSparseMoeBlock" in row["reason"] and "mixture of experts" in row["reason"], row["reason"]
    assert not (tmp_path / "MixtralBackbone.yaml").exists()


@pytest.mark.parametrize("name,changes,expect,mutations", [
    ("LlamaBackbone", {}, {"rotary": True, "use_bias": False}, [(r"rotary: true", "rotary: false")]),
    ("MistralBackbone", {"rope_scaling_factor": 2.0}, {"rotary_scaling": 2.0},
     [(r"rotary_scaling: 2(\.0)?", "rotary_scaling: 1.0")]),
    ("Phi3Backbone", {"rope_max_wavelength": 500}, {"rotary_wavelength": 500.0},
     [(r"rotary_wavelength: 500(\.0)?", "rotary_wavelength: 5.0")]),
    ("QwenBackbone", {}, {"use_bias": True, "output_bias": False}, [(r"rotary: true", "rotary: false")]),
    ("Qwen3Backbone", {}, {"qk_norm": True, "use_bias": False},
     [(r"qk_norm_epsilon: [0-9.e+-]+", "qk_norm_epsilon: 10.0"), (r"rotary: true", "rotary: false")]),
    ("SmolLM3Backbone", {"attention_bias": True, "rope_layer_enabled_list": [True, False]},
     {"rotary_table": True, "use_bias": True, "output_bias": False}, [(r"rotary: true", "rotary: false")]),
])
def test_llama_family_backbones_import_exactly_on_real_inputs(name, changes, expect, mutations):
    """Each backbone on token ids over the vocabulary and padded masks (import's own round trip masks every
    key): equal to 1e-5, and a spec with the attribute that matters changed gives other outputs."""
    import re

    model, result = _imported(name, **changes)
    nodes = [n for n in result.graph.nodes.values() if n.op == "attention"]
    attns = [n.attrs for n in nodes]
    assert len(attns) == 2 and all(getattr(a, k) == v for a in attns for k, v in expect.items()), attns
    for n in nodes:           # peaked scores (glorot's tiny ones give near-uniform attention, whatever the positions)
        n.layer.set_weights([w * 6 if v.path.split("/")[-2] in ("query", "key", "q_proj", "k_proj") else w
                             for v, w in zip(n.layer.weights, n.layer.get_weights())])
    _round_trip(model, result)
    assert _max_diff(model, result) < 1e-5
    for pattern, new in mutations:
        mutated = re.sub(pattern, new, result.text)
        assert mutated != result.text, pattern
        assert _max_diff(model, result, mutated) > 1e-3, (name, pattern)
    if name == "SmolLM3Backbone":                          # rope_layer_enabled_list: a NoPE second layer
        assert [a.rotary for a in attns] == [True, False]


def test_smollm3_with_biases_and_a_layer_without_rotary_imports_exactly(tmp_path, capsys):
    """SmolLM3: Dense projections (copied into the rebuilt EinsumDense kernels by shape: import_weights), its
    rotary frequencies a weight of its own (rotary_table), q/k/v biases (attention_bias) and a NoPE layer
    (rope_layer_enabled_list) — the saved backbone, imported by the command a user runs."""
    pytest.importorskip("keras_hub")
    import yaml

    from archspec.cli import main

    config = dict(zoo.CONFIGS["SmolLM3Backbone"], attention_bias=True, rope_layer_enabled_list=[True, False])
    model = zoo.build("SmolLM3Backbone", config)
    model.save(tmp_path / "smol.keras")
    code = main(["import", str(tmp_path / "smol.keras"), "-o", str(tmp_path / "smol.yaml"),
                 "--shape", "token_ids=[12]", "--shape", "padding_mask=[12]"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"params {model.count_params():,} (Keras) = {model.count_params():,} (compiled spec)" in err, err
    spec = yaml.safe_load((tmp_path / "smol.yaml").read_text())

    def attentions(v):
        if isinstance(v, dict):
            if "attention" in v:
                yield v["attention"]
            for x in v.values():
                yield from attentions(x)
        elif isinstance(v, list):
            for x in v:
                yield from attentions(x)

    found = list(attentions(spec))
    assert len(found) == 2, found
    assert all(a["rotary_table"] and a.get("output_bias") is False and a.get("use_bias", True) for a in found)
    assert sorted(bool(a.get("rotary")) for a in found) == [False, True], found


def test_an_alibi_tensor_other_than_falcons_is_refused_by_name(monkeypatch):
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.falcon.falcon_transformer_decoder import FalconTransformerDecoder

    from archspec.importer import UnsupportedModel

    built = FalconTransformerDecoder._build_alibi_tensor
    monkeypatch.setattr(FalconTransformerDecoder, "_build_alibi_tensor", lambda self, h, m: built(self, h, m) * 2.0)
    with pytest.raises(UnsupportedModel) as err:
        _imported("FalconBackbone")
    assert "part 'attention' (FalconAttention) is given an alibi tensor that is not the one" in err.value.problems[0]


# ---- GPT-NeoX ------------------------------------------------------------------------------------------
def test_gpt_neox_imports_exactly_with_partial_rotary_and_its_fused_projection_split_by_meaning():
    """GPT-NeoX's attention returns (output, cache), the cache None when called without one: the tracer keeps
    the None out of the traced graph and its decoder still unpacks both. One EinsumDense makes each head's
    query, key and value side by side (keras_weights splits it in three); rotary positions turn the first
    quarter of each head (rotary_percentage); attention and MLP both read the block's input (parallel
    residual). Rotating half or all of each head, or none, gives other outputs. (KerasHub's initializer has a
    stddev of 0.02: the attention's kernels are scaled up so that its scores are peaked and its output is not
    swamped by the embeddings in the residual sum.)"""
    import re

    model, result = _imported("GPTNeoXBackbone", rotary_max_wavelength=100)
    nodes = result.graph.nodes
    attn = nodes["transformer_layer_0_self_attention"]
    a = attn.attrs
    assert (a.heads, a.key_dim, a.rotary, a.rotary_fraction, a.rotary_wavelength, a.causal, a.padding_mask,
            a.use_bias) == (2, 8, True, 0.25, 100.0, True, True, True)
    assert [nodes[i].op for i in attn.inputs] == ["layer_norm", "input"]
    for name in ("transformer_layer_0_self_attention_layer_norm", "transformer_layer_0_feedforward_layer_norm"):
        assert nodes[nodes[name].inputs[0]].op == "dropout"             # both norms read the block's input
    scale = {"query_key_value/kernel": 50, "attention_output/kernel": 5}
    for n in (n for n in nodes.values() if n.op == "attention"):
        n.layer.set_weights([w * scale.get("/".join(v.path.split("/")[-2:]), 1)
                             for v, w in zip(n.layer.weights, n.layer.get_weights())])
    _round_trip(model, result)
    exact = _max_diff(model, result)
    assert exact < 1e-5
    none = re.sub(r"\n\s*rotary_fraction: 0\.25", "", result.text).replace("rotary: true", "rotary: false")
    for mutated in (result.text.replace("rotary_fraction: 0.25", "rotary_fraction: 0.5"),
                    result.text.replace("rotary_fraction: 0.25", "rotary_fraction: 1.0"), none):
        assert mutated != result.text
        assert _max_diff(model, result, mutated) > 0.1, mutated
