"""Boolean inputs (padding masks) through the whole stack, and the KerasHub backbones that take them —
EdRec's encoder-decoder — proven on real inputs.

A spec input may be `dtype: bool`: a mask, read only where an op takes one (attention's padding mask);
anywhere else it is the error `input-dtype` (the broken-spec corpus holds the cases). It compiles to a
boolean `keras.Input`, computes what an int32 mask computes, is shown as such in the report, and export
and training feed it booleans.
"""
from __future__ import annotations

import pytest
from test_import_decoders import _imported, _max_diff, _round_trip

import archspec

np = pytest.importorskip("numpy")

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
