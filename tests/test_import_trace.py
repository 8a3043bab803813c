"""archspec import on composite layers, keyword tensor inputs and computed attention masks.

A subclassed layer no op reads (KerasHub's TransformerEncoder/Decoder, a user's block) is traced into its
sub-layers and keras.ops calls — the same layer objects, so the weights copy across and the round trip is
exact — or refused by name with the reason. Tensors passed as keyword arguments (`padding_mask=`,
`query=`) are graph edges; an attention mask computed from a padding mask is read as `padding_mask` /
`causal` by evaluating it. Tiny configurations, random weights (no presets: nothing is downloaded).
"""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

pytestmark = pytest.mark.keras


def _fixed(model, length: int):
    """`model` (a KerasHub text backbone, its sequence length open) on inputs of `length` tokens: the same
    layers, called on new inputs (what `archspec import --shape` does)."""
    import keras

    inputs = {k: keras.Input((length,), dtype=t.dtype, name=t.name) for k, t in model.input.items()}
    return keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda layer: layer)


def _kerashub_position_embedding_read() -> bool:
    """Whether archspec reads KerasHub's PositionEmbedding (the table alone), which BERT and GPT-2 use."""
    from archspec import ops

    return ops.of_keras_class("PositionEmbedding", "keras_hub.src.layers.modeling.position_embedding",
                              "keras_hub>PositionEmbedding") is not None


def _import(model):
    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    result = import_keras(model)
    rt = roundtrip(model, result.text, kg=result.graph)
    return result, rt


def _attention(text):
    import archspec

    spec = archspec.load_text(text, "t.yaml")
    return [(n.attrs.padding_mask, n.attrs.causal, len(n.inputs)) for n in spec.graph if n.op == "attention"]


def test_transformer_encoders_are_traced_into_their_own_layers():
    """Two KerasHub TransformerEncoders (post- and pre-norm) called with `padding_mask=`: each becomes its
    attention, dropout, add, layer norm and dense layers — the encoder's own objects — and the mask that
    KerasHub computes from the padding mask is the attention's padding_mask input."""
    keras_hub = pytest.importorskip("keras_hub")
    import keras

    x = inp = keras.Input((6, 8))
    pad = keras.Input((6,), dtype="int32")
    first = keras_hub.layers.TransformerEncoder(16, 2, name="enc1")
    second = keras_hub.layers.TransformerEncoder(16, 2, normalize_first=True, activation="gelu", name="enc2")
    model = keras.Model([inp, pad], second(first(x, padding_mask=pad), padding_mask=pad))
    result, rt = _import(model)
    assert rt.exact and rt.max_abs_diff <= 1e-5, rt.summary()
    assert rt.params_keras == rt.params_compiled == rt.params_spec == model.count_params()
    assert _attention(result.text) == [(True, False, 3), (True, False, 3)]
    layers = {id(n.layer) for n in result.graph.nodes.values() if n.layer is not None}
    assert id(first._self_attention_layer) in layers and id(second._feedforward_output_dense) in layers
    assert "enc1_self_attention_layer" in result.graph.nodes          # named after the layer it came from
    # the padding mask is read: it changes the masked sequence's output only
    import numpy as np

    rng = np.random.default_rng(0)
    xs = rng.normal(size=(2, 6, 8)).astype("float32")
    full = np.ones((2, 6), "int32")
    half = full.copy()
    half[0, 3:] = 0
    a, b = np.asarray(model([xs, full])), np.asarray(model([xs, half]))
    assert not np.allclose(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_transformer_decoders_read_causal_and_padding_masks():
    """KerasHub's TransformerDecoder builds a causal mask (for a fixed batch size, so it is traced with one
    and checked to compute the same for another) merged with the padding mask: the attention is causal
    with a padding_mask; with an encoder sequence, the cross-attention takes the encoder's padding mask."""
    keras_hub = pytest.importorskip("keras_hub")
    import keras

    x = keras.Input((6, 8))
    pad = keras.Input((6,), dtype="int32")
    enc = keras.Input((5, 8))
    enc_pad = keras.Input((5,), dtype="int32")
    y = keras_hub.layers.TransformerDecoder(16, 2, name="dec1")(x, decoder_padding_mask=pad)
    y = keras_hub.layers.TransformerDecoder(16, 2, normalize_first=True, name="dec2")(
        y, enc, decoder_padding_mask=pad, encoder_padding_mask=enc_pad)
    model = keras.Model([x, pad, enc, enc_pad], y)
    result, rt = _import(model)
    assert rt.exact and rt.max_abs_diff <= 1e-5, rt.summary()
    # self-attention [x, x, mask] causal; cross-attention [x, encoder, encoder mask]
    assert sorted(_attention(result.text)) == [(True, False, 3), (True, True, 3), (True, True, 3)]


def test_keyword_tensors_and_a_computed_mask_at_the_top_level():
    """MultiHeadAttention called with keywords only (`query=`, `value=`, `attention_mask=`) in a plain
    functional model: the keywords are its inputs in order, the mask (built from the padding mask by
    keras.ops) its padding_mask; a mask that is no padding or causal mask is refused, naming the keyword."""
    import keras
    from keras import ops

    from archspec.importer import UnsupportedModel, import_keras

    q, ctx = keras.Input((4, 8)), keras.Input((6, 8))
    pad = keras.Input((6,), dtype="int32")
    mha = keras.layers.MultiHeadAttention(2, 4, name="cross")
    mask = ops.cast(ops.expand_dims(pad, 1), "int32")
    model = keras.Model([q, ctx, pad], mha(query=q, value=ctx, attention_mask=mask))
    result, rt = _import(model)
    assert rt.exact, rt.summary()
    assert _attention(result.text) == [(True, False, 3)]

    pairs = keras.Input((4, 6), dtype="int32")                  # an arbitrary (query, key) mask
    odd = keras.Model([q, ctx, pairs], keras.layers.MultiHeadAttention(2, 4, name="odd")(q, ctx, attention_mask=pairs))
    with pytest.raises(UnsupportedModel) as info:
        import_keras(odd)
    assert any("'odd'" in p and "attention_mask" in p for p in info.value.problems), info.value.problems


def _layer_classes():
    import keras

    class Branchy(keras.layers.Layer):                # Python control flow on a tensor's value
        def __init__(self, **kw):
            super().__init__(**kw)
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(x) if keras.ops.sum(x) > 0 else x

        def compute_output_shape(self, shape):       # (so that Keras builds the model without calling it)
            return shape[:-1] + (4,)

    class OwnWeight(keras.layers.Layer):              # a weight of its own, used directly
        def build(self, shape):
            self.scale = self.add_weight(shape=(shape[-1],), name="scale")

        def call(self, x):
            return x * self.scale

    class MakesLayers(keras.layers.Layer):            # a new layer (fresh weights) at every call
        def call(self, x):
            return keras.layers.Dense(4, name="fresh")(x)

    return Branchy, OwnWeight, MakesLayers


@pytest.mark.parametrize("kind,why", [(0, "cannot run on symbolic tensors"), (1, "weights of its own"),
                                      (2, "makes the layer 'fresh'")])
def test_layers_that_cannot_be_traced_are_refused_by_name(kind, why):
    import keras

    from archspec.importer import UnsupportedModel, import_keras

    cls = _layer_classes()[kind]
    x = inp = keras.Input((3, 4))
    model = keras.Model(inp, cls(name="mine")(x))
    with pytest.raises(UnsupportedModel) as info:
        import_keras(model)
    (problem,) = info.value.problems
    assert problem.startswith("layer 'mine' (") and "tracing it into its parts fails" in problem and why in problem


def test_a_user_block_of_keras_layers_round_trips():
    """A user's own composite layer (dense, layer norm, a residual add by keras.ops) is traced, verified exact."""
    import keras

    class Block(keras.layers.Layer):
        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units = units
            self.up = keras.layers.Dense(units, activation="relu", name="up")
            self.down = keras.layers.Dense(8, name="down")
            self.norm = keras.layers.LayerNormalization(name="norm")

        def call(self, x):
            return self.norm(x + self.down(self.up(x)))

    x = inp = keras.Input((5, 8))
    for k in range(3):
        x = Block(16, name=f"block{k}")(x)
    model = keras.Model(inp, x)
    result, rt = _import(model)
    assert rt.exact and rt.max_abs_diff <= 1e-5, rt.summary()
    assert rt.layers == 1 + 3 * 4


def test_mistral_attention_is_read_as_rotary_grouped_attention():
    """KerasHub's CachedMistralAttention (grouped-query, rotary, no biases) is archspec's attention, read from
    its config; called as Mistral's decoder calls it (a padding and causal mask merged), exact. A sliding
    window shorter than the sequence is refused (archspec's causal attention sees every earlier token)."""
    keras_hub = pytest.importorskip("keras_hub")
    import keras
    from keras import ops

    from archspec.importer import UnsupportedModel, import_keras

    def model(window):
        backbone = keras_hub.models.MistralBackbone(vocabulary_size=40, num_layers=1, num_query_heads=4, hidden_dim=16,
                                                    intermediate_dim=24, num_key_value_heads=2, sliding_window=window)
        attention = backbone.transformer_layers[0]._self_attention_layer
        x, pad = keras.Input((6, 16)), keras.Input((6,), dtype="int32")
        mask = ops.minimum(ops.expand_dims(pad, 1), ops.cast(ops.tril(ops.ones((6, 6))), "int32"))
        return keras.Model([x, pad], attention(x, attention_mask=mask))

    result, rt = _import(model(8))
    assert rt.exact and rt.max_abs_diff <= 1e-5, rt.summary()
    assert "rotary: true" in result.text and "key_value_heads: 2" in result.text and "use_bias: false" in result.text
    with pytest.raises(UnsupportedModel) as info:
        import_keras(model(4))
    assert any("sliding window of 4 tokens" in p for p in info.value.problems), info.value.problems


@pytest.mark.parametrize("name", ["bert", "gpt2", "mistral"])
def test_kerashub_text_backbones_trace_their_transformer_layers(name):
    """BERT, GPT-2 and Mistral (tiny, random weights) on a fixed sequence length: their transformer layers are
    traced; what is refused is named and is never one of those layers as a whole. Where nothing is refused
    (once every layer inside has a mapping), the import is exact."""
    keras_hub = pytest.importorskip("keras_hub")
    from archspec.importer import UnsupportedModel

    M = keras_hub.models
    backbone = {
        "bert": lambda: M.BertBackbone(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
                                       intermediate_dim=16, max_sequence_length=12),
        "gpt2": lambda: M.GPT2Backbone(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
                                       intermediate_dim=16, max_sequence_length=12),
        "mistral": lambda: M.MistralBackbone(vocabulary_size=40, num_layers=2, num_query_heads=4, hidden_dim=16,
                                             intermediate_dim=24, num_key_value_heads=2, sliding_window=8),
    }[name]()
    model = _fixed(backbone, 6)
    try:
        result, rt = _import(model)
    except UnsupportedModel as exc:
        for p in exc.problems:
            head = p.split(":")[0]
            assert head.startswith("layer '") and "Transformer" not in head.split("(")[1].split(")")[0] \
                or "traced into its parts" in head, p
            assert "tracing it into its parts fails" not in p or "weights of its own" in p, p
        return
    assert rt.exact and rt.max_abs_diff <= 1e-5, rt.summary()


def test_one_block_per_composite_class_called_with_repeat(tmp_path, capsys):
    """Three TransformerEncoders of one class: one block `transformer_encoder` (its body under the encoder's
    own layer names, wired to `in` and the mask `in1`), called once with `repeat: 3` and the padding mask as
    a side input; a fourth with another intermediate size makes `units` a parameter. The spec checks clean."""
    keras_hub = pytest.importorskip("keras_hub")
    import keras
    import yaml

    from archspec.cli import main

    x = inp = keras.Input((6, 8), name="tokens")
    pad = keras.Input((6,), dtype="int32", name="padding_mask")
    for k in range(3):
        x = keras_hub.layers.TransformerEncoder(16, 2, name=f"encoder_{k}")(x, padding_mask=pad)
    x = keras_hub.layers.TransformerEncoder(24, 2, name="encoder_3")(x, padding_mask=pad)
    model = keras.Model([inp, pad], x)
    model.save(tmp_path / "enc.keras")
    out = tmp_path / "enc.yaml"
    assert main(["import", str(tmp_path / "enc.keras"), "-o", str(out)]) == 0
    assert "max |Δ| outputs 0," in capsys.readouterr().err
    spec = yaml.safe_load(out.read_text())
    (name, block), = spec["blocks"].items()
    assert name == "transformer_encoder" and block["params"] == {"units": "int"}
    body = [next(iter(e.values())) for e in block["body"]]
    assert body[0]["name"] == "self_attention_layer" and body[0]["from"] == ["in", "in", "in1"]
    assert {"name": "feedforward_intermediate_dense", "units": "$units", "activation": "relu"}.items() <= body[4].items()
    first, last = (e["transformer_encoder"] for e in spec["model"])
    assert first == {"units": 16, "repeat": 3, "name": "encoder", "from": ["tokens", "padding_mask"]}
    # (the repeat's copies are encoder_1 … encoder_3, as the expander names them: the fourth gets a suffix)
    assert last["units"] == 24 and last["from"] == ["encoder", "padding_mask"] and last["name"].startswith("encoder_3")
    assert main(["check", str(out)]) == 0


def test_gpt2_backbone_round_trips_exactly_through_the_cli(tmp_path, capsys):
    """A GPT2Backbone on a fixed length, saved as .keras: its TransformerDecoders are one block called with
    `repeat`; verified exact (outputs Δ 0, parameters equal) and `archspec check` is clean. Needs KerasHub's
    PositionEmbedding read (position_embedding add: false)."""
    keras_hub = pytest.importorskip("keras_hub")
    if not _kerashub_position_embedding_read():
        pytest.skip("archspec does not read KerasHub's PositionEmbedding yet (position_embedding add: false)")
    import yaml

    from archspec import load
    from archspec.cli import main

    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=60, num_layers=3, num_heads=2, hidden_dim=16,
                                             intermediate_dim=32, max_sequence_length=20)
    _fixed(backbone, 8).save(tmp_path / "gpt2.keras")
    out = tmp_path / "gpt2.yaml"
    assert main(["import", str(tmp_path / "gpt2.keras"), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "max |Δ| outputs 0," in err and f"params {backbone.count_params():,} (Keras) = " in err
    spec = yaml.safe_load(out.read_text())
    assert list(spec["blocks"]) == ["transformer_decoder"]
    calls = [e["transformer_decoder"] for e in spec["model"] if "transformer_decoder" in e]
    assert len(calls) == 1 and calls[0]["repeat"] == 3 and calls[0]["from"][1] == "padding_mask"
    assert load(out).analysis().total.params == backbone.count_params()
    assert main(["check", str(out)]) == 0


def test_the_docs_example_is_what_the_importer_writes():
    """docs/import.md's composite-layer example (five TransformerEncoders) is the importer's own output."""
    keras_hub = pytest.importorskip("keras_hub")
    import re
    from pathlib import Path

    import keras


    doc = (Path(__file__).resolve().parent.parent / "docs" / "import.md").read_text()
    section = doc[doc.index("### Composite layers"):]
    excerpt = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    x = inp = keras.Input((16, 64), name="tokens")
    pad = keras.Input((16,), dtype="int32", name="padding_mask")
    for k in range(4):
        x = keras_hub.layers.TransformerEncoder(256, 4, name=f"encoder_{k}")(x, padding_mask=pad)
    x = keras_hub.layers.TransformerEncoder(128, 4, name="last")(x, padding_mask=pad)
    result, rt = _import(keras.Model([inp, pad], x, name="encoders"))
    assert excerpt in result.text
    assert f"params {rt.params_keras:,} (Keras) = {rt.params_compiled:,}" in section and rt.max_abs_diff == 0


def test_a_repeated_block_call_as_a_model_output():
    """BERT's shape: the last of the repeated encoders is a model output (`outputs:` names its last copy) and
    feeds a head as well; the spec has the block and is exact."""
    keras_hub = pytest.importorskip("keras_hub")
    import keras

    x = inp = keras.Input((6, 8), name="tokens")
    pad = keras.Input((6,), dtype="int32", name="padding_mask")
    for k in range(2):
        x = keras_hub.layers.TransformerEncoder(16, 2, name=f"layer_{k}")(x, padding_mask=pad)
    model = keras.Model([inp, pad], {"sequence": x, "pooled": keras.layers.Dense(4, name="head")(x)})
    result, rt = _import(model)
    assert rt.exact and rt.max_abs_diff <= 1e-5, rt.summary()
    assert "blocks:\n  transformer_encoder:" in result.text and "repeat: 2" in result.text
    assert "  sequence: layer_2\n" in result.text            # the second copy of `layer` (repeat: 2)


def test_a_traced_part_whose_get_config_fails_is_refused_by_name():
    """A part of a traced layer that Keras cannot serialize and that cannot be traced either (GptOss's sparse
    MoE block in keras-hub 0.32) is a refusal naming the outer layer and the part — never an internal error."""
    import keras

    class Part(keras.layers.Layer):
        def __init__(self, fn, **kw):                # a non-serializable argument and no get_config
            super().__init__(**kw)
            self.fn = fn

        def build(self, shape):                      # and a weight of its own: it cannot be traced either
            self.w = self.add_weight(shape=(shape[-1], 4), name="w")

        def call(self, x):
            return keras.ops.matmul(x, self.w)

    class Outer(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.part = Part(lambda v: v, name="part")

        def call(self, x):
            return self.part(x) + 1.0

    from archspec.importer import UnsupportedModel, import_keras

    x = inp = keras.Input((3, 4))
    with pytest.raises(UnsupportedModel) as info:
        import_keras(keras.Model(inp, Outer(name="outer")(x)))
    assert all(p.startswith("layer 'outer' (") for p in info.value.problems), info.value.problems
    assert any("'part'" in p and "weights of its own" in p for p in info.value.problems), info.value.problems


def test_call_keywords_equal_to_the_calls_default_are_dropped():
    """KerasHub's TokenAndPositionEmbedding calls its PositionEmbedding with start_index=0, the default: the
    same call as without it (a tensor keyword, or another value, is kept and read or refused)."""
    import keras

    from archspec.importer.trace import without_defaults

    class Shifted(keras.layers.Layer):
        def call(self, x, start_index=0, scale=1.0, mask=None):
            return x

    layer = Shifted()
    tensor = {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "keras_history": ["x", 0, 0]}}
    assert without_defaults(layer, {"start_index": 0, "scale": 1.0}) == {}
    assert without_defaults(layer, {"start_index": 2, "scale": 1.0, "mask": tensor}) == {"start_index": 2, "mask": tensor}
    assert without_defaults(layer, {"start_index": False}) == {"start_index": False}      # not the same value


def test_a_composite_whose_own_get_config_fails_is_traced():
    """KerasHub's ViT MLP, DeiT's encoder and Llama's decoder (keras-hub 0.32) raise in their own get_config; a
    layer archspec traces needs no config of its own, so it is read through its parts."""
    import keras

    class Block(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.dense = keras.layers.Dense(4, name="dense")

        def call(self, x):
            return self.dense(x) + x

        def get_config(self):
            raise AttributeError("'Block' object has no attribute 'units'")

    x = inp = keras.Input((3, 4))
    result, rt = _import(keras.Model(inp, Block(name="block")(x)))
    assert rt.exact and "block_dense" in result.graph.nodes
