"""archspec import of KerasHub's vision transformers: the patch embeddings that use weights of their own in
their call (importer/blocks.py), encoders whose parts return None beside a tensor (DeiT), and
keras.layers.Identity made with settings its get_config cannot serialize (HGNetV2).

Each import is proved by the round trip (importer/verify.py): graph matched node for node, parameters
equal, outputs equal on random weights copied across — so a weight taken from the wrong variable (the
distillation token for the class token, a table read in another order) fails it.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
from conftest import ROOT  # noqa: E402

pytestmark = pytest.mark.keras
sys.path.insert(0, str(ROOT / "tools"))


def _exact(model):
    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    result = import_keras(model)
    report = roundtrip(model, result.text, kg=result.graph)
    assert report.params_keras == report.params_compiled == report.params_spec, report.summary()
    assert report.exact and report.max_abs_diff <= 1e-5, report.summary()
    return result, report


def _hub(name):
    pytest.importorskip("keras_hub")
    import keras_hub_zoo as zoo

    return zoo.build(name)


def _ops(result) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in result.graph.nodes.values():
        counts[node.op] = counts.get(node.op, 0) + 1
    return counts


def test_deit_embedding_reads_as_a_chain_with_both_tokens_in_order():
    """DeiT's embedding: conv → reshape → 2 class tokens (class, then distillation) → position table →
    dropout; the (1, 2, D) token is made of its two variables in that order, and written back the same."""
    import numpy as np

    from archspec.importer.blocks import WeightView

    model = _hub("DeiTBackbone")
    result, report = _exact(model)
    emb = model.get_layer("deit_patching_and_embedding")
    parts = {n: node for n, node in result.graph.nodes.items() if n.startswith("deit_patching_and_embedding_")}
    assert [p.op for p in parts.values()] == ["conv2d", "reshape", "class_token", "position_embedding", "dropout"]
    token = next(p for p in parts.values() if p.op == "class_token")
    assert token.attrs.tokens == 2 and isinstance(token.layer, WeightView)
    (both,) = token.layer.get_weights()
    assert np.array_equal(both[:, :1], np.asarray(emb.class_token))
    assert np.array_equal(both[:, 1:], np.asarray(emb.distillation_token))
    saved = [np.asarray(emb.class_token), np.asarray(emb.distillation_token)]
    token.layer.set_weights([both[:, ::-1]])                # swapped: read back swapped
    assert np.array_equal(np.asarray(emb.class_token), saved[1])
    assert np.array_equal(np.asarray(emb.distillation_token), saved[0])
    token.layer.set_weights([both])
    assert report.layers == len(result.graph.nodes)


def test_dinov2_idle_weights_are_named_and_left_out():
    """DINOv2's mask token and source position table are never used by its call (no masks given): the
    warning names them, and the compared parameters are the ones it computes with."""
    model = _hub("DINOV2Backbone")
    result, report = _exact(model)
    warning = next(w for w in result.warnings if "no output depends on" in w)
    assert "mask_token" in warning and "embeddings/position_embeddings" in warning
    emb = model.get_layer("embeddings")
    idle = int(emb.mask_token.shape[-1]) + int(emb.position_embeddings.shape[1] * emb.position_embeddings.shape[2])
    assert report.params_keras == model.count_params() - idle
    assert _ops(result)["layer_scale"] == 4                  # DINOV2LayerScale read by its module path


def test_an_embedding_called_in_a_way_archspec_cannot_express_is_refused_by_name():
    """A DeiT embedding with a mask token (weights its call uses only with bool_masked_pos) is refused,
    naming the layer and why."""
    pytest.importorskip("keras_hub")
    import keras
    from keras_hub.src.models.deit.deit_layers import DeiTEmbeddings

    from archspec.importer.reader import UnsupportedModel, read_model

    x = keras.Input((16, 16, 3))
    y = DeiTEmbeddings(image_size=(16, 16), patch_size=(8, 8), hidden_dim=8, use_mask_token=True, name="emb")(x)
    with pytest.raises(UnsupportedModel) as err:
        read_model(keras.Model(x, y))
    (problem,) = err.value.problems
    assert problem.startswith("layer 'emb' (keras_hub.src.models.deit.deit_layers.DeiTEmbeddings)")
    assert "mask token" in problem


def test_identity_layers_are_dropped_even_when_their_config_cannot_be_read():
    """keras.layers.Identity computes its input whatever its config; one made with a dtype policy object
    (as HGNetV2 makes it) has a get_config that raises, and is still read — out of the graph."""
    import keras

    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, name="conv")(x)
    y = keras.layers.Identity(dtype=keras.DTypePolicy("float32"), name="idle")(y)
    y = keras.layers.ReLU(name="relu")(y)
    model = keras.Model(x, y)
    with pytest.raises(Exception):
        model.get_layer("idle").get_config()
    result, _ = _exact(model)
    assert "idle" not in result.graph.nodes
    assert result.graph.nodes["relu"].inputs == ["conv"]


def test_hgnetv2_round_trips():
    _exact(_hub("HGNetV2Backbone"))


def test_a_composite_whose_parts_return_none_beside_a_tensor_is_traced_inline():
    """Parts that return (x, None) (DeiT's encoder blocks without attention scores) cannot be layers of a
    functional graph; the tracer runs them inline (their own parts, each called `proj`, named after their
    block), and a layer returning (x, {name: tensor}) is numbered as Keras numbers its outputs."""
    import keras

    class Part(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.proj = keras.layers.Dense(4, name="proj")

        def call(self, x):
            return self.proj(x), None

    class Stack(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.parts = [Part(name=f"part_{i}") for i in range(2)]

        def call(self, x):
            feats = {}
            for i, part in enumerate(self.parts):
                x, _ = part(x)
                feats[f"stage{i}"] = x
            return x, feats

    x = keras.Input((3, 4))
    y, feats = Stack(name="stack")(x)
    model = keras.Model(x, keras.layers.Add(name="join")([y, feats["stage0"]]))
    result, _ = _exact(model)
    dense = [n for n, node in result.graph.nodes.items() if node.op == "dense"]
    assert len(dense) == 2 and all("part_" in n for n in dense), dense


def test_a_windowed_encoder_with_padding_and_relative_positions_round_trips():
    """ViTDet's WindowedTransformerEncoder on a 3×3 map with 2×2 windows (padded to 4×4 and cropped back),
    relative position tables randomized by the round trip: window_attention computes what KerasHub does."""
    pytest.importorskip("keras_hub")
    import keras
    from keras_hub.src.models.vit_det.vit_layers import WindowedTransformerEncoder

    x = keras.Input((3, 3, 8))
    y = WindowedTransformerEncoder(project_dim=8, intermediate_dim=16, num_heads=2, use_rel_pos=True, window_size=2,
                                   input_size=(3, 3), name="block")(x)
    result, _ = _exact(keras.Model(x, y))
    (attn,) = [n for n in result.graph.nodes.values() if n.op == "window_attention"]
    assert (attn.attrs.window, attn.attrs.heads, attn.attrs.key_dim, attn.attrs.relative) == (2, 2, 4, "decomposed")
    assert [w.shape for w in attn.layer.get_weights()] == [(8, 24), (24,), (8, 8), (8,), (3, 4), (3, 4)]


def test_vitdet_round_trips():
    result, _ = _exact(_hub("ViTDetBackbone"))
    assert {n.attrs.window for n in result.graph.nodes.values() if n.op == "window_attention"} == {0, 2}


def test_a_shifted_window_block_on_a_padded_map_round_trips():
    """Swin's block on a 6×6 map with 4×4 windows shifted by 2: rolled, padded to 8×8, masked across the
    roll's seams, rolled back and cropped — window_attention with relative: bias computes what KerasHub does
    (its bias table and qkv weights randomized by the round trip)."""
    pytest.importorskip("keras_hub")
    import keras
    from keras_hub.src.models.swin_transformer.swin_transformer_layers import SwinTransformerBlock

    x = keras.Input((36, 8))
    y = SwinTransformerBlock(dim=8, input_resolution=(6, 6), num_heads=2, window_size=4, shift_size=2,
                             name="block")(x)
    result, _ = _exact(keras.Model(x, y))
    (attn,) = [n for n in result.graph.nodes.values() if n.op == "window_attention"]
    assert (attn.attrs.window, attn.attrs.shift, attn.attrs.relative) == (4, 2, "bias")


@pytest.mark.slow
def test_swin_round_trips():
    result, _ = _exact(_hub("SwinTransformerBackbone"))
    shifts = sorted(n.attrs.shift for n in result.graph.nodes.values() if n.op == "window_attention")
    assert shifts == [0, 0, 0, 2]                 # stage 2's map (4×4) is one window: no shift


def test_depth_anything_round_trips():
    """DepthAnything over DINOv2: the neck's token-to-image (cropping_1d → reshape), its fusion stages (two
    inputs; the first one's unused residual unit named idle) and the head (resize_aligned: TensorFlow 1's
    align_corners resize, as KerasHub interpolates)."""
    model = _hub("DepthAnythingBackbone")
    result, report = _exact(model)
    ops = _ops(result)
    assert ops["resize_aligned"] == 5 and ops["cropping_1d"] == 4, ops
    warning = next(w for w in result.warnings if "no output depends on" in w)
    assert "fusion_stage_0/residual_layer1" in warning


def test_dinov3_round_trips():
    """DINOv3: the class and register tokens prepended (class_token), attention with 2-D rotary embeddings of
    the patch grid (grid_rope_attention, the rotation layer standing for nothing), DINOV3LayerScale as
    layer_scale; its mask token idle."""
    model = _hub("DINOV3Backbone")
    result, _ = _exact(model)
    (token,) = [n for n in result.graph.nodes.values() if n.op == "class_token"]
    rope = [n for n in result.graph.nodes.values() if n.op == "grid_rope_attention"]
    (emb,) = [layer for layer in model.layers if type(layer).__name__ == "DINOV3Embedding"]
    assert token.attrs.tokens == 1 + emb.num_register_tokens
    assert len(rope) == 2 and {(n.attrs.grid, n.attrs.prefix) for n in rope} == {((4, 4), token.attrs.tokens)}
    assert any("mask_token" in w for w in result.warnings)
