"""archspec import over KerasHub's backbones (tools/keras_hub_zoo.py): each one, built tiny from its
constructor and saved as a user saves it, is imported exactly or refused naming the layer — never an
internal error, never a spec that differs from its model.

The representative dozen runs in the keras group (each a few seconds); every class, each in its own
process, is the slow test, held to the recorded run (tests/golden/keras_hub_zoo.json) so that a class
that imported exactly keeps doing so. The table in docs/import.md is generated from that recording.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import keras_hub_zoo as zoo  # noqa: E402

RECORDED = ROOT / "tests" / "golden" / "keras_hub_zoo.json"
# a CNN, a classic CNN, ViT, BERT, GPT-2, Llama, Gemma, Whisper, a segmentation backbone — each a few
# seconds (build, save, load, import, verify); CLIP (a backbone of backbones), Swin (windows) and RetinaNet
# (a feature pyramid) take longer (Swin 30 s under load) and run with the slow tests
SLOW = {"CLIPBackbone", "SwinTransformerBackbone", "RetinaNetBackbone"}
DOZEN = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in (
    "ResNetBackbone", "CSPNetBackbone", "ViTBackbone", "BertBackbone", "GPT2Backbone", "LlamaBackbone",
    "GemmaBackbone", "WhisperBackbone", "DeepLabV3Backbone", "CLIPBackbone", "SwinTransformerBackbone",
    "RetinaNetBackbone")]


def _recorded() -> dict[str, dict]:
    return {r["class"]: r for r in json.loads(RECORDED.read_text())["rows"]}


def _check(row: dict) -> None:
    """Exact, or refused with every problem naming a layer (or the model) and a reason."""
    assert row["result"] in ("exact", "refused", "not built"), row
    if row["result"] == "refused":
        assert row["reason"] and row.get("problems"), row
        for p in row["problems"]:
            assert p.startswith(("layer '", "in the nested model '", "the ")), p
        assert "Traceback" not in row.get("stderr", "")
    if row["class"] in _recorded() and _recorded()[row["class"]]["result"] == "exact":
        assert row["result"] == "exact", (row["class"], row.get("reason"))


@pytest.mark.keras
@pytest.mark.parametrize("name", DOZEN)
def test_a_representative_backbone_imports_exactly_or_is_refused_by_name(name, tmp_path):
    pytest.importorskip("keras_hub")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    row = zoo.measure(name, str(tmp_path))
    _check(row)
    assert row["result"] != "not built", row["reason"]      # the dozen are all buildable in keras-hub 0.32
    if row["result"] == "exact":
        assert (tmp_path / f"{name}.yaml").exists()
    else:
        assert not (tmp_path / f"{name}.yaml").exists()     # nothing written on a refusal


@pytest.mark.slow
@pytest.mark.keras
def test_every_backbone_class_imports_exactly_or_is_refused_by_name():
    """All of keras_hub.models' backbones, one after another in a worker process (a crash or hang is
    recorded against its class and a fresh worker takes the rest): tools/keras_hub_zoo.py as the docs run it."""
    pytest.importorskip("keras_hub")
    rows = zoo.run_batch(sorted(zoo.CONFIGS), timeout=600)
    bad = []
    for row in rows:
        try:
            _check(row)
        except AssertionError:
            bad.append(f"{row['class']}: {row['result']}: {row.get('reason')}")
    assert not bad, "\n".join(bad)


@pytest.mark.keras
def test_every_backbone_class_has_a_configuration_or_a_reason():
    keras_hub = pytest.importorskip("keras_hub")
    assert keras_hub
    classes = set(zoo.backbone_classes())
    assert classes == set(zoo.CONFIGS) | set(zoo.NOT_CONFIGURED), classes ^ (set(zoo.CONFIGS) | set(zoo.NOT_CONFIGURED))


def test_the_docs_table_is_the_recorded_run():
    """docs/import.md's KerasHub table is `tools/keras_hub_zoo.py --write-docs tests/golden/keras_hub_zoo.json`."""
    data = json.loads(RECORDED.read_text())
    doc = (ROOT / "docs" / "import.md").read_text()
    assert zoo.table(data["rows"], data["date"]) in doc, "run: python tools/keras_hub_zoo.py --write-docs " + str(RECORDED)
    assert not any(r["result"] == "failed" for r in data["rows"]), [r["class"] for r in data["rows"] if r["result"] == "failed"]


# ---- the pieces the zoo needed ---------------------------------------------------------------------
@pytest.mark.keras
def test_kerashub_rms_norm_classes_import_as_rms_norm_and_verify():
    """LlamaLayerNorm (module keras_hub.src.models.llama…, registered under no package) computes
    keras.layers.RMSNormalization: matched by module and class, proven by the round trip; Gemma's, which
    scales by 1 + scale, is rms_norm with unit_offset."""
    pytest.importorskip("keras_hub")
    import keras
    from keras_hub.src.models.gemma.rms_normalization import RMSNormalization as GemmaNorm
    from keras_hub.src.models.llama.llama_layernorm import LlamaLayerNorm

    from archspec.importer import UnsupportedModel, import_keras
    from archspec.importer.verify import RoundTripError, roundtrip

    np = pytest.importorskip("numpy")
    x = inp = keras.Input((5, 8))
    x = keras.layers.Dense(8, name="proj")(x)
    x = LlamaLayerNorm(epsilon=1e-5, name="norm")(x)
    model = keras.Model(inp, x)
    result = import_keras(model)
    assert result.graph.nodes["norm"].op == "rms_norm" and result.graph.nodes["norm"].attrs.epsilon == 1e-5
    assert roundtrip(model, result.text, kg=result.graph).exact

    # Gemma's scales by (1 + scale), its config silent about it: rms_norm with unit_offset, from its class
    y = GemmaNorm(name="gemma_norm")(keras.layers.Dense(8, name="proj")(inp))
    model = keras.Model(inp, y)
    model.get_layer("gemma_norm").set_weights([np.linspace(-0.5, 0.5, 8).astype("float32")])
    result = import_keras(model)
    assert result.graph.nodes["gemma_norm"].attrs.unit_offset
    assert roundtrip(model, result.text, kg=result.graph).exact
    with pytest.raises(RoundTripError, match="unit_offset False vs True"):
        roundtrip(model, result.text.replace("unit_offset: true", "unit_offset: false"), kg=result.graph)

    z = keras.layers.Dense(8, name="proj")(inp)
    z = GemmaNorm(name="gemma_norm", dtype=keras.DTypePolicy("float32"))(z)   # no config of its own: read from
    result = import_keras(keras.Model(inp, z))                                 # its attributes (epsilon)
    assert result.graph.nodes["gemma_norm"].attrs.unit_offset and result.graph.nodes["gemma_norm"].attrs.epsilon == 1e-6
    odd = GemmaNorm(name="gemma_norm", dtype=keras.DTypePolicy("float32"))
    model = keras.Model(inp, odd(keras.layers.Dense(8, name="proj")(inp)))
    del odd.epsilon                                     # a setting it does not keep as given: refused by name
    with pytest.raises(UnsupportedModel, match="gemma_norm.*get_config"):
        import_keras(model)


@pytest.mark.keras
def test_open_sequence_axes_are_fixed_with_shape(tmp_path, capsys):
    """A saved model whose input leaves its length open: `--shape NAME=[...]` fixes it (same layers and
    weights); a name that is not an input, or a size that contradicts a fixed axis, is a usage error."""
    import keras

    from archspec.cli import main

    ids = keras.Input((None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(20, 8, name="embed")(ids)
    x = keras.layers.Dense(4, name="head")(x)
    keras.Model(ids, x).save(tmp_path / "open.keras")
    path = str(tmp_path / "open.keras")

    assert main(["import", path, "-o", str(tmp_path / "a.yaml")]) == 1
    assert "is not fixed" in capsys.readouterr().err
    assert main(["import", path, "--shape", "token_ids=[6]", "-o", str(tmp_path / "b.yaml")]) == 0
    err = capsys.readouterr().err
    assert "max |Δ| outputs 0," in err
    assert "token_ids: {shape: [6], dtype: int32}" in (tmp_path / "b.yaml").read_text()
    assert main(["import", path, "--shape", "ids=[6]"]) == 2
    assert "no input of that name; its inputs are token_ids [None]" in capsys.readouterr().err
    assert main(["import", path, "--shape", "token_ids=[6, 2]"]) == 2
    assert "does not fit the input's shape [None]" in capsys.readouterr().err


@pytest.mark.keras
def test_a_token_picked_with_trailing_full_slices_is_select_token():
    """KerasHub's pooled output takes `x[:, 0, :]`; the trailing `:` takes nothing away."""
    import keras

    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    x = inp = keras.Input((5, 8))
    x = keras.layers.Dense(8, name="proj")(x)
    model = keras.Model(inp, [x[:, 0, :], x[:, -1, :]])      # BERT's pooled token, SigLIP's last one
    result = import_keras(model)
    assert [n.attrs.index for n in result.graph.nodes.values() if n.op == "select_token"] == [0, -1]
    assert roundtrip(model, result.text, kg=result.graph).exact


@pytest.mark.keras
def test_a_shape_the_model_cannot_take_is_a_usage_error_saying_why(tmp_path, capsys):
    import keras

    from archspec.cli import main

    x = inp = keras.Input((None, 2), name="audio")
    x = keras.layers.Conv1D(4, 7, strides=3, name="conv")(x)
    keras.Model(inp, x).save(tmp_path / "audio.keras")
    assert main(["import", str(tmp_path / "audio.keras"), "--shape", "audio=[4, 2]"]) == 2
    err = capsys.readouterr().err
    assert "--shape audio=[4, 2]: the model cannot run on inputs of these shapes (ValueError: Computed output size" in err
    assert "Traceback" not in err and "\x1b[" not in err


@pytest.mark.keras
def test_constants_in_keras_ops_arithmetic_scalar_tensors_and_per_channel_vectors():
    """KerasHub writes `x * 4.0` with the constant as a tensor (T5Gemma2) and normalizes images with
    per-channel constants, `(x - mean) / std` (ViTDet, SAM): a rescaling and two normalizations, exact."""
    import keras
    import numpy as np

    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    x = inp = keras.Input((4, 4, 3))
    x = keras.ops.subtract(x, np.array([0.485, 0.456, 0.406], "float32"))
    x = keras.ops.true_divide(x, np.array([0.229, 0.224, 0.225], "float32"))
    x = keras.layers.Conv2D(2, 1, name="conv")(x)
    x = keras.ops.multiply(x, keras.ops.convert_to_tensor(4.0))
    model = keras.Model(inp, x)
    result = import_keras(model)
    assert [n.op for n in result.graph.nodes.values()] == ["input", "normalization", "normalization", "conv2d",
                                                          "rescaling"]
    assert roundtrip(model, result.text, kg=result.graph).exact


@pytest.mark.keras
def test_a_token_embedding_called_again_is_a_shared_lookup_or_tied_logits(tmp_path, capsys):
    """BART's encoder and decoder share one ReversibleEmbedding; a language model projects back with it
    (reverse=True). Each later call is a node that reuses the first one's table — one set of weights in
    the compiled spec, the same parameters, the same outputs. A Dense called twice is still refused."""
    import keras

    from archspec.cli import main
    from archspec.importer import UnsupportedModel, import_keras

    emb = keras.layers.ReversibleEmbedding(30, 8, name="token_embedding")
    enc = keras.Input((5,), dtype="int32", name="encoder_ids")
    dec = keras.Input((4,), dtype="int32", name="decoder_ids")
    x = keras.layers.Dense(8, name="encode")(emb(enc))
    y = keras.layers.Dense(8, name="decode")(emb(dec))
    logits = emb(y, reverse=True)
    model = keras.Model({"encoder_ids": enc, "decoder_ids": dec}, {"encoded": x, "logits": logits})
    result = import_keras(model)
    assert [n.op for n in result.graph.nodes.values() if n.op in ("token_embedding", "shared_embedding",
                                                                  "tied_logits")] == [
        "token_embedding", "shared_embedding", "tied_logits"]
    model.save(tmp_path / "tied.keras")
    assert main(["import", str(tmp_path / "tied.keras"), "-o", str(tmp_path / "tied.yaml")]) == 0
    err = capsys.readouterr().err
    assert "max |Δ| outputs 0," in err and f"params {model.count_params():,} (Keras) = " in err

    dense = keras.layers.Dense(4, name="shared")
    a = keras.Input((4,))
    with pytest.raises(UnsupportedModel, match="'shared'.*called 2 times \\(shared weights\\)"):
        import_keras(keras.Model(a, dense(dense(a))))


@pytest.mark.keras
def test_a_layer_whose_get_config_fails_does_not_hide_the_other_problems():
    """KerasHub's Llama, Gemma, Whisper, T5 ... layers raise in their own get_config; the rest of the model
    is still read, so the refusal lists every problem, the failing layer first among equals."""
    import keras

    from archspec.importer import UnsupportedModel, import_keras

    class Broken(keras.layers.Layer):
        def __init__(self, fn=None, **kwargs):             # a non-serializable argument: Keras's own refusal
            super().__init__(**kwargs)
            self.fn = fn

        def build(self, shape):                           # a weight of its own: not traceable into Keras layers
            self.w = self.add_weight(shape=(shape[-1],))

        def call(self, x):
            return x * self.w

    x = inp = keras.Input((4,))
    x = keras.layers.Dense(3, name="dense")(x)
    x = Broken(fn=lambda v: v, name="broken")(x)
    x = keras.layers.GaussianNoise(0.1, name="noise")(x)
    with pytest.raises(UnsupportedModel) as info:
        import_keras(keras.Model(inp, x))
    broken, noise = info.value.problems
    assert broken.startswith("layer 'broken' (")      # refused by name (why: tracing's answer, or its config's)
    assert noise.startswith("layer 'noise' (keras.layers.GaussianNoise)")


@pytest.mark.keras
def test_keras_ops_gelu_and_concatenate_in_a_graph():
    """Whisper calls keras.ops.gelu between its layers (the tanh form by default), PaliGemma
    keras.ops.concatenate; both are ops with their settings read from the operation, exact."""
    import keras

    from archspec.importer import UnsupportedModel, import_keras
    from archspec.importer.verify import roundtrip

    a = keras.Input((5, 8), name="a")
    b = keras.Input((3, 8), name="b")
    x = keras.ops.concatenate([keras.layers.Dense(8, name="pa")(a), b], axis=1)
    x = keras.ops.gelu(keras.layers.Dense(8, name="proj")(x))
    y = keras.ops.gelu(x, approximate=False)
    model = keras.Model([a, b], y)
    result = import_keras(model)
    nodes = [n for n in result.graph.nodes.values() if n.op in ("concat", "gelu")]
    assert [(n.op, n.attrs.model_dump()) for n in nodes] == [("concat", {"axis": 1}), ("gelu", {"approximate": True}),
                                                             ("gelu", {"approximate": False})]
    assert roundtrip(model, result.text, kg=result.graph).exact
    with pytest.raises(UnsupportedModel, match="keras.ops.concatenate"):
        import_keras(keras.Model([a, b], keras.ops.concatenate([a, a], axis=0)))


@pytest.mark.keras
def test_resizing_called_twice_imports_as_two_resize_layers():
    """SegFormer resizes two feature maps with one Resizing layer: a `resize` op, one layer per call."""
    import keras

    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    up = keras.layers.Resizing(8, 8, name="up")
    a = keras.Input((4, 4, 3), name="a")
    b = keras.Input((2, 2, 3), name="b")
    x = keras.layers.Concatenate(name="join")([up(a), up(keras.layers.Conv2D(3, 1, name="conv")(b))])
    model = keras.Model([a, b], x)
    result = import_keras(model)
    assert [n.name for n in result.graph.nodes.values() if n.op == "resize"] == ["up", "up_2"]
    assert roundtrip(model, result.text, kg=result.graph).exact


@pytest.mark.keras
def test_weights_no_output_depends_on_are_named_and_left_out():
    """KerasHub's BASNet holds its ResNet encoder's stem, which it replaces: Keras counts those weights,
    the computation does not use them. The spec describes the computation, the round trip compares the
    parameters of what is computed, and a warning names what was left out. (The subclass overrides no
    get_config: Keras's own then returns the constructor's arguments, not the graph — this ended in
    KeyError: 'layers', an internal error.)"""
    import keras

    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    class Holder(keras.Model):                       # a Functional subclass keeping an extra, unused layer
        def __init__(self, **kwargs):
            spare = keras.layers.Dense(5, name="spare")
            spare.build((None, 3))
            x = inp = keras.Input((4,))
            super().__init__(inp, keras.layers.Dense(2, name="head")(x), **kwargs)
            self.spare = spare

    model = Holder(name="holder")
    assert model.count_params() == 10 + 20
    result = import_keras(model)
    (warning,) = [w for w in result.warnings if "no output depends on" in w]
    assert "20 parameters in 2 weights" in warning and "spare" in warning
    report = roundtrip(model, result.text, kg=result.graph)
    assert report.exact and report.params_keras == report.params_compiled == 10
