"""Sequence specs without Keras: token-id inputs sized by params, what report and draw show for a
12-layer transformer, the sequence lints. Their parity with KerasHub is tests/test_sequence_models.py."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, SPECS

import archspec
from archspec.render.dot import layout_items
from archspec.render.tables import render_report


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "archspec", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("name,params", [("bert_base.yaml", 109_482_240), ("gpt2_small.yaml", 124_439_808),
                                         ("llama.yaml", 1_100_048_384)])
def test_sequence_specs_check_with_their_sizes(name, params):
    """The issue's totals (KerasHub's counts; TinyLlama-1.1B's for the Llama defaults); the parity tests
    show KerasHub gives the same."""
    spec = archspec.load(SPECS / name)
    assert spec.analysis().total.params == params
    assert not spec.warnings


def test_the_sequence_length_is_a_parameter():
    spec = archspec.load(SPECS / "gpt2_small.yaml", overrides={"length": 64})
    assert [spec.graph[i].shape for i in spec.graph.inputs] == [(64,), (64,)]
    assert [spec.graph[i].attrs.dtype for i in spec.graph.inputs] == ["int32", "int32"]
    short = spec.analysis().total.macs
    longer = archspec.load(SPECS / "gpt2_small.yaml", overrides={"length": 128}).analysis().total.macs
    assert 2 * short < longer                    # attention's scores grow with the square of the length
    r = _cli("check", SPECS / "gpt2_small.yaml", "--set", "length=2048")
    assert r.returncode == 1 and "[sequence-too-long]" in r.stdout + r.stderr
    assert "raise `length` to at least 2048" in r.stdout + r.stderr


def test_report_folds_the_repeated_layers():
    spec = archspec.load(SPECS / "gpt2_small.yaml", overrides={"length": 32})
    text = render_report(spec, depth=2)
    assert "decoder_layer_1 … 12" in text and "[decoder_layer ×12]" in text
    assert "decoder_layer_2 " not in text
    data = json.loads(render_report(spec, fmt="json", depth=2))      # data stays one row per call
    assert sum(r["name"].startswith("decoder/decoder_layer_") for r in data["rows"]) == 12
    full = render_report(spec, depth=None)
    assert "attention · 12 heads · 64 · causal" in full


def test_draw_folds_layers_that_share_the_padding_mask():
    spec = archspec.load(SPECS / "gpt2_small.yaml", overrides={"length": 32})
    _, items = layout_items(spec.graph, 2)
    runs = [it for it in items.values() if len(it.scopes) > 1]
    assert len(runs) == 1 and len(runs[0].scopes) == 12
    assert len(layout_items(spec.graph, 2, fold=False)[1]) == len(items) + 11


def test_llama_sizes_follow_the_constructor_arguments():
    base = archspec.load(SPECS / "llama.yaml", overrides={"length": 16}).analysis().total.params
    tied = archspec.load(SPECS / "llama.yaml", overrides={"length": 16, "tie_word_embeddings": True})
    assert base - tied.analysis().total.params == 32000 * 2048
    mqa = archspec.load(SPECS / "llama.yaml", overrides={"length": 16, "num_key_value_heads": 1})
    assert base - mqa.analysis().total.params == 22 * 2 * 2048 * 64 * 3     # K and V: 4 heads → 1


def test_cross_attention_after_an_encoder_is_no_causal_leak(load):
    spec = load("""
archspec: 1
name: t
inputs: {src: [6, 8], tgt: [5, 8]}
model:
  - attention: {heads: 2, key_dim: 4, from: src, name: enc}
  - attention: {heads: 2, key_dim: 4, causal: true, from: tgt, name: self1}
  - attention: {heads: 2, key_dim: 4, from: [self1, enc], name: cross}
  - attention: {heads: 2, key_dim: 4, causal: true, name: self2}
""")
    assert not spec.warnings
