"""The ViT specs against a Vision Transformer written by hand from Keras layers, as the ViT paper's
reference implementation (google-research/vision_transformer, models_vit.py) builds it: patch
convolution, flatten to tokens, class token, learned position embedding, pre-norm encoder blocks
(LayerNormalization → MultiHeadAttention → Add; LayerNormalization → Dense GELU → Dense → Add), a final
LayerNormalization, the class token `x[:, 0]` and the head. The class token and position embedding are
written here as the reference writes them (weights of shape (1, 1, D) and (1, T, D)), independently of
archspec's layers; weights are copied across and the outputs compared.

No number is typed in except the paper's ViT-B/16 total (86,567,656), which the Keras model must give too.
"""
from __future__ import annotations

import gc
import math
from pathlib import Path

import pytest

import archspec

SPECS = Path(__file__).resolve().parent.parent / "specs"
pytestmark = pytest.mark.keras

# spec file → the reference's hyper-parameters (what the spec's header says it is)
VIT = {
    "vit_b16.yaml": dict(image=224, channels=3, patch=16, dim=768, depth=12, heads=12, mlp=3072, classes=1000),
    "digits_vit.yaml": dict(image=8, channels=1, patch=2, dim=32, depth=2, heads=4, mlp=64, classes=10),
}


def reference_vit(image, channels, patch, dim, depth, heads, mlp, classes):
    import keras

    class ClassToken(keras.layers.Layer):
        def build(self, input_shape):
            self.cls = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros", name="cls")

        def call(self, x):
            cls = keras.ops.tile(self.cls, (keras.ops.shape(x)[0], 1, 1))
            return keras.ops.concatenate([cls, x], axis=1)

    class AddPositionEmbs(keras.layers.Layer):
        def build(self, input_shape):
            self.pos_embedding = self.add_weight(shape=(1, *input_shape[1:]), name="pos_embedding",
                                                 initializer=keras.initializers.RandomNormal(stddev=0.02))

        def call(self, x):
            return x + self.pos_embedding

    inputs = keras.Input((image, image, channels))
    x = keras.layers.Conv2D(dim, patch, strides=patch, name="embedding")(inputs)
    x = keras.layers.Reshape((-1, dim))(x)
    x = ClassToken(name="cls")(x)
    x = AddPositionEmbs(name="posembed_input")(x)
    for i in range(depth):
        y = keras.layers.LayerNormalization(epsilon=1e-6)(x)
        y = keras.layers.MultiHeadAttention(heads, dim // heads)(y, y)
        x = keras.layers.Add()([x, y])
        y = keras.layers.LayerNormalization(epsilon=1e-6)(x)
        y = keras.layers.Dense(mlp, activation="gelu")(y)
        y = keras.layers.Dense(dim)(y)
        x = keras.layers.Add()([x, y])
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    x = x[:, 0]
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax", name="head")(x))


def _weights(model):
    return [lay for lay in model.layers if lay.weights]


def _params(layer):
    return sum(math.prod(w.shape) for w in layer.weights)


@pytest.mark.parametrize("name", list(VIT))
def test_vit_parameters_and_shapes_equal_the_reference(name):
    """Totals, and per weight-holding layer in order: class, parameters, output shape."""
    import keras

    keras.backend.clear_session()
    spec = archspec.load(SPECS / name)
    ref = reference_vit(**VIT[name])
    a = spec.analysis()
    assert a.total.params == ref.count_params()
    if name == "vit_b16.yaml":
        assert ref.count_params() == 86_567_656                 # the ViT paper's ViT-B/16, 1000 classes
    ours = [n for n in spec.graph if a.nodes[n.id].params]
    theirs = _weights(ref)
    assert [a.nodes[n.id].params for n in ours] == [_params(lay) for lay in theirs]
    assert [tuple(n.shape) for n in ours] == [tuple(lay.output.shape[1:]) for lay in theirs]
    from archspec import ops
    kinds = {"ClassToken": "ClassToken", "PositionEmbedding": "AddPositionEmbs"}
    assert [kinds.get(ops.REGISTRY[n.op].keras_class, ops.REGISTRY[n.op].keras_class) for n in ours] == \
        [type(lay).__name__ for lay in theirs]
    del ref
    keras.backend.clear_session()
    gc.collect()


@pytest.mark.parametrize("name", [pytest.param("digits_vit.yaml"),
                                  pytest.param("vit_b16.yaml", marks=pytest.mark.slow)])
def test_vit_outputs_equal_the_reference_with_copied_weights(name):
    import keras
    import numpy as np

    keras.backend.clear_session()
    spec = archspec.load(SPECS / name)
    ours, ref = spec.to_keras(), reference_vit(**VIT[name])
    rng = np.random.default_rng(0)
    for x, y in zip(_weights(ours), _weights(ref)):
        # different random weights everywhere (the class token starts at zero), reshaped to the reference's
        values = [rng.normal(0, 0.05, w.shape).astype("float32") for w in x.weights]
        x.set_weights(values)
        y.set_weights([v.reshape(w.shape) for v, w in zip(values, y.weights)])
    cfg = VIT[name]
    batch = rng.uniform(0, 1, (2, cfg["image"], cfg["image"], cfg["channels"])).astype("float32")
    feats = [keras.Model(m.input, m.layers[-1].input) for m in (ours, ref)]     # what the head reads
    diff_features = float(np.max(np.abs(np.asarray(feats[0](batch)) - np.asarray(feats[1](batch)))))
    diff_out = float(np.max(np.abs(np.asarray(ours(batch)) - np.asarray(ref(batch)))))
    print(f"{name}: max |Δ| class-token features {diff_features:.3g}, probabilities {diff_out:.3g}")
    assert diff_features <= 1e-4 and diff_out <= 1e-5
    del ours, ref, feats
    keras.backend.clear_session()
    gc.collect()


@pytest.mark.slow
def test_digits_vit_trains_to_its_target(tmp_path):
    """`archspec train specs/digits_vit.yaml` (as the demo runs it) meets the spec's own accuracy target."""
    import json
    import subprocess
    import sys

    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "archspec", "train", str(SPECS / "digits_vit.yaml"), "--out", str(out),
                        "--seed", "0", "-q"], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["targets"]["test_accuracy"]["met"], metrics["targets"]
