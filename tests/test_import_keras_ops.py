"""archspec import on the graph features KerasHub's backbones need beyond plain layers (issue #23, part 4).

`keras.ops` calls in a functional graph (mean over height and width, reshape and transpose that keep the
batch axis, matmul, activations, fft2, zeros_like), casts that change nothing, stateless composite layers
called twice, weightless layers made while a composite layer is called, a composite returning a dict,
nested models whose unused outputs are left out, an Activation holding a Python lambda, and KerasHub's
own RMS norms — each read as archspec's op and proven by the round trip, or refused by name with the
reason. Tiny hand-built models (a few hundred milliseconds each); the KerasHub classes these features
unlocked run through tools/keras_hub_zoo.py at the end.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

pytestmark = pytest.mark.keras
ROOT = Path(__file__).resolve().parent.parent


def _exact(model):
    """The import of `model` and its graph, after checking the round trip is exact."""
    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    result = import_keras(model)
    rt = roundtrip(model, result.text, kg=result.graph)
    assert rt.exact, (rt.summary(), result.text)
    return result


def _ops(result) -> list[str]:
    return [n.op for n in result.graph.nodes.values()]


def _refused(model, *words):
    from archspec.importer import UnsupportedModel, import_keras

    with pytest.raises(UnsupportedModel) as exc:
        import_keras(model)
    text = str(exc.value)
    for w in words:
        assert w in text, text
    return text


def test_mean_over_height_and_width_is_a_global_average_pool():
    """MobileNet's squeeze-excite: keras.ops.mean(x, axis=[1, 2], keepdims=True); a mean over the channels
    is something else and is refused."""
    import keras

    inp = keras.Input((6, 6, 4))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    s = keras.ops.mean(x, axis=[1, 2], keepdims=True)
    s = keras.layers.Conv2D(4, 1, activation="sigmoid", name="gate")(s)
    x = keras.layers.Multiply(name="scale")([x, s])
    flat = keras.ops.mean(x, axis=[-3, -2])
    result = _exact(keras.Model(inp, flat))
    pools = [n.attrs.keepdims for n in result.graph.nodes.values() if n.op == "global_avg_pool"]
    assert pools == [True, False]

    _refused(keras.Model(inp, keras.ops.mean(x, axis=-1, keepdims=True)), "keras.ops.mean")


def test_a_cast_to_the_dtype_a_tensor_has_is_no_layer():
    """FNet and DeepLabV3 cast a layer's output to the dtype it already has: left out of the graph (also as
    the model's output); a cast to another dtype is not dropped."""
    import keras

    inp = keras.Input((5,))
    x = keras.ops.cast(inp, "float32")
    x = keras.layers.Dense(3, name="d")(x)
    out = keras.ops.cast(x, "float32")
    result = _exact(keras.Model(inp, out))
    assert _ops(result) == ["input", "dense"]
    assert result.graph.nodes["d"].inputs == result.graph.inputs

    _refused(keras.Model(inp, keras.layers.Dense(2, name="d2")(keras.ops.cast(keras.ops.cast(inp, "int32"), "float32"))),
             "keras.ops.cast")


def test_keras_identity_layers_are_no_layers_even_when_their_config_cannot_be_read():
    """HGNetV2 stands a keras.layers.Identity, made with arguments Keras cannot serialize, for a layer it
    leaves out: it computes its input, whatever its config."""
    import keras

    inp = keras.Input((5,))
    x = keras.layers.Dense(3, name="d")(inp)
    x = keras.layers.Identity(name="plain_identity")(x)
    odd = keras.layers.Identity(name="odd_identity", dtype=keras.dtype_policies.DTypePolicy("float32"))
    with pytest.raises(NotImplementedError):                                # (as HGNetV2's: Keras cannot say)
        odd.get_config()
    x = odd(x)
    result = _exact(keras.Model(inp, keras.layers.Dense(2, name="out")(x)))
    assert _ops(result) == ["input", "dense", "dense"]


def test_attention_written_in_keras_ops_is_reshape_permute_matmul_softmax():
    """MiT's attention: heads split with keras.ops.reshape (batch axis None) and transpose (batch first),
    q @ kᵀ, a constant scale, softmax over the last axis, @ v, heads joined again."""
    import keras

    inp = keras.Input((6, 8))
    q = keras.layers.Dense(8, name="q")(inp)
    k = keras.layers.Dense(8, name="k")(inp)
    v = keras.layers.Dense(8, name="v")(inp)

    def heads(t):
        return keras.ops.transpose(keras.ops.reshape(t, (-1, 6, 2, 4)), [0, 2, 1, 3])

    q, k, v = heads(q), heads(k), heads(v)
    scores = keras.ops.softmax((q @ keras.ops.transpose(k, [0, 1, 3, 2])) * 0.5, axis=-1)
    out = keras.ops.reshape(keras.ops.transpose(scores @ v, [0, 2, 1, 3]), (-1, 6, 8))
    result = _exact(keras.Model(inp, out))
    ops = _ops(result)
    assert ops.count("matmul") == 2 and ops.count("permute") == 5 and ops.count("reshape") == 4
    assert [n.attrs.activation for n in result.graph.nodes.values() if n.op == "activation"] == ["softmax"]
    assert [tuple(n.attrs.target_shape) for n in result.graph.nodes.values() if n.op == "reshape"][-1] == (6, 8)


def test_keras_ops_pad_with_zeros_is_zero_padding():
    """Whisper pads its audio features with keras.ops.pad(x, [[0, 0], [1, 1], [0, 0]]); an image the same way;
    padding the channels, or with another value, is none of archspec's."""
    import keras

    seq = keras.Input((6, 4))
    result = _exact(keras.Model(seq, keras.layers.Conv1D(4, 3, strides=2, name="c")(keras.ops.pad(seq, [[0, 0], [1, 2], [0, 0]]))))
    assert [n.attrs.padding for n in result.graph.nodes.values() if n.op == "zero_padding_1d"] == [(1, 2)]
    img = keras.Input((5, 5, 2))
    result = _exact(keras.Model(img, keras.ops.pad(img, [[0, 0], [0, 1], [2, 0], [0, 0]])))
    assert [n.attrs.padding for n in result.graph.nodes.values() if n.op == "zero_padding"] == [((0, 1), (2, 0))]

    _refused(keras.Model(seq, keras.ops.pad(seq, [[0, 0], [0, 0], [1, 1]])), "keras.ops.pad")
    _refused(keras.Model(seq, keras.ops.pad(seq, [[0, 0], [1, 1], [0, 0]], constant_values=1.0)), "constant_values")


def test_reshapes_and_transposes_that_move_the_batch_axis_are_refused():
    import keras

    inp = keras.Input((6, 8))
    _refused(keras.Model(inp, keras.ops.reshape(inp, (-1, 8))), "keras.ops.reshape")     # batch · 6 rows
    _refused(keras.Model(inp, keras.ops.transpose(inp, [1, 0, 2])), "keras.ops.transpose")
    _refused(keras.Model(inp, keras.ops.softmax(inp, axis=1)), "keras.ops.softmax")       # not the last axis
    unknown = keras.ops.reshape(inp, (None, -1, 8))               # Keras: (None, None, 8), its rows unknown
    assert tuple(unknown.shape) == (None, None, 8)
    folded = keras.layers.Dense(2, name="after")(keras.ops.reshape(unknown, (-1, 8)))
    _refused(keras.Model(inp, folded), "archspec's reshape cannot take (6, 8)")


def test_a_stateless_composite_layer_called_twice_is_traced_per_call():
    """MiT's DropPath (no weights) is called on the attention and the MLP branch: each call its own parts."""
    import keras

    class Gate(keras.layers.Layer):                   # a user's composite layer without weights
        def call(self, x):
            return keras.ops.relu(x) * 0.5

    inp = keras.Input((4,))
    gate = Gate(name="gate")
    a = gate(keras.layers.Dense(4, name="a")(inp))
    b = gate(keras.layers.Dense(4, name="b")(a))
    result = _exact(keras.Model(inp, keras.layers.Add(name="sum")([a, b])))
    assert _ops(result).count("rescaling") == 2 and _ops(result).count("activation") == 2


def test_a_composite_with_weights_called_twice_is_refused_for_its_shared_weights():
    """ALBERT calls one TransformerEncoder for several layers: the spec language cannot share a block's weights."""
    import keras

    class Block(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = keras.layers.Dense(4)

        def call(self, x):
            return keras.ops.relu(self.d(x))

    inp = keras.Input((4,))
    block = Block(name="shared_block")
    _refused(keras.Model(inp, block(block(inp))), "'shared_block'", "called 2 times with the same weights",
             "no way to share a block's weights")


def test_a_weightless_layer_made_while_called_and_a_dict_output_are_traced():
    """DeepLabV3's pyramid pooling makes a Resizing while it is called; RetinaNet's FPN returns a dict."""
    import keras

    class Pyramid(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.lateral = keras.layers.Conv2D(4, 1, name="lateral")
            self.pool = keras.layers.AveragePooling2D(2, name="pool")

        def call(self, x):
            small = self.pool(self.lateral(x))
            big = keras.layers.Resizing(8, 8, interpolation="bilinear", name="resizing")(small)
            return {"P3": big, "P4": small}

    inp = keras.Input((8, 8, 3))
    out = Pyramid(name="fpn")(inp)
    result = _exact(keras.Model(inp, [out["P3"], out["P4"]]))
    assert {"conv2d", "avg_pool", "resize"} <= set(_ops(result))

    class MakesWeights(keras.layers.Layer):
        def call(self, x):
            return keras.layers.Dense(3, name="made")(x)

    _refused(keras.Model(inp, MakesWeights(name="maker")(inp)), "'maker'", "makes the layer 'made'")


def test_a_nested_models_unused_outputs_are_left_out_with_their_weights():
    """DeepLabV3 calls a feature model with four outputs and uses two: the rest is no part of the spec, its
    parameters are out of the count and named in a warning."""
    import keras

    from archspec.importer import import_keras

    inp = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    b = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c2")(a)
    unused = keras.layers.Conv2D(16, 3, name="c3")(b)
    features = keras.Model(inp, [a, b, unused], name="features")
    x = keras.Input((8, 8, 3))
    fa, fb, _ = features(x)
    out = keras.layers.Concatenate(name="cat")([keras.layers.UpSampling2D(name="up")(fb), fa])
    model = keras.Model(x, out)
    result = _exact(model)
    assert "c3" not in result.graph.nodes
    c3 = 3 * 3 * 4 * 16 + 16
    assert f"{model.count_params() - c3:,} parameters" in result.text
    warnings = import_keras(model).warnings
    assert any(f"{c3:,} parameters" in w and "c3/kernel" in w for w in warnings), warnings


def test_an_activation_holding_a_lambda_is_recognized_by_what_it_computes():
    """MobileNetV5's Activation(lambda x: gelu(x, approximate=False)) is `activation: gelu`; a lambda that
    is no named activation is refused."""
    import keras

    inp = keras.Input((5,))
    x = keras.layers.Activation(lambda t: keras.activations.gelu(t, approximate=False), name="act")(inp)
    result = _exact(keras.Model(inp, x))
    assert result.graph.nodes["act"].attrs.activation == "gelu"

    y = keras.layers.Activation(lambda t: t * t * t, name="cube")(inp)
    _refused(keras.Model(inp, y), "'cube'", "lambda")


def test_kerashub_rms_norms_are_rms_norm_where_they_compute_it():
    """RoformerNorm and MobileNetV5's RmsNorm2d compute x · rsqrt(mean(x²) + ε) · scale; EdRec's and
    Qwen3.5's scale by (1 + scale): rms_norm with unit_offset — each proven by the round trip, its weight
    randomized. RmsNorm2d over channels first is refused."""
    pytest.importorskip("keras_hub")
    import keras
    from keras_hub.src.models.edrec.edrec_layers import EdRecRMSNormalization
    from keras_hub.src.models.mobilenetv5.mobilenetv5_layers import RmsNorm2d
    from keras_hub.src.models.qwen3_5.qwen3_5_layers import Qwen3_5LayerNorm
    from keras_hub.src.models.roformer_v2.roformer_v2_attention import RoformerNorm

    seq = keras.Input((5, 8))
    result = _exact(keras.Model(seq, RoformerNorm(epsilon=1e-5, name="norm")(keras.layers.Dense(8, name="d")(seq))))
    norm = result.graph.nodes["norm"]
    assert norm.op == "rms_norm" and norm.attrs.epsilon == 1e-5 and not norm.attrs.unit_offset

    img = keras.Input((4, 4, 6))
    result = _exact(keras.Model(img, RmsNorm2d(6, eps=1e-4, name="norm2d")(keras.layers.Conv2D(6, 1, name="c")(img))))
    assert result.graph.nodes["norm2d"].op == "rms_norm" and result.graph.nodes["norm2d"].attrs.epsilon == 1e-4
    cf = RmsNorm2d(4, data_format="channels_first", name="cf")
    _refused(keras.Model(img, cf(keras.layers.Conv2D(4, 1, name="c4")(img))), "'cf'", "channels_first")

    for cls in (EdRecRMSNormalization, Qwen3_5LayerNorm):
        result = _exact(keras.Model(seq, cls(epsilon=1e-5, name="offset_norm")(keras.layers.Dense(8, name="d2")(seq))))
        norm = result.graph.nodes["offset_norm"]
        assert norm.op == "rms_norm" and norm.attrs.unit_offset and norm.attrs.epsilon == 1e-5, cls


def test_fnet_fourier_mixing_is_fft2_real_of_the_input_and_zeros():
    """FNet: the real part of keras.ops.fft2((x, zeros_like(x))); the imaginary part is not read."""
    import keras

    inp = keras.Input((6, 8))
    x = keras.layers.Dense(8, name="d")(inp)
    real, imag = keras.ops.fft2((x, keras.ops.zeros_like(x)))
    result = _exact(keras.Model(inp, keras.layers.LayerNormalization(name="ln")(real + x)))
    assert {"fft2_real", "zeros_like"} <= set(_ops(result))

    _refused(keras.Model(inp, keras.layers.Dense(2, name="after")(imag)), "output 1")


# ---- the KerasHub classes these features unlocked ---------------------------------------------------
UNLOCKED = ["MobileNetBackbone", "FNetBackbone", "MiTBackbone", "MobileNetV5Backbone", "HGNetV2Backbone",
            pytest.param("SegFormerBackbone", marks=pytest.mark.slow),
            pytest.param("MistralBackbone", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", UNLOCKED)
def test_the_backbones_these_features_unlocked_import_exactly(name, tmp_path):
    """Each refused before (tests/golden/keras_hub_zoo.json): exact now, as `archspec import` runs it."""
    pytest.importorskip("keras_hub")
    sys.path.insert(0, str(ROOT / "tools"))
    import keras_hub_zoo as zoo

    row = zoo.measure(name, str(tmp_path))
    assert row["result"] == "exact", (row.get("reason"), row.get("stderr"))
    assert (tmp_path / f"{name}.yaml").exists()


@pytest.mark.slow
def test_albert_imports_without_shared_layers_and_is_refused_with_them():
    """ALBERT with one encoder per layer (num_groups = num_layers) round-trips exactly; with its encoder
    shared by its layers (the default, num_groups=1) it is refused: a spec cannot share a block's weights."""
    pytest.importorskip("keras_hub")
    sys.path.insert(0, str(ROOT / "tools"))
    import keras_hub_zoo as zoo

    from archspec.importer import fix_input_shapes

    def albert(**over):
        model = zoo.build("AlbertBackbone", dict(zoo.CONFIGS["AlbertBackbone"], **over))
        return fix_input_shapes(model, zoo.open_inputs(model))

    result = _exact(albert(num_groups=2, num_inner_repetitions=1))
    assert _ops(result).count("attention") == 2
    _refused(albert(), "group_0_inner_layer_0", "called 2 times with the same weights", "no way to share a block's weights")
