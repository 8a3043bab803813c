"""Boolean inputs (padding masks) through the whole stack, and the KerasHub backbones whose masks needed
them — EdRec's encoder-decoder (boolean mask inputs), RoFormer V2 (a mask made from the token ids, over the
queries) — proven on real inputs.

A spec input may be `dtype: bool`: a mask, read only where an op takes one (attention's padding mask);
anywhere else it is the error `input-dtype` (the broken-spec corpus holds the cases). It compiles to a
boolean `keras.Input`, computes what an int32 mask computes, is shown as such in the report, and export
and training feed it booleans.
"""
from __future__ import annotations

import pytest

import archspec

try:                                        # (the first test is core: it runs without numpy)
    import numpy as np
except ImportError:
    np = None


def _imported(name, **changes):
    from test_import_decoders import _imported
    return _imported(name, **changes)


def _round_trip(model, result):
    from test_import_decoders import _round_trip
    _round_trip(model, result)


def _max_diff(model, result, text=None):
    from test_import_decoders import _max_diff
    return _max_diff(model, result, text)

MASKED = """archspec: 1
name: masked
inputs:
  ids: {shape: [8], dtype: int32}
  mask: {shape: [8], dtype: DTYPE}
model:
  - token_embedding: {vocabulary: 20, dim: 8, from: ids}
  - attention: {heads: 2, key_dim: 4, causal: true, padding_mask: true, from: [token_embedding, mask]}
  - dense: {units: 20}
"""


def test_a_boolean_mask_input_checks_and_reports_as_a_mask():
    spec = archspec.load_text(MASKED.replace("DTYPE", "bool"), "masked.yaml")
    assert spec.graph["mask"].attrs.dtype == "bool" and spec.graph["mask"].holds_mask()
    assert not spec.graph["mask"].holds_ids()                  # never token ids
    assert "input · bool" in spec.report() and "input · int32" in spec.report()
    with pytest.raises(archspec.SpecError) as e:
        archspec.load_text(MASKED.replace("DTYPE", "bool").replace("from: ids", "from: mask"), "m.yaml")
    (d,) = e.value.diagnostics
    assert d.code == "input-dtype" and "'mask' is a boolean input" in d.message and d.loc.line == 7


@pytest.mark.keras
def test_a_boolean_mask_compiles_and_computes_what_an_int32_mask_does():
    from archspec.train.export import check_inputs_for

    as_bool = archspec.load_text(MASKED.replace("DTYPE", "bool"), "b.yaml").to_keras()
    as_int = archspec.load_text(MASKED.replace("DTYPE", "int32"), "i.yaml").to_keras()
    assert [str(t.dtype) for t in as_bool.inputs] == ["int32", "bool"]
    as_int.set_weights(as_bool.get_weights())
    ids = np.random.default_rng(0).integers(0, 20, (3, 8)).astype("int32")
    mask = np.ones((3, 8), "int32")
    mask[1, 5:] = 0
    mask[2, 2] = 0
    got = np.asarray(as_bool([ids, mask.astype(bool)]))
    assert np.abs(got - np.asarray(as_int([ids, mask]))).max() == 0
    assert np.abs(got - np.asarray(as_bool([ids, np.ones_like(mask, bool)]))).max() > 1e-3    # the mask bites
    xs = check_inputs_for(as_bool)                     # what export checks an artifact with
    assert xs[1].dtype == bool and xs[1][0].all() and not xs[1][1].all()


@pytest.mark.keras
def test_training_feeds_a_boolean_padding_mask(tmp_path):
    """`archspec train` takes a boolean second input as the padding mask (as an int32 one) and trains."""
    from archspec.train import data, planning
    from archspec.train.config import resolve
    from archspec.train.loop import run_training

    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, (24, 9)).astype(np.int32)
    mask = np.ones_like(x)
    mask[::2, 6:] = 0
    np.savez(tmp_path / "t.npz", x=x, mask=mask)
    text = MASKED.replace("DTYPE", "bool") + "training: {epochs: 1, batch_size: 8, seed: 0, validation_split: 0.0}\n"
    spec = archspec.load_text(text, "b.yaml")
    settings = resolve(spec, {"data": f"npz:{tmp_path / 't.npz'}"})
    assert planning.plan(spec, settings, data.load(settings, spec)).mask_input
    result = run_training(spec, settings, tmp_path / "run", verbose=0)
    assert result.history and np.isfinite(result.history[-1]["loss"])


# ---- KerasHub: EdRec ---------------------------------------------------------------------------------
@pytest.mark.keras
def test_edrec_imports_exactly_with_boolean_masks():
    """EdRec's encoder-decoder takes boolean padding masks: its encoder's self-attention and its decoder's
    cross-attention read the encoder's, its decoder's causal self-attention the decoder's; (1 + scale) RMS
    norms, a gated GELU MLP, one embedding shared by both."""
    model, result = _imported("EdRecBackbone")
    g = result.graph
    assert [g.nodes[i].attrs.dtype for i in g.inputs] == ["int32", "int32", "bool", "bool"]
    nodes = result.graph.nodes
    self_attn, cross = nodes["decoder_layer_0_self_attention"], nodes["decoder_layer_0_cross_attention"]
    assert self_attn.attrs.causal and self_attn.attrs.padding_mask
    assert not cross.attrs.causal and cross.attrs.padding_mask
    _round_trip(model, result)
    assert _max_diff(model, result) < 1e-5
    assert _max_diff(model, result, result.text.replace("causal: true", "causal: false")) > 1e-3
    assert _max_diff(model, result, result.text.replace("unit_offset: true", "unit_offset: false")) > 1e-3


# ---- KerasHub: RoFormer V2 ---------------------------------------------------------------------------
def _diff_on(model, result, text, xs: dict) -> float:
    """max |Δ| between `model` and the spec `text` on the inputs `xs` (by name), every weight random and shared
    (copied by each op's keras_weights, as the import's verification does)."""
    import keras

    from archspec import ops
    from archspec.api import load_text
    from archspec.compile import keras_name
    from archspec.importer.verify import match

    spec = load_text(text, "<spec>")
    compiled = spec.to_keras()
    rng = np.random.default_rng(3)
    for sid, kname in match(load_text(result.text, "<import>").graph, result.graph).items():
        layer = result.graph.nodes[kname].layer
        if layer is None or not layer.weights:
            continue
        ws = [rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in layer.get_weights()]
        layer.set_weights(ws)
        target = compiled.get_layer(keras_name(sid))
        target.set_weights(ops.get(spec.graph[sid].op).keras_weights(layer, target, ws))
    order = list(spec.graph.inputs)
    by_name = {t._keras_history.operation.name: t for t in model.inputs}
    want = np.asarray(keras.Model([by_name[n] for n in order], model.output)([xs[n] for n in order]))
    got = np.asarray(compiled([xs[n] for n in order]))
    assert np.abs(want).max() > 0.1
    return float(np.abs(want - got).max())


@pytest.mark.keras
def test_roformer_v2_imports_exactly_with_its_query_mask_and_interleaved_rotary():
    """RoFormer V2's attention mask is `token_ids != 0` (the padding_mask op), reshaped to (batch, 1, tokens, 1): on
    TensorFlow and JAX it masks queries — a padded query attends evenly to every key, and the others see the
    padded keys (padding_mask_on: queries, as ESM's). Its rotary pairs are interleaved (2i, 2i + 1): read as archspec's half-split
    pairs on q and k kernels whose columns are reordered (WeightView's order), which leaves the scores as they
    are. With padding ids in the middle and at the end, a key mask, no rotation or the kernels in Keras's own
    column order give other outputs."""
    model, result = _imported("RoformerV2Backbone")
    nodes = result.graph.nodes
    mask = next(n for n in nodes.values() if n.op == "padding_mask")
    assert mask.attrs.pad_id == 0 and mask.inputs == ["token_ids"]
    attn = nodes["transformer_layer_0_attention_layer_attention"].attrs
    assert attn.rotary and attn.padding_mask and attn.padding_mask_on == "queries" and not attn.use_bias and not attn.causal
    _round_trip(model, result)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, (3, 12)).astype("int32")
    ids[0, 4] = ids[1, 9:] = ids[2, :2] = 0                      # padding: a hole, a tail, a head
    xs = {"token_ids": ids, "segment_ids": rng.integers(0, 2, (3, 12)).astype("int32")}
    assert _diff_on(model, result, result.text, xs) < 1e-5
    assert _diff_on(model, result, result.text.replace("padding_mask_on: queries", "padding_mask_on: keys"), xs) > 1e-3
    assert _diff_on(model, result, result.text.replace("rotary: true", "rotary: false"), xs) > 1e-3
    for name in ("transformer_layer_0_attention_layer_attention", "transformer_layer_1_attention_layer_attention"):
        view = nodes[name].layer                                  # q and k kernels in Keras's own column order
        view.parts = [(vs, shape, axis, None) for vs, shape, axis, _ in view.parts]
    assert _diff_on(model, result, result.text, xs) > 1e-3
    biased, read = _imported("RoformerV2Backbone", use_bias=True, num_heads=4, head_size=4)   # biases reordered too
    assert read.graph.nodes["transformer_layer_0_attention_layer_attention"].attrs.use_bias
    _round_trip(biased, read)
