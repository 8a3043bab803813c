"""archspec import of KerasHub's ESM (ESMBackbone and ESM2Backbone, one class), proven on real token ids
with padding.

ESM takes its token ids alone and computes its padding mask from them (`keras.ops.not_equal(token_ids,
pad_token_id)`): read as the `padding_mask` op, which feeds each attention's mask input as a declared mask
input would. Its attention (EsmSelfAttention) gives `ops.dot_product_attention` that mask as (batch, 1,
tokens, 1), which on TensorFlow and JAX masks the *queries*: no key is masked, and a padded query attends
to every key equally — read as attention with `padding_mask_on: queries`. `archspec import`'s own
verification draws ids over the whole vocabulary, so padding there is luck; these tests put the pad id in
a tail, a head and a hole, after giving every weight a random value (the same in both models, copied by
the op's own ``keras_weights``), and show that a spec with the mask read another way, another pad id, other
position rows or without rotary computes something else. The encoder layer (ESMEncoder, traced) is one
block, its dropout — one layer called three times — a layer per call.
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
    from test_import_decoders import _imported  # one way to build, fix the shapes of and import a zoo class
    return _imported(name, **changes)


def _ids(pad: int, seed: int = 1):
    """(3, 12) token ids without the pad id, then padded: a tail on row 1, a head on row 2, a hole on row 0."""
    ids = np.random.default_rng(seed).integers(4, 50, (3, zoo.SEQ)).astype("int32")
    ids[1, 7:] = pad
    ids[2, :3] = pad
    ids[0, 4] = pad
    return ids


def _randomize(model, result, seed=1):
    """Every weight of the Keras model random and of a size that lets attention matter (ESM initializes its
    kernels with a deviation of 0.02, its norms' scales and offsets and its biases as constants)."""
    rng = np.random.default_rng(seed)
    for node in result.graph.nodes.values():
        layer = node.layer
        if layer is not None and layer.weights:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in layer.get_weights()])


def _outputs(model, result, text, ids):
    """(KerasHub's output, the spec `text` compiled with the model's weights) on the token ids `ids`."""
    from archspec import ops
    from archspec.api import load_text
    from archspec.compile import keras_name
    from archspec.importer.verify import match

    spec = load_text(text, "<spec>")
    pairs = match(load_text(result.text, "<import>").graph, result.graph)
    compiled = spec.to_keras()
    for sid, kname in pairs.items():
        layer = result.graph.nodes[kname].layer
        if layer is not None and layer.weights:
            target = compiled.get_layer(keras_name(sid))
            target.set_weights(ops.get(spec.graph[sid].op).keras_weights(layer, target, layer.get_weights()))
    want = np.asarray(model({"token_ids": ids}))
    got = np.asarray(compiled(ids))
    assert float(np.max(np.abs(want))) > 0.1                    # not a vacuous comparison
    return want, got


def _diff(model, result, ids, text=None) -> float:
    want, got = _outputs(model, result, text or result.text, ids)
    return float(np.max(np.abs(want - got)))


def test_esm2_imports_exactly_with_its_mask_computed_from_the_token_ids():
    """ESM-2 as its presets are (rotary attention, pad id 1): the mask is the padding_mask op with pad id 1,
    wired into every attention; on ids with padding the spec computes KerasHub's outputs — and with the mask
    over the keys (what a padding mask usually means), another pad id or no rotary, other outputs."""
    from archspec.importer.verify import roundtrip

    model, result = _imported("ESM2Backbone")
    assert zoo.CONFIGS["ESM2Backbone"]["pad_token_id"] == 1
    nodes = result.graph.nodes
    masks = [n for n in nodes.values() if n.op == "padding_mask"]
    assert [(n.attrs.pad_id, n.inputs) for n in masks] == [(1, ["token_ids"])]
    attn = [n for n in nodes.values() if n.op == "attention"]
    assert len(attn) == 2 and all(n.inputs[-1] == masks[0].name for n in attn)
    a = attn[0].attrs
    assert (a.heads, a.key_dim, a.rotary, a.use_bias, a.padding_mask, a.padding_mask_on) == (
        2, 8, True, True, True, "queries")
    # one block for the encoder class, its dropout (one layer called three times) a layer per call
    assert "esmencoder: {repeat: 2, name: transformer_layer, from: [token_embedding, not_equal]}" in result.text
    assert result.text.count("- dropout: {rate: 0.1, name: self_attention_dropout") == 3
    _randomize(model, result)
    assert roundtrip(model, result.text, kg=result.graph).exact
    ids = _ids(pad=1)
    assert _diff(model, result, ids) < 1e-5
    assert _diff(model, result, ids, result.text.replace("padding_mask_on: queries", "padding_mask_on: keys")) > 1e-3
    assert _diff(model, result, ids, result.text.replace("rotary: true", "rotary: false")) > 1e-3
    other = result.text.replace("padding_mask: {pad_id: 1,", "padding_mask: {pad_id: 5,")
    assert other != result.text
    assert _diff(model, result, ids, other) > 1e-3
    # the padded queries matter: their rows differ from those of the same ids unpadded
    free = ids.copy()
    free[free == 1] = 9
    assert float(np.max(np.abs(np.asarray(model({"token_ids": ids})) - np.asarray(model({"token_ids": free}))))) > 1e-3


def test_esm1_with_absolute_positions_from_its_pad_id_and_a_norm_before_the_layers_imports_exactly():
    """ESMBackbone's zoo configuration (ESM-1: learned absolute positions, taken from row pad_token_id = 1 of
    the table as KerasHub's call says, start_index=1; a layer norm on the embeddings)."""
    model, result = _imported("ESMBackbone")
    cfg = zoo.CONFIGS["ESMBackbone"]
    assert (cfg["position_embedding_type"], cfg["use_pre_layer_norm"], cfg["pad_token_id"]) == ("absolute", True, 1)
    nodes = result.graph.nodes
    assert [(n.attrs.length, n.attrs.start, n.attrs.add) for n in nodes.values() if n.op == "position_embedding"] == [
        (zoo.SEQ + 1, 1, False)]
    assert [n.attrs.pad_id for n in nodes.values() if n.op == "padding_mask"] == [1]
    assert not any(n.attrs.rotary for n in nodes.values() if n.op == "attention")
    assert nodes["emb_layer_norm"].op == "layer_norm"
    _randomize(model, result)
    ids = _ids(pad=1)
    assert _diff(model, result, ids) < 1e-5
    assert _diff(model, result, ids, result.text.replace("padding_mask_on: queries", "padding_mask_on: keys")) > 1e-3
    assert "start: 1," in result.text
    assert _diff(model, result, ids, result.text.replace("start: 1,", "start: 0,")) > 1e-3


def test_a_hand_written_padding_mask_feeds_attention_as_a_mask_input_does(tmp_path):
    """`padding_mask` in a spec of its own: the same outputs as the spec that declares the mask as an input
    and is given `ids != pad_id` there; the Keras layer saves and loads."""
    import keras

    import archspec

    body = """
  - token_embedding: {{vocabulary: 20, dim: 8, from: ids, name: emb}}
{mask}  - attention: {{heads: 2, key_dim: 4, padding_mask: true, from: [emb, {src}], name: attn}}
"""
    own = archspec.load_text("archspec: 1\nname: own\ninputs:\n  ids: {shape: [6], dtype: int32}\nmodel:"
                             + body.format(mask="  - padding_mask: {pad_id: 3, from: ids, name: pad}\n", src="pad"))
    given = archspec.load_text("archspec: 1\nname: given\ninputs:\n  ids: {shape: [6], dtype: int32}\n"
                               "  mask: {shape: [6], dtype: int32}\nmodel:" + body.format(mask="", src="mask"))
    assert own.graph["pad"].shape == (6,) and own.analysis().nodes["pad"].flops == 6
    a, b = own.to_keras(), given.to_keras()
    b.get_layer("emb").set_weights(a.get_layer("emb").get_weights())
    b.get_layer("attn").set_weights(a.get_layer("attn").get_weights())
    ids = np.array([[5, 1, 3, 3, 7, 2], [3, 4, 4, 9, 3, 3]], "int32")
    mine = np.asarray(a(ids))
    assert np.allclose(mine, np.asarray(b([ids, (ids != 3).astype("int32")])), atol=1e-6)
    assert not np.allclose(mine, np.asarray(b([ids, np.ones_like(ids)])), atol=1e-3)      # the mask bites
    a.save(tmp_path / "own.keras")
    assert np.allclose(np.asarray(keras.saving.load_model(tmp_path / "own.keras")(ids)), mine, atol=1e-6)
