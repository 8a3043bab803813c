"""specs/whisper_encoder.yaml against the encoder half of keras_hub.models.WhisperBackbone.

The backbone is built from its constructor (random weights, no preset: there is no network), every encoder
weight is copied into the compiled spec, layer by layer, and the encoder outputs are compared (≤ 1e-5). The
parameter counts (trainable and non-trainable) must equal KerasHub's encoder layers'. No number is typed
in: the spec's sizes are set from the same constructor arguments.

The spec's input is fixed ([3000, 80]); the small configurations replace it with a shorter one in the text
(inputs take no `params:` yet).
"""
from __future__ import annotations

import gc
from pathlib import Path

import pytest

import archspec

SPEC = Path(__file__).resolve().parent.parent / "specs" / "whisper_encoder.yaml"
INPUT = "features: [3000, 80]"
np = pytest.importorskip("numpy")  # the training extras; the core tier runs without them
pytestmark = pytest.mark.keras

SMALL = dict(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=24, num_mels=8,
             max_encoder_sequence_length=24, frames=20)
TINY = dict(num_layers=4, num_heads=6, hidden_dim=384, intermediate_dim=1536, num_mels=80,
            max_encoder_sequence_length=3000, frames=3000)
BASE = dict(TINY, num_layers=6, num_heads=8, hidden_dim=512, intermediate_dim=2048)


def load_spec(cfg):
    text = SPEC.read_text(encoding="utf-8")
    assert INPUT in text
    text = text.replace(INPUT, f"features: [{cfg['frames']}, {cfg['num_mels']}]")
    overrides = dict(dim=cfg["hidden_dim"], heads=cfg["num_heads"], mlp=cfg["intermediate_dim"],
                     layers=cfg["num_layers"], max_frames=cfg["max_encoder_sequence_length"])
    return archspec.load_text(text, str(SPEC), overrides=overrides)


def backbone(cfg):
    keras_hub = pytest.importorskip("keras_hub")
    import keras

    keras.utils.set_random_seed(0)
    kwargs = {k: v for k, v in cfg.items() if k != "frames"}
    return keras_hub.models.WhisperBackbone(vocabulary_size=32, max_decoder_sequence_length=8, **kwargs)


def encoder_layers(hub):
    """KerasHub's encoder layers (those of the encoder half), by name."""
    return {lay.name: lay for lay in hub.layers
            if lay.name.startswith(("encoder_", "transformer_encoder_layer_")) and lay.weights}


def pairs(hub, model, layers):
    """(KerasHub layer, compiled-spec layer) for every weight-holding encoder layer."""
    from archspec.compile import keras_name

    def ours(node):
        return model.get_layer(keras_name(node))

    enc = encoder_layers(hub)
    out = [(enc["encoder_token_embedding_conv_layer_1"], ours("conv1")),
           (enc["encoder_token_embedding_conv_layer_2"], ours("conv2")),
           (enc["encoder_position_embedding"], ours("positions")),
           (enc["encoder_layer_norm"], ours("encoder_norm"))]
    for i in range(layers):
        t, p = enc[f"transformer_encoder_layer_{i}"], f"encoder_layer_{i + 1}"
        out += [(t._self_attention_layer_norm, ours(f"{p}/attn/layer_norm")),
                (t._self_attention_layer, ours(f"{p}/attn/attention")),
                (t._feedforward_layer_norm, ours(f"{p}/mlp/layer_norm")),
                (t._feedforward_intermediate_dense, ours(f"{p}/mlp/fc1")),
                (t._feedforward_output_dense, ours(f"{p}/mlp/fc2"))]
    # every encoder weight is copied (the transformer layers by their parts)
    assert sorted(id(w) for t, _ in out for w in t.weights) == sorted(id(w) for lay in enc.values() for w in lay.weights)
    return out


def counts(layers):
    return (sum(int(np.prod(w.shape)) for lay in layers for w in lay.trainable_weights),
            sum(int(np.prod(w.shape)) for lay in layers for w in lay.non_trainable_weights))


def compare(cfg):
    import keras

    spec = load_spec(cfg)
    hub = backbone(cfg)
    total = spec.analysis().total
    assert (total.trainable, total.params - total.trainable) == counts(encoder_layers(hub).values())
    model = spec.to_keras()
    for theirs, ours in pairs(hub, model, cfg["num_layers"]):
        assert [tuple(w.shape) for w in theirs.weights] == [tuple(w.shape) for w in ours.weights], ours.name
        ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).normal(size=(2, cfg["frames"], cfg["num_mels"])).astype("float32")
    want = hub({"encoder_features": x, "decoder_token_ids": np.ones((2, 8), "int32"),
                "decoder_padding_mask": np.ones((2, 8), "int32")})["encoder_sequence_output"]
    got = model(x)
    assert float(np.std(np.asarray(want))) > 0.5          # a real output (layer-normed features), not zeros
    diff = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
    print(f"whisper encoder {cfg['num_layers']}×{cfg['hidden_dim']}: max |Δ| = {diff:.2e}, params {total.params:,}")
    assert diff <= 1e-5
    del hub, model
    keras.backend.clear_session()
    gc.collect()
    return diff


def test_small_whisper_encoder_equals_keras_hub():
    compare(SMALL)


def test_sine_positions_are_whispers():
    """Without copied weights, the spec's position table is Whisper's `sinusoids` (openai/whisper model.py),
    written out here from its definition."""
    spec = load_spec(SMALL)
    model = spec.to_keras()
    table = np.asarray(model.get_layer("positions").positions)
    length, channels = table.shape
    inc = np.log(10000) / (channels // 2 - 1)
    scaled = np.arange(length)[:, None] * np.exp(-inc * np.arange(channels // 2))[None, :]
    np.testing.assert_allclose(table, np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1), atol=1e-6)


def test_interleaved_sine_position_is_keras_hubs_encoding():
    """`layout: interleaved` adds exactly what keras_hub.layers.SinePositionEncoding returns."""
    keras_hub = pytest.importorskip("keras_hub")
    spec = archspec.load_text("""
archspec: 1
name: sine
inputs: {x: [50, 12]}
model:
  - sine_position: {max_wavelength: 1000, name: pe}
""")
    x = np.random.default_rng(2).normal(size=(2, 50, 12)).astype("float32")
    want = x + np.asarray(keras_hub.layers.SinePositionEncoding(max_wavelength=1000)(x))
    np.testing.assert_allclose(np.asarray(spec.to_keras()(x)), want, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("cfg", [TINY, BASE], ids=["whisper-tiny", "whisper-base"])
def test_real_size_whisper_encoder_equals_keras_hub(cfg):
    compare(cfg)
