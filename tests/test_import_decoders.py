"""archspec import of KerasHub's Llama-family attention layers (Mistral, Llama, Phi-3, Qwen, Qwen3 and their
mixture-of-experts models' attention): each read as the `attention` op with what that class computes
beyond grouped-query rotary attention — Qwen's query/key/value biases without an output bias, Qwen3's RMS
norm on each query and key head, linear RoPE scaling — and proven by the round trip (weights copied,
outputs compared); rotary variants archspec does not compute are refused naming the layer. The whole
backbones are tools/keras_hub_zoo.py's (tests/test_import_zoo.py).
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.keras


def _model(layer, width=16, tokens=6):
    import keras

    x = keras.Input((tokens, width), name="x")
    return keras.Model(x, layer(x), name="m")


def _exact(model, name="attn"):
    """The imported attention's attributes, after checking that the spec computes what the model does."""
    from archspec.importer import import_keras
    from archspec.importer.verify import roundtrip

    result = import_keras(model)
    node = result.graph.nodes[name]
    assert node.op == "attention"
    rt = roundtrip(model, result.text, kg=result.graph)
    assert rt.params_keras == rt.params_compiled == rt.params_spec, rt.summary()
    assert rt.max_abs_diff <= 1e-5 and rt.exact, rt.summary()
    return node.attrs


def test_qwen_attention_has_query_key_value_biases_and_no_output_bias():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.qwen.qwen_attention import QwenAttention

    a = _exact(_model(QwenAttention(num_query_heads=4, num_key_value_heads=2, name="attn")))
    assert (a.heads, a.key_dim, a.key_value_heads, a.rotary) == (4, 4, 2, True)
    assert a.use_bias and a.key_bias and not a.output_bias


def test_qwen3_attention_normalizes_query_and_key_heads_with_the_epsilon_its_config_leaves_out():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.qwen3.qwen3_attention import Qwen3Attention

    layer = Qwen3Attention(num_query_heads=2, num_key_value_heads=1, head_dim=8, layer_norm_epsilon=1e-3,
                           name="attn")
    a = _exact(_model(layer, width=12))
    assert "layer_norm_epsilon" not in layer.get_config()        # read from the live layer
    assert (a.heads, a.key_dim, a.key_value_heads, a.qk_norm, a.qk_norm_epsilon) == (2, 8, 1, True, 1e-3)
    assert not a.use_bias


def test_llama_attention_whose_get_config_raises_is_read_from_its_arguments():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.llama.llama_attention import LlamaAttention

    layer = LlamaAttention(num_query_heads=4, num_key_value_heads=1, rope_max_wavelength=500, name="attn")
    model = _model(layer)
    with pytest.raises(AttributeError):
        layer.get_config()                                   # keras-hub 0.32: rope_scaling_factor never set
    a = _exact(model)
    assert (a.heads, a.key_value_heads, a.rotary_wavelength, a.use_bias) == (4, 1, 500.0, False)


def test_linear_rope_scaling_is_read_and_computed():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.mistral.mistral_attention import CachedMistralAttention

    a = _exact(_model(CachedMistralAttention(num_query_heads=2, num_key_value_heads=2, rope_scaling_factor=4.0,
                                             name="attn")))
    assert a.rotary_scaling == 4.0 and a.key_value_heads is None


def test_phi3_attention_imports_and_its_su_scaled_rope_is_refused_by_name():
    pytest.importorskip("keras_hub")
    from keras_hub.src.models.phi3.phi3_attention import Phi3Attention

    from archspec.importer import UnsupportedModel, import_keras

    _exact(_model(Phi3Attention(num_query_heads=2, num_key_value_heads=1, name="attn")))
    su = Phi3Attention(num_query_heads=2, num_key_value_heads=1, rope_scaling_type="su",
                       rope_scaling_short_factor=[1.0] * 4, rope_scaling_long_factor=[2.0] * 4, name="attn")
    with pytest.raises(UnsupportedModel, match=r"layer 'attn' .*rope_scaling_type='su'"):
        import_keras(_model(su))


def test_a_mixture_of_experts_decoder_is_refused_naming_its_experts_block(tmp_path):
    pytest.importorskip("keras_hub")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import keras_hub_zoo as zoo

    row = zoo.measure("MixtralBackbone", str(tmp_path))
    assert row["result"] == "refused", row
    assert "MixtralSparseMoeBlock" in row["reason"] and "mixture of experts" in row["reason"], row["reason"]
    assert not (tmp_path / "MixtralBackbone.yaml").exists()


def test_smollm3_with_biases_and_a_layer_without_rotary_imports_exactly(tmp_path, capsys):
    """SmolLM3: Dense projections (copied into the rebuilt EinsumDense kernels by shape: import_weights), its
    rotary frequencies a weight of its own (rotary_table), q/k/v biases (attention_bias) and a NoPE layer
    (rope_layer_enabled_list) — the saved backbone, imported by the command a user runs."""
    pytest.importorskip("keras_hub")
    import sys
    from pathlib import Path

    import yaml

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import keras_hub_zoo as zoo

    from archspec.cli import main

    config = dict(zoo.CONFIGS["SmolLM3Backbone"], attention_bias=True, rope_layer_enabled_list=[True, False])
    model = zoo.build("SmolLM3Backbone", config)
    model.save(tmp_path / "smol.keras")
    code = main(["import", str(tmp_path / "smol.keras"), "-o", str(tmp_path / "smol.yaml"),
                 "--shape", "token_ids=[12]", "--shape", "padding_mask=[12]"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"params {model.count_params():,} (Keras) = {model.count_params():,} (compiled spec)" in err, err
    spec = yaml.safe_load((tmp_path / "smol.yaml").read_text())

    def attentions(v):
        if isinstance(v, dict):
            if "attention" in v:
                yield v["attention"]
            for x in v.values():
                yield from attentions(x)
        elif isinstance(v, list):
            for x in v:
                yield from attentions(x)

    found = list(attentions(spec))
    assert len(found) == 2, found
    assert all(a["rotary_table"] and a.get("output_bias") is False and a.get("use_bias", True) for a in found)
    assert sorted(bool(a.get("rotary")) for a in found) == [False, True], found
