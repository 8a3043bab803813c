"""Attention and token ops beyond the registry's examples (tests/test_ops.py): wiring of query/key/value,
the cost figures docs/conventions.md quotes, errors a user meets, and the custom Keras layers against
independent references (keras.applications' own LayerScale, Keras's MultiHeadAttention called by hand)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import archspec
from archspec import ops

DOCS = Path(__file__).resolve().parent.parent / "docs"

CROSS = """
archspec: 1
name: cross
inputs: {text: [7, 12], image: [4, 4, 8]}
model:
  - reshape: {target_shape: [-1, 8], from: image, name: patches}
  - dense: {units: 12, per_position: true, name: context}
  - layer_norm: {from: text, name: ln}
  - attention: {heads: 3, key_dim: 4, name: self_attn}
  - attention: {heads: 2, key_dim: 5, value_dim: 3, from: [self_attn, context], name: cross_attn}
  - attention: {heads: 2, key_dim: 5, from: [cross_attn, context, patches], output_dim: 6, name: qkv_attn}
  - global_avg_pool_1d: {}
  - dense: {units: 2}
"""


def test_query_key_value_wiring_and_shapes():
    spec = archspec.load_text(CROSS)
    g = spec.graph
    assert g["self_attn"].shape == (7, 12)
    assert g["cross_attn"].shape == (7, 12) and g["cross_attn"].inputs == ("self_attn", "context")
    assert g["qkv_attn"].shape == (7, 6)
    a = spec.analysis()
    # cross attention: Q from 12 features, K and V from the 12-feature context of 16 tokens
    h, kd, vd = 2, 5, 3
    assert a.nodes["cross_attn"].params == (12 * h * kd + h * kd) * 2 + 12 * h * vd + h * vd + h * vd * 12 + 12
    assert a.nodes["cross_attn"].macs == (7 * 12 * h * kd + 16 * 12 * h * kd + 16 * 12 * h * vd + 7 * h * vd * 12
                                          + h * 7 * 16 * (kd + vd))


@pytest.mark.parametrize("text, code, words", [
    ("  - attention: {heads: 2, key_dim: 4}\n", "shape-rank", "token sequences"),
    ("  - reshape: [-1, 3]\n  - attention: {heads: 2, key_dim: 4, from: [reshape, other, reshape]}\n",
     "shape-mismatch", "each key needs a value"),
    ("  - reshape: [-1, 3]\n  - select_token: 99\n", "shape-mismatch", "out of range"),
    ("  - dropout: {rate: 0.1, noise_shape: [null, 1, 1]}\n", "shape-rank", "has 3 axes"),
    ("  - dropout: {rate: 0.1, noise_shape: [null, 1, 1, 2]}\n", "shape-mismatch", "does not broadcast"),
    ("  - normalization: {mean: [1, 2], variance: [1, 1]}\n", "shape-mismatch", "2 mean values for 3 features"),
    ("  - normalization: {mean: [1, 2, 3]}\n", None, "both mean and variance"),
    ("  - permute: [2, 1]\n", "shape-rank", "is not an order of the input's 3 axes"),
    ("  - reshape: [-1, 3]\n  - attention: {heads: 2, key_dim: 4, merged: true, from: [reshape, other, other]}\n",
     "arity", "takes x and a context"),
    ("  - reshape: [-1, 4]\n  - attention: {heads: 2, key_dim: 4, merged: true, from: [reshape, other]}\n",
     "shape-mismatch", "with the same weights; x has 4 features, the context 3"),
    ("  - reshape: [-1, 3]\n  - attention: {heads: 2, key_dim: 4, padding_mask: true, prefix_lm: true, "
     "from: [reshape, other, other]}\n", "shape-mismatch", "no longer than x's 16 tokens"),
    ("  - reshape: [-1, 3]\n  - position_embedding: {length: 17, start: 2}\n", "sequence-too-long",
     "16 tokens is longer than the position table's 15 rows from row 2"),
    ("  - reshape: [-1, 3]\n  - position_embedding: {start: 1}\n", None, "set `length` too"),
    ("  - padding_mask: 1\n", "shape-rank", "padding_mask reads integer token ids"),
])
def test_mistakes_are_located_errors(text, code, words):
    src = "archspec: 1\nname: t\ninputs: {x: [4, 4, 3], other: [5, 3]}\nmodel:\n" + text
    with pytest.raises(archspec.SpecError) as exc:
        archspec.load_text(src)
    d = exc.value.diagnostics[0]
    assert words in d.message, d.message
    assert code is None or d.code == code
    assert d.loc.line >= 5


def test_conventions_doc_quotes_archspec_figures():
    """docs/conventions.md's ViT-B/16 attention figures are what archspec computes."""
    op = ops.REGISTRY["attention"]
    a = op.Attrs(heads=12, key_dim=64)
    total = op.macs(a, [(197, 768)], (197, 768))
    scores = 12 * 197 * 197 * (64 + 64)
    text = (DOCS / "conventions.md").read_text()
    assert f"{total:,} MACs per attention layer" in text
    assert f"are {scores:,} ({100 * scores / total:.1f} %)" in text
    assert f"{op.params(a, [(197, 768)], (197, 768))[0]:,}" in text


def test_labels_are_readable():
    spec = archspec.load_text(CROSS)
    labels = {n.id: ops.REGISTRY[n.op].label(n.attrs) for n in spec.graph if n.op != "input"}
    assert labels["self_attn"] == "attention · 3 heads · 4"
    assert labels["cross_attn"] == "attention · 2 heads · 5/3"
    assert re.search(r"drop path 0\.2", ops.REGISTRY["dropout"].label(
        ops.REGISTRY["dropout"].Attrs(rate=0.2, noise_shape=[None, 1, 1, 1])))


# ---- keras ---------------------------------------------------------------------------------------
@pytest.mark.keras
@pytest.mark.parametrize("attrs, call, words", [
    ({"merged": True, "padding_mask_on": "queries"}, {}, "mask keys"),
    ({"prefix_lm": True, "alibi": True}, {}, "own causal part"),
    ({"merged": True, "alibi": True}, {}, "no ALiBi"),
    ({"prefix_lm": True}, {"use_causal_mask": True}, "without use_causal_mask"),
    ({"merged": True}, {"key": "x"}, "no separate key"),
])
def test_archspecs_keras_layer_refuses_what_the_spec_refuses(attrs, call, words):
    """GroupedAttention refuses the attribute combinations the spec's attention refuses, both when it is
    made and when it is called on symbolic tensors (a functional graph never runs `call`) — the
    differential test's random networks found Keras building what `check` refuses."""
    import keras

    from archspec.ops.keras_layers import GroupedAttention

    x = keras.Input((5, 8))
    with pytest.raises(ValueError, match=words):
        layer = GroupedAttention(num_heads=2, key_dim=4, **attrs)
        layer(x, x, **{k: (x if v == "x" else v) for k, v in call.items()})


@pytest.mark.keras
def test_cross_attention_equals_keras_called_by_hand():
    """The compiled spec equals keras.layers.MultiHeadAttention applied as `mha(query, value, key=key)`."""
    import keras
    import numpy as np

    spec = archspec.load_text(CROSS)
    model = spec.to_keras()
    assert model.count_params() == spec.analysis().total.params
    text, image = keras.Input((7, 12)), keras.Input((4, 4, 8))
    patches = keras.layers.Reshape((-1, 8))(image)
    context = keras.layers.Dense(12)(patches)
    x = keras.layers.LayerNormalization()(text)
    x = keras.layers.MultiHeadAttention(3, 4)(x, x)
    x = keras.layers.MultiHeadAttention(2, 5, value_dim=3)(x, context)
    x = keras.layers.MultiHeadAttention(2, 5, output_shape=6)(x, context, key=patches)
    x = keras.layers.GlobalAveragePooling1D()(x)
    ref = keras.Model([text, image], keras.layers.Dense(2)(x))
    ours = [lay for lay in model.layers if lay.weights]
    theirs = [lay for lay in ref.layers if lay.weights]
    assert [type(lay).__name__ for lay in ours] == [type(lay).__name__ for lay in theirs]
    for a, b in zip(ours, theirs):
        b.set_weights(a.get_weights())
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, 7, 12)).astype("float32"), rng.normal(size=(2, 4, 4, 8)).astype("float32")]
    assert np.max(np.abs(np.asarray(model(xs)) - np.asarray(ref(xs)))) < 1e-5


@pytest.mark.keras
def test_layer_scale_equals_keras_applications_convnext():
    import numpy as np
    from keras.src.applications.convnext import LayerScale as KerasLayerScale

    from archspec.ops.keras_layers import LayerScale

    x = np.random.default_rng(1).normal(size=(2, 3, 3, 5)).astype("float32")
    ours, theirs = LayerScale(0.25), KerasLayerScale(0.25, 5)
    assert np.array_equal(np.asarray(ours(x)), np.asarray(theirs(x)))
    assert {k: v for k, v in ours.get_config().items() if k in ("init_values", "projection_dim")} == \
        {k: v for k, v in theirs.get_config().items() if k in ("init_values", "projection_dim")}


@pytest.mark.keras
def test_token_layers_compute_what_they_say():
    import keras
    import numpy as np

    from archspec.ops.keras_layers import ClassToken, LayerScale, PositionEmbedding, SelectToken

    x = np.random.default_rng(2).normal(size=(2, 5, 4)).astype("float32")
    ct = ClassToken(tokens=2)
    y = np.asarray(ct(x))
    ct.token.assign(np.arange(8, dtype="float32").reshape(1, 2, 4))
    y = np.asarray(ct(x))
    assert y.shape == (2, 7, 4)
    assert np.array_equal(y[:, 2:], x) and np.array_equal(y[1, :2], np.arange(8).reshape(2, 4))
    pe = PositionEmbedding()
    out = np.asarray(pe(x))
    assert np.allclose(out - x, np.asarray(pe.embedding)[None], atol=1e-6)
    assert 0 < float(np.std(np.asarray(pe.embedding))) < 0.1          # normal(0, 0.02) initial values
    assert np.array_equal(np.asarray(SelectToken(index=3)(x)), x[:, 3])
    rows = PositionEmbedding(length=8, add=False, start=2)                # KerasHub's start_index: rows 2 … 6
    assert np.array_equal(np.asarray(rows(x))[1], np.asarray(rows.embedding)[2:7])
    for layer in (ct, pe, rows, SelectToken(index=1), LayerScale(0.5, 4)):
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(again) is type(layer) and again.get_config() == layer.get_config()


@pytest.mark.keras
def test_a_hand_written_keras_transformer_imports_and_round_trips():
    """Standard Keras layers only (MultiHeadAttention called as mha(y, y), LayerNormalization, Dense with
    GELU, GlobalAveragePooling1D) and `x[:, 0]` (a keras.ops GetItem): `archspec import` reads every one
    and the compiled spec gives the same outputs."""
    import keras
    from keras import layers

    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    keras.backend.clear_session()
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(16, 2, strides=2)(inp)
    x = layers.Reshape((-1, 16))(x)
    y = layers.LayerNormalization(epsilon=1e-6)(x)
    x = layers.Add()([x, layers.MultiHeadAttention(2, 8)(y, y)])
    y = layers.LayerNormalization(epsilon=1e-6)(x)
    x = layers.Add()([x, layers.Dense(16)(layers.Dense(32, activation="gelu")(y))])
    x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), x[:, 0]])
    model = keras.Model(inp, layers.Dense(3)(x))
    result = import_keras(model)
    for op in ("attention: {heads: 2, key_dim: 8", "global_avg_pool_1d", "select_token", "activation: gelu"):
        assert op in result.text, result.text
    report = roundtrip(model, result.text, kg=result.graph)
    assert report.params_keras == report.params_compiled == report.params_spec, report.summary()
    assert report.max_abs_diff <= 1e-5 and report.exact, report.summary()


def test_spec_language_transformer_example_checks():
    """docs/spec-language.md's Transformers example is a valid model body with the shapes its comments say."""
    text = (DOCS / "spec-language.md").read_text()
    block = text.split("## Transformers", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = archspec.load_text("archspec: 1\nname: doc\ninputs: {image: [224, 224, 3]}\nmodel:\n" + block)
    shapes = [n.shape for n in spec.graph]
    assert (196, 768) in shapes and (197, 768) in shapes and shapes[-1] == (768,)
    last = list(spec.graph)[-2]                                  # ViT's final LayerNorm before the class token
    assert last.op == "layer_norm" and spec.analysis().nodes[last.id].params == 2 * 768
    assert any(ops.REGISTRY[n.op].label(n.attrs) == "attention · 12 heads · 64" for n in spec.graph if n.op != "input")


def test_drawing_names_the_attention_inputs():
    """Each edge into a cross-attention says what it feeds: q, kv, or v and k."""
    from archspec.render.dot import to_dot

    spec = archspec.load_text(CROSS)
    text = to_dot(spec.graph, spec.analysis())
    assert '"self_attn" -> "cross_attn" [label="q: 7×12"]' in text
    assert re.search(r'"context" -> "cross_attn" \[[^]]*label="kv"', text)
    assert re.search(r'"context" -> "qkv_attn" \[[^]]*label="v"', text)
    assert re.search(r'"patches" -> "qkv_attn" \[[^]]*label="k"', text)
    assert '"ln" -> "self_attn" [label="7×12"]' in text            # self-attention: one input, no roles


JAX_VALUE_DIM = r"""
import numpy as np, keras
from archspec.ops import REGISTRY
assert keras.backend.backend() == "jax"
op = REGISTRY["attention"]
for kd, vd, out_dim in [(8, 4, None), (4, 8, 12)]:
    a = op.Attrs(heads=2, key_dim=kd, value_dim=vd, output_dim=out_dim)
    q, v = keras.Input((5, 6)), keras.Input((7, 10))
    m = keras.Model([q, v], op.build_keras(a, "att")(q, v))
    xq, xv = np.random.rand(2, 5, 6).astype("float32"), np.random.rand(2, 7, 10).astype("float32")
    got = np.asarray(m([xq, xv]))
    ref = keras.layers.MultiHeadAttention(num_heads=2, key_dim=kd, value_dim=vd, output_shape=out_dim)
    ref(xq, xv, return_attention_scores=True)              # Keras's explicit path: builds on JAX
    ref.set_weights(m.get_weights())
    want = np.asarray(ref(xq, xv, return_attention_scores=True)[0])
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-5, (kd, vd, np.abs(got - want).max())
    assert m.count_params() == sum(op.params(a, [(5, 6), (7, 10)], op.infer(a, [(5, 6), (7, 10)])))
    m.compile(optimizer="sgd", loss="mse")
    m.fit([xq, xv], got, epochs=1, verbose=0)                # and trains
    try:                                                     # the Keras behaviour this works around
        keras.layers.MultiHeadAttention(num_heads=2, key_dim=kd, value_dim=vd)(xq, xv)
    except Exception:
        pass
    else:
        print("KERAS-FIXED")
a = op.Attrs(heads=2, key_dim=8, value_dim=4, key_bias=False)      # archspec's own subclass: patched alike
q = keras.Input((5, 6))
m = keras.Model(q, op.call_keras(op.build_keras(a, "att"), [q]))
assert np.asarray(m(np.random.rand(2, 5, 6).astype("float32"))).shape == (2, 5, 6)
print("OK")
"""


@pytest.mark.keras
def test_value_dim_differs_from_key_dim_on_jax(jax_child):
    """Keras 3.15's MultiHeadAttention with value_dim != key_dim builds on JAX but fails on its first call
    (its fused path requires value heads as wide as key heads); archspec's layer takes Keras's explicit
    path there, the same function and weights. If Keras fixes it, KERAS-FIXED says the patch can go."""
    r = jax_child.run(JAX_VALUE_DIM)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]
    assert "KERAS-FIXED" not in r.stdout, "Keras now builds it: remove ops/attention.py's _explicit_attention"
