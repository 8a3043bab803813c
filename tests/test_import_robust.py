"""archspec import on models it did not write: never an internal error, never a silently wrong spec.

Each case is a kind of model users bring (a KerasHub backbone saved directly, a backbone nested in a
backbone, a layer whose own get_config fails, another library's layer that shares a name with one of
Keras's, a file Keras cannot load): the outcome is an exact spec, verified before it is written, or a
refusal that names the layer and why — exit status 1, nothing on disk.
"""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

pytestmark = pytest.mark.keras


def _written(tmp_path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".keras"))


def _resnet_backbone():
    keras_hub = pytest.importorskip("keras_hub")
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 64],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
        image_shape=(32, 32, 3))


def test_a_kerashub_backbone_saved_directly_round_trips(tmp_path, capsys):
    """A backbone is a Functional subclass whose get_config holds its constructor's arguments, not its
    layers; the importer reads its graph instead (this ended in KeyError: 'layers')."""
    from archspec import load
    from archspec.cli import main

    model = _resnet_backbone()
    model.save(tmp_path / "resnet.keras")
    out = tmp_path / "resnet.yaml"
    assert main(["import", str(tmp_path / "resnet.keras"), "-o", str(out)]) == 0     # verified by default
    err = capsys.readouterr().err
    assert "round trip:" in err and "max |Δ| outputs 0," in err and "verify" in err
    assert load(out).analysis().total.params == model.count_params()


def test_a_functional_subclass_nested_in_another_is_flattened():
    """CLIP's shape: a backbone built from encoders that are backbones themselves, called on a dict."""
    import keras

    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    class Encoder(keras.Model):                       # a Functional subclass with its own get_config
        def __init__(self, width, **kwargs):
            x = inp = keras.Input((8, 8, 3), name="pixels")
            x = keras.layers.Conv2D(width, 3, name="conv")(x)
            super().__init__({"pixels": inp}, keras.layers.GlobalAveragePooling2D(name="pool")(x), **kwargs)
            self.width = width

        def get_config(self):
            return {"width": self.width, "name": self.name}

    class Outer(keras.Model):
        def __init__(self, **kwargs):
            inp = keras.Input((8, 8, 3), name="images")
            feat = Encoder(4, name="encoder")({"pixels": inp})
            super().__init__(inp, keras.layers.Dense(2, name="head")(feat), **kwargs)

        def get_config(self):
            return {"name": self.name}

    model = Outer(name="outer")
    result = import_keras(model)
    assert roundtrip(model, result.text, kg=result.graph).exact


def test_a_layer_whose_get_config_fails_is_refused_by_name(tmp_path, capsys):
    """KerasHub's DeiT, Swin and Llama layers raise inside their own get_config; that is the layer's
    problem, named, not archspec's internal error."""
    import keras

    from archspec.importer import UnsupportedModel, import_keras

    class Broken(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), name="w")

        def call(self, x):
            return x * self.w

        def get_config(self):
            raise AttributeError("'Broken' object has no attribute 'units'")

    x = inp = keras.Input((4,))
    x = keras.layers.Dense(3, name="dense")(x)
    model = keras.Model(inp, Broken(name="broken")(x))
    with pytest.raises(UnsupportedModel) as info:
        import_keras(model)
    (problem,) = info.value.problems
    # (a layer archspec would trace needs no config of its own: this one cannot be traced, it has a weight)
    assert problem.startswith("layer 'broken' (") and "weights of its own" in problem

    class Keras(keras.layers.Dense):                   # a layer read from its config: its failure is named
        def get_config(self):
            raise AttributeError("'Keras' object has no attribute 'units'")

    Keras.__module__ = "keras.src.layers.core.dense"
    x = inp = keras.Input((4,))
    model = keras.Model(inp, Keras(3, name="broken")(x))
    with pytest.raises(UnsupportedModel) as info:
        import_keras(model)
    (problem,) = info.value.problems
    assert problem.startswith("layer 'broken' (") and "get_config() raises AttributeError" in problem


def test_another_librarys_layer_with_a_keras_name_is_not_read_as_that_op(tmp_path, capsys):
    """Classes are matched by module, not by name alone: KerasHub's PositionEmbedding (the embedding
    alone) is not archspec's position_embedding (input + embedding), and a user's own `Dense` is not
    keras.layers.Dense. Without this a wrong spec was written and the command exited 0."""
    import keras

    from archspec.cli import main

    @keras.saving.register_keras_serializable(package="mine")
    class Dense(keras.layers.Layer):                   # same class name as Keras's, computes something else
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], self.units))

        def call(self, x):
            return keras.ops.tanh(x @ self.w)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    x = inp = keras.Input((4,))
    keras.Model(inp, Dense(3, name="mine")(x)).save(tmp_path / "mine.keras")
    assert main(["import", str(tmp_path / "mine.keras"), "-o", str(tmp_path / "mine.yaml")]) == 1
    err = capsys.readouterr().err
    assert "layer 'mine'" in err and "a custom layer (mine>Dense)" in err and "Traceback" not in err
    assert _written(tmp_path) == []

    # KerasHub's PositionEmbedding is understood as what it computes — the table alone (add: false), not
    # archspec's input + table — and the verification proves it
    keras_hub = pytest.importorskip("keras_hub")
    x = inp = keras.Input((12, 8))
    x = keras_hub.layers.PositionEmbedding(sequence_length=16, name="positions")(x)
    keras.Model(inp, x).save(tmp_path / "positions.keras")
    assert main(["import", str(tmp_path / "positions.keras"), "-o", str(tmp_path / "positions.yaml")]) == 0
    assert "max |Δ| outputs 0," in capsys.readouterr().err
    assert "position_embedding: {length: 16, add: false, name: positions}" in (tmp_path / "positions.yaml").read_text()


def test_files_keras_cannot_load_exit_1_and_missing_ones_2(tmp_path, capsys):
    from archspec.cli import main

    (tmp_path / "junk.keras").write_bytes(b"not a zip file")
    assert main(["import", str(tmp_path / "junk.keras")]) == 1
    err = capsys.readouterr().err
    assert "cannot load" in err and "Keras cannot load it (BadZipFile" in err and "Traceback" not in err
    assert main(["import", str(tmp_path / "missing.keras")]) == 2


def test_a_spec_that_does_not_verify_is_not_written(tmp_path, capsys, monkeypatch):
    """Verification runs by default and comes before the write: a spec that is not exact never lands."""
    import keras

    import archspec.importer.verify as verify
    from archspec.cli import main

    x = inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Dense(3, name="d")(x)).save(tmp_path / "m.keras")
    real = verify.roundtrip

    def off_by_a_little(*args, **kwargs):
        report = real(*args, **kwargs)
        report.max_abs_diff = 0.5                       # what a wrong op would give
        return report

    monkeypatch.setattr(verify, "roundtrip", off_by_a_little)
    assert main(["import", str(tmp_path / "m.keras"), "-o", str(tmp_path / "m.yaml")]) == 1
    err = capsys.readouterr().err
    assert "not exact; nothing written" in err and _written(tmp_path) == []
    assert main(["import", str(tmp_path / "m.keras"), "-o", str(tmp_path / "m.yaml"), "--no-verify"]) == 0
    assert "(not verified)" in capsys.readouterr().err and _written(tmp_path) == ["m.yaml"]


def test_a_layer_without_weights_called_twice_is_one_layer_per_call():
    """A Dropout (or Resizing) applied to two tensors computes what two such layers compute: it is written
    as one layer per call (no "shared weights" claim), and the round trip proves it."""
    import keras

    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    drop = keras.layers.Dropout(0.1, name="drop")
    x = inp = keras.Input((4,))
    x = drop(keras.layers.Dense(4, name="d")(drop(x)))
    model = keras.Model(inp, x)
    result = import_keras(model)
    assert [n.op for n in result.graph.nodes.values()] == ["input", "dropout", "dense", "dropout"]
    assert "name: drop}" in result.text and "name: drop_2}" in result.text
    assert roundtrip(model, result.text, kg=result.graph).exact


@pytest.mark.parametrize("name", ["gpt2", "llama", "vit", "deit", "clip"])
def test_kerashub_backbones_import_or_are_refused_by_name(name):
    """A corpus of KerasHub backbones in tiny configurations (random weights): each is imported exactly
    or refused with every offending layer named — never an exception of another kind."""
    keras_hub = pytest.importorskip("keras_hub")
    from archspec.importer import UnsupportedModel, import_keras
    from archspec.importer.verify import roundtrip

    M = keras_hub.models
    build = {
        "gpt2": lambda: M.GPT2Backbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
                                       intermediate_dim=16, max_sequence_length=8),
        "llama": lambda: M.LlamaBackbone(vocabulary_size=50, num_layers=1, num_query_heads=2, num_key_value_heads=1,
                                         hidden_dim=8, intermediate_dim=16),
        "vit": lambda: M.ViTBackbone(image_shape=(16, 16, 3), patch_size=8, num_layers=1, num_heads=2, hidden_dim=8,
                                     mlp_dim=16),
        "deit": lambda: M.DeiTBackbone(image_shape=(16, 16, 3), patch_size=8, num_layers=1, num_heads=2, hidden_dim=8,
                                       intermediate_dim=16),
        "clip": lambda: M.CLIPBackbone(
            M.CLIPVisionEncoder(patch_size=8, hidden_dim=8, num_layers=1, num_heads=2, intermediate_dim=16,
                                image_shape=(16, 16, 3)),
            M.CLIPTextEncoder(vocabulary_size=50, embedding_dim=8, hidden_dim=8, num_layers=1, num_heads=2,
                              intermediate_dim=16, max_sequence_length=8), projection_dim=8),
    }[name]
    model = build()
    try:
        result = import_keras(model)
    except UnsupportedModel as exc:
        assert exc.problems and all(p.startswith(("layer '", "the model")) for p in exc.problems), exc.problems
        return
    assert roundtrip(model, result.text, kg=result.graph).exact
