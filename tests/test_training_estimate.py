"""Training estimates from the spec alone (archspec/passes/training.py, devices.py, report/diff/draw
--train/--device): the conventions hold layer by layer, the CLI shows them, nothing imports a framework;
and, in the keras group, the peak memory agrees with JAX's own analysis of the compiled training step."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import imported_by

import archspec
from archspec.cli import main
from archspec.devices import DEVICES, cpu_device, get_device
from archspec.ops import REGISTRY
from archspec.passes.training import ACT_BYTES, estimate_training

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture(scope="module")
def resnet():
    return archspec.load(SPECS / "resnet50.yaml")


def test_backward_flops_follow_the_convention(resnet):
    g = resnet.graph
    est = resnet.training_estimate(4)
    needs_input_grad = 0
    for n in g:
        if n.op == "input":
            continue
        op = REGISTRY[n.op]
        ins = [g[i].shape for i in n.inputs]
        macs, flops = op.macs(n.attrs, ins, n.shape), op.flops(n.attrs, ins, n.shape)
        c = est.nodes[n.id]
        assert c.fwd_flops == 4 * flops
        elementwise = flops - 2 * macs
        # the stem conv reads the (padded) image: no input gradient, so its MACs run once backward
        factor = 1 if n.id == "conv1/conv2d" else 2
        needs_input_grad += factor == 2 and macs > 0
        assert c.bwd_flops == 4 * (factor * 2 * macs + elementwise), n.id
    assert needs_input_grad > 50
    assert est.total.fwd_flops == 4 * resnet.analysis().total.flops


def test_memory_totals_are_consistent(resnet):
    t = resnet.analysis().total
    est = resnet.training_estimate(8, "adam")
    assert est.weights_bytes == 4 * t.params
    assert est.grads_bytes == 4 * t.trainable
    assert est.optimizer_bytes == 2 * 4 * t.trainable
    assert est.batch_bytes == 8 * (224 * 224 * 3 * 4 + 4)
    persistent = est.weights_bytes + est.optimizer_bytes + est.batch_bytes
    # at the end of the forward pass every kept activation is alive at once
    assert est.peak_bytes >= persistent + est.kept_bytes
    # and the walk never holds more than every activation twice (value and gradient) plus the gradients
    every = sum(c.elements for c in resnet.analysis().nodes.values()) * 8 * 4
    assert est.peak_bytes <= persistent + est.grads_bytes + 3 * every
    assert sum(c.kept_bytes for c in est.nodes.values()) == est.kept_bytes


def test_optimizers_and_precisions(resnet):
    adam = resnet.training_estimate(16, "adam")
    sgd = resnet.training_estimate(16, "sgd")
    assert sgd.optimizer_bytes == 0 and adam.optimizer_bytes == 2 * adam.grads_bytes
    assert adam.peak_bytes - sgd.peak_bytes == adam.optimizer_bytes
    # on a GPU the kernels run in bfloat16: a CNN keeps every activation in half the bytes
    gpu32, gpu16 = (resnet.training_estimate(16, "adam", p, "h100") for p in ("float32", "mixed_bfloat16"))
    assert gpu16.kept_bytes * ACT_BYTES["float32"] == gpu32.kept_bytes * ACT_BYTES["mixed_bfloat16"]
    # XLA:CPU runs them in float32 and keeps their operands so (Op.mixed_float32): more than half, less than all
    bf16 = resnet.training_estimate(16, "adam", "mixed_bfloat16")
    assert adam.kept_bytes / 2 < bf16.kept_bytes < adam.kept_bytes
    assert bf16.weights_bytes == adam.weights_bytes          # variables stay float32 under mixed precision
    assert bf16.total.flops == adam.total.flops
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        resnet.training_estimate(16, "adamm")
    with pytest.raises(ValueError, match="no bfloat16"):
        resnet.training_estimate(16, "adam", "mixed_bfloat16", "t4")


def test_memory_grows_linearly_with_batch(resnet):
    a, b = resnet.training_estimate(8), resnet.training_estimate(16)
    fixed = a.weights_bytes + a.optimizer_bytes
    assert b.kept_bytes == 2 * a.kept_bytes
    # activations (and the batch) double; the weight gradients alive at the peak do not
    assert 1.8 < (b.peak_bytes - fixed) / (a.peak_bytes - fixed) <= 2


def test_roofline_on_a_device(resnet):
    h100 = get_device("h100").bare()                # the plain roofline (the calibrated one: below)
    est = resnet.training_estimate(256, device=h100)
    for nid, c in est.nodes.items():
        if c.flops or c.bytes_moved:
            assert c.time_s == pytest.approx(max(c.flops / h100.fp32, c.bytes_moved / h100.bandwidth))
            assert c.bound == ("compute" if c.flops / h100.fp32 >= c.bytes_moved / h100.bandwidth else "memory")
    assert est.step_time_s == pytest.approx(sum(c.time_s for c in est.nodes.values()) + est.optimizer_time_s)
    assert est.images_per_s == pytest.approx(256 / est.step_time_s)
    assert est.fits is True
    # ten times the batch does not fit in 80 GB
    assert resnet.training_estimate(2560, device=h100).fits is False
    bf16 = resnet.training_estimate(256, "adam", "mixed_bfloat16", h100)
    assert bf16.step_time_s < est.step_time_s


def test_a_batch_that_does_not_fit_gets_the_largest_that_does(resnet, capsys):
    """The suggestion is the estimate's own boundary: that batch fits, one more does not (and bfloat16
    activations, half the bytes, fit more); a batch that fits gets no suggestion."""
    h100 = get_device("h100")
    est = resnet.training_estimate(4096, device=h100)
    b, b16 = est.largest_batch, est.largest_batch_bf16
    assert est.fits is False and 0 < b < b16 < 4096
    assert resnet.training_estimate(b, device=h100).fits and not resnet.training_estimate(b + 1, device=h100).fits
    assert resnet.training_estimate(b16, "adam", "mixed_bfloat16", h100).fits
    assert not resnet.training_estimate(b16 + 1, "adam", "mixed_bfloat16", h100).fits
    assert resnet.training_estimate(b, device=h100).largest_batch is None
    assert main(["report", str(SPECS / "resnet50.yaml"), "--train", "--batch", "4096", "--device", "h100"]) == 0
    out = capsys.readouterr().out
    assert f"the largest batch that fits on h100 is {b:,} ({b16:,} with --precision mixed_bfloat16)" in out
    # a device with no bfloat16 (a T4) suggests only the precision asked for; nothing fits in 1 MB
    t4 = resnet.training_estimate(4096, device="t4")
    assert t4.largest_batch_bf16 is None and 0 < t4.largest_batch < b
    from archspec.passes.training import largest_batch
    assert largest_batch(resnet.graph, 1e6) == 0


def test_every_activation_says_what_its_gradient_keeps():
    """A new activation name must state what XLA keeps for it (docs/training-estimates.md), not fall
    back silently to a guess."""
    from archspec.ops.base import ACTIVATION_RESIDUALS, ACTIVATIONS, CHEAP_ACTIVATIONS

    assert set(ACTIVATIONS) - {"linear"} == set(ACTIVATION_RESIDUALS)
    assert {"relu", "relu6", "leaky_relu"} <= CHEAP_ACTIVATIONS and "swish" not in CHEAP_ACTIVATIONS


DEPTHWISE = """
archspec: 1
name: dw
inputs: {x: [16, 16, 8]}
model:
  - conv2d: {filters: 64, kernel: 1}
  - depthwise_conv2d: {kernel: 5, padding: same, use_bias: false}
  - batch_norm: {}
  - activation: relu
  - global_avg_pool: {}
  - dense: {units: 10}
"""


def test_mixed_precision_keeps_what_each_op_states_in_float32():
    """Under mixed_bfloat16 (docs/training-estimates.md, "Mixed precision"): on XLA:CPU a convolution keeps its
    float32 operand and batch norm its float32 input, while batch norm's output, cast back to bfloat16, is stored
    for relu rather than recomputed; on a GPU the same network keeps everything in 16 bits and recomputes batch
    norm, except attention's exp(scores − max), which JAX computes in float32 there too."""
    spec = archspec.load_text("""archspec: 1
name: mixed
inputs: {x: [8, 8, 4]}
defaults: {conv2d: {use_bias: false}}
model:
  - conv2d: {filters: 4, kernel: 3, padding: same}
  - conv2d: {filters: 4, kernel: 3, padding: same}
  - batch_norm: {}
  - activation: relu
  - conv2d: {filters: 4, kernel: 3, padding: same}
  - reshape: {target_shape: [-1, 4]}
  - attention: {heads: 2, key_dim: 4}
  - select_token: 0
  - dense: {units: 3}
""")
    elems = 2 * 8 * 8 * 4                               # one 8×8×4 map at batch 2
    cpu = spec.training_estimate(2, "adam", "mixed_bfloat16").nodes
    assert [cpu[n].kept_bytes for n in ("conv2d", "conv2d_2", "batch_norm", "activation")] == \
        [4 * elems, 4 * elems, 2 * elems, 4 * elems]
    f32, bf16 = (spec.training_estimate(2, "adam", p, "h100").nodes for p in ("float32", "mixed_bfloat16"))
    assert [bf16[n].kept_bytes for n in ("conv2d", "conv2d_2", "batch_norm", "activation")] == \
        [2 * elems, 2 * elems, 0, 2 * elems]
    scores = 2 * 2 * 64 * 64                            # batch × heads × T²
    assert bf16["attention"].kept_bytes == f32["attention"].kept_bytes // 2 + 2 * scores
    # the footer and JSON say how much of what is kept is float32
    assert spec.training_estimate(2, "adam", "mixed_bfloat16", "h100").kept_float32_bytes == 4 * scores
    assert spec.training_estimate(2, "adam", "float32").kept_float32_bytes == 0


def test_a_grouped_convolution_holds_a_dense_filter_gradient_on_the_cpu():
    """XLA:CPU computes a depthwise/grouped filter gradient as a dense one: two (k, k, C, C) buffers while
    that backward step runs, whatever the batch; and its multiply-accumulates run as a dense kernel."""
    spec = archspec.load_text(DEPTHWISE)
    g = spec.graph
    dw = next(n for n in g if n.op == "depthwise_conv2d")
    op, ins = REGISTRY[dw.op], [g[i].shape for i in dw.inputs]
    assert op.backward_scratch(dw.attrs, ins, dw.shape, "cpu") == (0, 2 * 25 * 64 * 64)
    assert op.backward_scratch(dw.attrs, ins, dw.shape, "gpu") == (0, 0)
    conv = next(n for n in g if n.op == "conv2d")
    assert REGISTRY["conv2d"].backward_scratch(conv.attrs, [g[i].shape for i in conv.inputs], conv.shape, "cpu") == (0, 0)
    grouped = archspec.load_text(DEPTHWISE.replace("depthwise_conv2d: {kernel: 5,",
                                                   "conv2d: {filters: 64, groups: 64, kernel: 5,")).graph
    gc = next(n for n in grouped if n.op == "conv2d" and n.attrs.groups > 1)
    assert REGISTRY["conv2d"].backward_scratch(gc.attrs, [(16, 16, 64)], gc.shape, "cpu") == (0, 2 * 25 * 64 * 64)
    # the estimate's peak carries it on the CPU only, at that backward step, and not per example: at a
    # small batch it sets the peak, at a large one the activations do
    cpu, gpu = spec.training_estimate(2), estimate_training(spec.graph, 2, platform="gpu")
    assert (cpu.peak_phase, cpu.peak_at) == ("backward", dw.id) and cpu.peak_bytes > gpu.peak_bytes
    big = spec.training_estimate(64)
    assert big.peak_bytes == estimate_training(spec.graph, 64, platform="gpu").peak_bytes
    # the work XLA:CPU does: the filter gradient densely (C× the counted one) as a matmul kernel
    work = op.executed_flops(dw.attrs, ins, dw.shape, "cpu")
    counted = op.flops(dw.attrs, ins, dw.shape) + op.backward_flops(dw.attrs, ins, dw.shape)
    positions = 16 * 16
    dense = 2 * positions * 25 * 64 * 64 * (25 + 20) // 25       # a 5×5 window: (1 + 20/25) of it in time
    assert work == {"depthwise": counted - 2 * positions * 25 * 64 + dense}
    assert op.executed_flops(dw.attrs, ins, dw.shape, "gpu") == {"depthwise": counted}


def test_attention_keeps_score_sized_residuals():
    """Through Keras's dot_product_attention JAX saves exp(scores) and the probabilities; XLA:CPU one more
    (the scores' fusion); the explicit path (dropout) keeps the probabilities and the dropped ones."""
    op = REGISTRY["attention"]
    t, h = 10, 2
    fused = op.Attrs(heads=h, key_dim=4)
    dropped = op.Attrs(heads=h, key_dim=4, dropout=0.1)
    projections = 4 * t * h * 4
    assert op.backward_keeps(fused, [(t, 8)], (t, 8)) == (True, False, projections + 2 * h * t * t)
    assert op.backward_keeps(dropped, [(t, 8)], (t, 8)) == (True, False, projections + 2 * h * t * t)
    assert op.workspace(fused, [(t, 8)], (t, 8), "cpu") == h * t * t
    assert op.workspace(fused, [(t, 8)], (t, 8), "gpu") == 0


def test_the_explicit_attention_path_keeps_repeated_heads_random_bits_and_masked_scores():
    """Through the explicit path (grouped heads, dropout) XLA:CPU keeps K and V repeated to the query heads
    (both backends: the einsums' residuals), and on the CPU besides the max-subtracted scores: with dropout
    the two uint32 tensors of random bits its keep mask is drawn from, without dropout and with a mask
    softmax's masked input (buffer assignment of GPT-2's, BERT's and Llama's blocks)."""
    op = REGISTRY["attention"]
    t, h, kd = 10, 8, 4
    ins, out = [(t, 32), (t,)], (t, 32)
    gqa = op.Attrs(heads=h, key_value_heads=2, key_dim=kd, padding_mask=True, causal=True)
    assert op.backward_keeps(gqa, ins, out) == (True, False, 4 * t * h * kd + h * t * t)
    assert op.workspace(gqa, ins, out, "cpu") == 2 * h * t * t
    assert op.workspace(gqa, ins, out, "gpu") == 0
    unmasked = op.Attrs(heads=h, key_value_heads=2, key_dim=kd)
    assert op.workspace(unmasked, [(t, 32)], out, "cpu") == h * t * t
    dropped = op.Attrs(heads=h, key_dim=kd, dropout=0.1, padding_mask=True, causal=True)
    assert op.workspace(dropped, ins, out, "cpu") == 3 * h * t * t
    assert op.workspace(dropped, ins, out, "gpu") == 0
    fused = op.Attrs(heads=h, key_dim=kd, causal=True)
    assert op.workspace(fused, [(t, 32)], out, "cpu") == h * t * t


def test_attention_scale_broadcast_is_one_buffer_per_model_on_the_cpu():
    """Through dot_product_attention XLA:CPU materializes the scores' scale broadcast once, read by every layer's
    backward and kept from the first layer on (Op.shared_workspace) — when two or more layers read it; one
    layer fuses it. Nothing on a GPU or on the explicit path."""
    op = REGISTRY["attention"]
    t, h = 10, 2
    fused, dropped = op.Attrs(heads=h, key_dim=4), op.Attrs(heads=h, key_dim=4, dropout=0.1)
    key, n = op.shared_workspace(fused, [(t, 8)], (t, 8), "cpu")
    assert n == h * t * t and key == op.shared_workspace(fused, [(t, 8)], (t, 8), "cpu")[0]
    assert op.shared_workspace(fused, [(t, 8)], (t, 8), "gpu") == (None, 0)
    assert op.shared_workspace(dropped, [(t, 8)], (t, 8), "cpu") == (None, 0)

    def first_attention_keeps(layers, platform="cpu"):
        body = "\n".join(f"  - attention: {{heads: {h}, key_dim: 4, name: a{k}}}" for k in range(layers))
        spec = archspec.load_text(f"archspec: 1\nname: s\ninputs: {{x: [{t}, 8]}}\nmodel:\n{body}\n")
        return estimate_training(spec.graph, 3, platform=platform).nodes["a0"].kept_bytes

    scores, read_by_the_next = h * t * t * 3 * 4, t * 8 * 3 * 4
    assert first_attention_keeps(2) == first_attention_keeps(1) + scores + read_by_the_next == first_attention_keeps(3)
    assert first_attention_keeps(2, "gpu") == first_attention_keeps(1, "gpu") + read_by_the_next


def test_gelus_tanh_form_keeps_one_residual_on_the_cpu():
    """GPT-2's and BERT's gelu_approximate keeps its tanh beside the pre-activation on XLA:CPU (one residual;
    exact gelu two), and under a mixed policy three bfloat16 ones, counted as that one in float32."""
    dense = REGISTRY["dense"]
    out = (16, 64)
    for act, residuals in (("gelu_approximate", 1), ("gelu", 2)):
        a = dense.Attrs(units=64, activation=act)
        assert dense.backward_keeps(a, [(16, 8)], out) == (True, False, 16 * 64), act
        assert dense.workspace(a, [(16, 8)], out, "cpu") == residuals * 16 * 64, act
    approx = dense.Attrs(units=64, activation="gelu_approximate")
    assert dense.mixed_float32(approx, [(16, 8)], out, "cpu", 2 * 16 * 64).inside == 16 * 64
    assert dense.mixed_float32(dense.Attrs(units=64, activation="gelu"), [(16, 8)], out, "cpu", 3 * 16 * 64).inside == 0


def test_the_loss_holds_output_sized_temporaries_on_the_cpu(monkeypatch):
    """Keras's sparse cross-entropy holds 7 float32 tensors of each output's size from the end of the forward
    pass through the output layer's backward step on XLA:CPU (GPT-2's, BERT's, Llama's steps): a sequence
    model's (T, hidden) output weighs, a classifier's hardly; not counted on a GPU (not traced)."""
    from archspec.passes import training

    spec = archspec.load_text("archspec: 1\nname: s\ninputs: {x: [64, 32]}\nmodel:\n  - dense: {units: 48}\n")
    with_loss = {p: estimate_training(spec.graph, 4, platform=p) for p in ("cpu", "gpu")}
    monkeypatch.setattr(training, "LOSS_TEMPORARIES", 0)
    without = {p: estimate_training(spec.graph, 4, platform=p) for p in ("cpu", "gpu")}
    assert with_loss["cpu"].peak_bytes - without["cpu"].peak_bytes == 7 * 64 * 48 * 4 * 4
    assert with_loss["gpu"].peak_bytes == without["gpu"].peak_bytes


def test_normalizations_keep_broadcast_residuals_on_the_cpu():
    """Besides input and output, XLA:CPU keeps layer norm's inverse deviation and gamma broadcast to the input's
    shape (2), RMS norm's normalized input (1) — and from 4,096 normalized rows in the batch two more of each
    (layer norm's centred and normalized input, RMS norm's broadcasts); float32 under a mixed policy. Nothing
    more on a GPU."""
    shape = (64, 16)                # 64 rows per example: 4,096 rows from batch 64
    for name, residuals in (("layer_norm", 2), ("rms_norm", 1)):
        op = REGISTRY[name]
        a = op.Attrs()
        assert op.backward_keeps(a, [shape], shape) == (True, False, 0)
        assert op.workspace(a, [shape], shape, "cpu") == residuals * 1024, name
        assert op.workspace(a, [shape], shape, "gpu") == 0, name
        assert op.batch_workspace(a, [shape], shape, "cpu", 63) == 0, name
        assert op.batch_workspace(a, [shape], shape, "cpu", 64) == 2 * 1024, name
        assert op.batch_workspace(a, [shape], shape, "gpu", 64) == 0, name
        wide = op.mixed_float32(a, [shape], shape, "cpu", (residuals + 2) * 1024)
        assert wide.inside == (residuals + 2) * 1024, name
    spec = archspec.load_text("archspec: 1\nname: s\ninputs: {x: [64, 16]}\nmodel:\n  - dense: {units: 16}\n"
                              "  - layer_norm: {}\n  - dense: {units: 16}\n")
    kept = {b: spec.training_estimate(b).nodes["layer_norm"].kept_bytes / (b * 1024 * 4) for b in (63, 64)}
    assert kept == {63: 3, 64: 5}                   # its output (the dense layer's input) and the residuals


DENSE_LAYERS = """
archspec: 1
name: dense_layers
inputs: {x: [8, 8, 16]}
blocks:
  layer:
    body:
      - branches:
          merge: concat
          paths:
            - []
            - - batch_norm: {}
              - activation: relu
              - conv2d: {filters: 8, kernel: 3, padding: same, use_bias: false}
model:
  - conv2d: {filters: 16, kernel: 1}
  - layer: {repeat: 3}
  - batch_norm: {}
  - activation: relu
  - global_avg_pool: {}
  - dense: {units: 4}
"""


def test_a_concatenation_fuses_into_the_batch_norm_that_reads_it_on_a_gpu():
    """XLA:GPU fuses a DenseNet's growing concatenation into the batch norm that reads it (forward and backward):
    the batch norm's backward keeps the pieces, never the concatenation, as a convolution's does; XLA:CPU stores
    the concatenation for it (Op.fused_into_readers; docs/training-estimates.md, "On a GPU")."""
    assert REGISTRY["concat"].fused_into_readers("gpu") and not REGISTRY["concat"].fused_into_readers("cpu")
    assert not REGISTRY["flatten"].fused_into_readers("gpu") and not REGISTRY["batch_norm"].fused_into_readers("gpu")
    spec = archspec.load_text(DENSE_LAYERS)
    concats = [n.id for n in spec.graph if n.op == "concat"]
    assert len(concats) == 3
    for precision in ("float32", "mixed_bfloat16"):
        cpu = estimate_training(spec.graph, 4, precision=precision, platform="cpu")
        gpu = estimate_training(spec.graph, 4, precision=precision, platform="gpu")
        assert all(cpu.nodes[c].kept_bytes > 0 for c in concats), precision
        assert all(gpu.nodes[c].kept_bytes == 0 for c in concats), precision
        # the pieces (the stem conv's output and each layer's 8 new channels) are kept once each
        pieces = [n.id for n in spec.graph if n.op == "conv2d"]
        e = ACT_BYTES[precision]
        assert [gpu.nodes[c].kept_bytes for c in pieces] == [4 * 8 * 8 * 16 * e] + [4 * 8 * 8 * 8 * e] * 3
        assert gpu.kept_bytes < cpu.kept_bytes


def test_gelu_keeps_one_float32_residual_on_a_gpu():
    """Deviceless XLA:GPU (H200 target) keeps one residual of gelu's size beyond its input: float32 in a float32
    step, two bfloat16 ones (the same bytes, counted as one float32) under mixed_bfloat16 — as an Activation
    layer or fused into a dense layer; swish and relu keep none there (docs/training-estimates.md, GPU table)."""
    from archspec.ops.base import ACTIVATION_RESIDUALS, GPU_ACTIVATION_RESIDUALS

    assert set(GPU_ACTIVATION_RESIDUALS) <= set(ACTIVATION_RESIDUALS)
    act, dense = REGISTRY["activation"], REGISTRY["dense"]
    shape = (10, 64)
    for op, a in ((act, act.Attrs(activation="gelu")), (dense, dense.Attrs(units=64, activation="gelu"))):
        assert op.workspace(a, [(10, 16)], shape, "gpu") == 640
        assert op.mixed_float32(a, [(10, 16)], shape, "gpu", 640 * 2).inside == 640
        assert op.workspace(a, [(10, 16)], shape, "cpu") == 2 * 640            # XLA:CPU: its two erf terms
    for name in ("swish", "relu", "sigmoid", "softmax"):
        a = act.Attrs(activation=name)
        assert act.workspace(a, [shape], shape, "gpu") == 0, name
        assert act.mixed_float32(a, [shape], shape, "gpu", 0).inside == 0, name
    spec = archspec.load_text("""archspec: 1
name: mlp
inputs: {x: [16, 8]}
model:
  - dense: {units: 32, activation: gelu}
  - dense: {units: 8}
""")
    f32, bf16 = (estimate_training(spec.graph, 2, precision=p, platform="gpu") for p in ("float32", "mixed_bfloat16"))
    # the dense layer keeps its pre-activation and gelu's residual inside, and its output for the next one's
    # weight gradient: 3 float32 tensors of 16 × 32, or two bfloat16 ones and a float32 one
    assert f32.nodes["dense"].kept_bytes == 2 * 16 * 32 * (4 + 4 + 4)
    assert bf16.nodes["dense"].kept_bytes == 2 * 16 * 32 * (2 + 2 + 4)


def test_max_pooling_holds_its_padded_input_gradient_on_a_gpu():
    """XLA:GPU's select-and-scatter writes the gradient of a max pool's padded input into a zero-filled buffer: one
    tensor of the padded input's size while that backward step runs (Op.backward_scratch); XLA:CPU keeps four of
    the input's size from the forward pass (Op.workspace) instead."""
    op = REGISTRY["max_pool"]
    same = op.Attrs(pool_size=3, strides=1, padding="same")
    assert op.backward_scratch(same, [(32, 32, 16)], (32, 32, 16), "gpu") == (34 * 34 * 16, 0)
    assert op.backward_scratch(same, [(32, 32, 16)], (32, 32, 16), "cpu") == (0, 0)
    assert op.workspace(same, [(32, 32, 16)], (32, 32, 16), "cpu") == 4 * 32 * 32 * 16
    assert op.workspace(same, [(32, 32, 16)], (32, 32, 16), "gpu") == 0
    stem = op.Attrs(pool_size=3, strides=2)                     # ResNet-50's, after zero padding: valid
    assert op.backward_scratch(stem, [(114, 114, 64)], (56, 56, 64), "gpu") == (114 * 114 * 64, 0)
    avg = REGISTRY["avg_pool"]
    assert avg.backward_scratch(avg.Attrs(), [(8, 8, 4)], (4, 4, 4), "gpu") == (0, 0)


def test_a_token_embedding_gradient_lives_through_the_backward_pass_on_the_cpu():
    text = """
archspec: 1
name: emb
inputs: {ids: {shape: [2048], dtype: int32}}
model:
  - token_embedding: {vocabulary: 5000, dim: 32}
  - dense: {units: 512, activation: relu}
  - global_avg_pool_1d: {}
  - dense: {units: 4}
"""
    spec = archspec.load_text(text)
    table = 5000 * 32 * 4
    cpu, gpu = spec.training_estimate(2), estimate_training(spec.graph, 2, platform="gpu")
    # on the GPU the table's gradient appears at the embedding's backward step, the last one, after the peak
    assert cpu.peak_at == gpu.peak_at == "dense" and cpu.peak_bytes - gpu.peak_bytes == table


def test_device_efficiencies_scale_the_roofline(resnet):
    """A device's efficiencies divide its peaks per kernel family and its layer overhead adds per layer;
    bare() is the plain roofline."""
    from dataclasses import replace

    h100 = get_device("h100").bare()
    slow = replace(h100, efficiency={"matmul": 0.5, "memory": 0.25, "depthwise": 0.1}, layer_overhead_s=1e-5)
    assert slow.bare() == h100
    a, b = resnet.training_estimate(32, device=h100), resnet.training_estimate(32, device=slow)
    g = resnet.graph
    for n in g:
        op, c = REGISTRY[n.op], a.nodes[n.id]
        if op.source:
            continue
        ins = [g[i].shape for i in n.inputs]
        family = op.kernel_family(n.attrs, ins, n.shape)
        compute = c.flops / h100.fp32 / {"matmul": 0.5, "depthwise": 0.1}.get(family, 1.0)
        want = max(compute, c.bytes_moved / h100.bandwidth / 0.25) + (0 if op.view else 1e-5)
        assert b.nodes[n.id].time_s == pytest.approx(want), n.id


def test_the_gpu_efficiencies_are_the_fit_of_the_measured_steps():
    """devices.py's GPU efficiencies are what bench/gpu_calibration.py fits to the measured GPU steps (an H200's,
    and NVIDIA's published ResNet-50 ones): a change to the model's bytes or FLOPs that moves the fit fails
    here (rerun the bench; update devices.py and docs/training-estimates.md). And through `report --device`'s
    own code path every measured step is within 1.5× of its estimate (the bare roofline: up to 3.7×)."""
    import importlib.util

    from archspec.devices import GPU_EFFICIENCY, GPU_LAYER_OVERHEAD_S, GPU_SCALE

    loader = importlib.util.spec_from_file_location("gpu_calibration", ROOT / "bench" / "gpu_calibration.py")
    cal = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(cal)
    eff, overhead, factors, _ = cal.calibrate()
    assert eff == GPU_EFFICIENCY and overhead == GPU_LAYER_OVERHEAD_S
    for dev, factor in factors.items():
        assert round(factor, 2) == GPU_SCALE[dev][0], dev
    for dev, spec, batch, precision, measured, _ in cal.MEASURED:
        est = archspec.load(SPECS / f"{spec}.yaml").training_estimate(batch, precision=precision, device=dev)
        assert 1 / 1.5 <= measured / est.step_time_s <= 1.5, (dev, spec, measured, est.step_time_s)


def test_devices_table_and_names():
    for d in DEVICES.values():
        assert d.source and d.memory_bytes > 1e9 and d.bandwidth > 1e11 and d.fp32 > 1e12
    with pytest.raises(ValueError, match="did you mean 'h100'"):
        get_device("h10")


def test_cpu_is_measured_once_and_cached(tmp_path, monkeypatch):
    import archspec.devices as devices

    calls = []
    monkeypatch.setattr(devices, "measure_cpu", lambda: calls.append(1) or (2e10, 1e10))
    a = cpu_device(tmp_path)
    b = cpu_device(tmp_path)
    assert calls == [1] and a == b and a.fp32 == 2e10 and a.bandwidth == 1e10
    assert json.loads((tmp_path / "cpu-device.json").read_text())["fp32"] == 2e10


def test_report_train_cli(capsys):
    assert main(["report", str(SPECS / "resnet50.yaml"), "--train", "--batch", "256", "--device", "h100"]) == 0
    out = capsys.readouterr().out
    est = archspec.load(SPECS / "resnet50.yaml").training_estimate(256, device="h100")
    assert "training batch 256, float32" in out
    assert "fwd FLOPs" in out and "bwd FLOPs" in out and "kept" in out and "bound" in out
    assert f"≈ {est.images_per_s:,.0f} images/s; batch 256 fits in memory" in out
    assert "peak training memory ≈" in out
    assert main(["report", str(SPECS / "resnet50.yaml"), "--device", "a100", "--batch", "64", "--format", "json",
                 "--depth", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    t = data["summary"]["training"]
    assert t["device"] == "a100" and t["batch_size"] == 64 and t["fits"] is True
    assert t["images_per_s"] == pytest.approx(64 / t["step_time_s"])
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["conv2"]["train_bwd_flops"] > rows["conv2"]["train_fwd_flops"] > 0
    assert rows["conv2"]["time_s"] > 0


def test_cli_errors_are_usage_errors(capsys):
    spec = str(SPECS / "mnist_cnn.yaml")
    assert main(["report", spec, "--device", "h10"]) == 2
    assert "did you mean 'h100'" in capsys.readouterr().err
    assert main(["report", spec, "--device", "t4", "--precision", "mixed_bfloat16"]) == 2
    assert "no bfloat16" in capsys.readouterr().err
    assert main(["report", spec, "--train", "--optimizer", "adamm"]) == 2
    assert "unknown optimizer" in capsys.readouterr().err
    assert main(["draw", spec, "--color-by", "time", "-o", "-"]) == 2
    assert "needs --device" in capsys.readouterr().err


def test_draw_colours_by_time_and_training_memory(capsys):
    spec = str(SPECS / "mnist_cnn.yaml")
    assert main(["draw", spec, "--color-by", "time", "--device", "h100", "-o", "-"]) == 0
    dot = capsys.readouterr().out
    assert "training step time (roofline)" in dot
    assert re.search(r">\d[\d.]* (ns|µs|ms)</font>", dot)
    assert main(["draw", spec, "--color-by", "train_memory", "--batch", "64", "-o", "-"]) == 0
    assert "activations kept for backward" in capsys.readouterr().out


def test_diff_shows_training_deltas(capsys):
    spec = str(SPECS / "resnet50.yaml")
    assert main(["diff", spec, spec, "--set-b", "stages=[3,4,23,3]", "--device", "a100", "--batch", "128"]) == 0
    out = capsys.readouterr().out
    assert "training (batch 128, adam, float32): FLOPs" in out and "peak memory" in out
    assert "on NVIDIA A100 SXM4 80GB: step" in out and "images/s" in out


def test_diff_of_a_token_model_states_tokens_per_second(capsys):
    spec = str(SPECS / "tiny_gpt.yaml")
    a, b = (archspec.load(SPECS / "tiny_gpt.yaml", o).training_estimate(8, device="h100") for o in ({}, {"num_layers": 4}))
    assert main(["diff", spec, spec, "--set-b", "num_layers=4", "--device", "h100", "--batch", "8"]) == 0
    out = capsys.readouterr().out
    assert f"tokens/s {a.tokens_per_s:,.0f} → {b.tokens_per_s:,.0f}" in out and "images/s" not in out


def test_no_framework_is_imported():
    code = "from archspec.cli import main; main(['report', 'specs/resnet50.yaml', '--train', '--device', 'h100'])"
    assert imported_by(code) == []


# ---- against the framework: JAX's analysis of the compiled training step ----------------------------
MEASURE = """
import json, os, sys
os.environ["KERAS_BACKEND"] = "jax"
from archspec.train.measure import load_case, measure_step
precision, target = sys.argv[1], sys.argv[2] or None    # target: a GPU to compile for without one
out = {}
for arg in sys.argv[3:]:
    spec, batch = load_case(arg)            # SPEC:BATCH[:NAME=VALUE,...]
    m = measure_step(spec, batch, precision=precision, target=target)
    out[arg] = [m["total_bytes"], spec.training_estimate(batch, "adam", precision, device=target).peak_bytes]
print(json.dumps(out))
"""


def _measure(jax_child, *cases, precision="float32", target=""):
    r = jax_child.run(MEASURE, precision, target, *cases, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _has_gpu_compiler() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("jax_plugins.xla_cuda12") is not None
    except ModuleNotFoundError:
        return False


# XLA:GPU's own plan of the step, compiled for a GPU without one (archspec.train.measure, `target`): needs
# jax's CUDA plugin (`pip install "jax[cuda12]"`, 3 GB, no GPU), which CI does not install
needs_gpu_compiler = pytest.mark.skipif(not _has_gpu_compiler(), reason='XLA:GPU\'s compiler: pip install "jax[cuda12]"')


@pytest.mark.keras
def test_peak_memory_agrees_with_jax_compiled_step(jax_child):
    """The estimate against XLA's buffer assignment (arguments + outputs + temporaries − donated aliases)
    on this machine's CPU, for a residual network where activations dominate (docs/training-estimates.md)."""
    got = _measure(jax_child, "specs/resnet_blocks.yaml:8")
    for case, (measured, estimated) in got.items():
        assert abs(estimated / measured - 1) <= 0.15, (case, measured, estimated)


# a residual CNN, then pre-norm attention and MLP blocks on its 8×8 patches: convolutions, batch norm, layer
# norm, attention and gelu, each keeping some of what it keeps in float32 under mixed_bfloat16 on XLA:CPU
MIXED_NET = """\
archspec: 1
name: mixed_net
inputs: {image: [32, 32, 3]}
defaults: {conv2d: {use_bias: false}}
model:
  - conv2d: {filters: 32, kernel: 3, padding: same}
  - batch_norm: {}
  - activation: relu
  - residual:
      activation: relu
      body:
        - conv2d: {filters: 32, kernel: 3, padding: same}
        - batch_norm: {}
        - activation: relu
        - conv2d: {filters: 32, kernel: 3, padding: same}
        - batch_norm: {}
  - conv2d: {filters: 64, kernel: 4, strides: 4}
  - reshape: {target_shape: [-1, 64]}
  - residual: {body: [{layer_norm: {}}, {attention: {heads: 4, key_dim: 16}}]}
  - residual: {body: [{layer_norm: {}}, {dense: {units: 128, activation: gelu}}, {dense: {units: 64}}]}
  - layer_norm: {}
  - select_token: 0
  - dense: {units: 10, activation: softmax}
"""


@pytest.mark.keras
def test_peak_memory_under_mixed_precision_agrees_with_jax(jax_child, tmp_path):
    """Under mixed_bfloat16 XLA:CPU keeps convolutions' and matmuls' operands, the normalizations' tensors and
    attention's scores in float32 and only the activations' residuals in bfloat16 (Op.mixed_float32): halving
    every kept tensor, as the estimate did before, read 0.50 of XLA's figure for this network."""
    spec = tmp_path / "mixed_net.yaml"
    spec.write_text(MIXED_NET)
    got = _measure(jax_child, f"{spec}:8", precision="mixed_bfloat16")
    for case, (measured, estimated) in got.items():
        assert abs(estimated / measured - 1) <= 0.15, (case, measured, estimated)


FAMILIES = ["resnet50", "mobilenet_v2", "densenet121", "efficientnet_b0", "convnext_tiny", "vit_b16"]
TOKEN_MODELS = ["specs/gpt2_small.yaml:4:num_layers=2,length=256", "specs/bert_base.yaml:4:num_layers=2,length=256",
                "specs/llama.yaml:4:num_layers=2,length=256,hidden_dim=256,num_query_heads=8,num_key_value_heads=2,"
                "intermediate_dim=512", "specs/whisper_encoder.yaml:2"]
TOKEN_BATCHES = (8, 32, 64)     # validated at each (docs/training-estimates.md), float32 and mixed_bfloat16


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_peak_memory_of_the_families_agrees_with_jax(family, jax_child):
    """At the batch sizes people train with (docs/training-estimates.md has the table): XLA only plans the
    step here (compiled, not run), so batch 64 needs no more memory than its arguments."""
    got = _measure(jax_child, *(f"specs/{family}.yaml:{b}" for b in (8, 32, 64)))
    for case, (measured, estimated) in got.items():
        assert abs(estimated / measured - 1) <= 0.15, (case, measured, estimated)


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_peak_memory_of_the_families_under_mixed_precision_agrees_with_jax(family, jax_child):
    """The same families under mixed_bfloat16 at batch 8 and 32 (docs/training-estimates.md, "Mixed
    precision"): what XLA:CPU keeps in float32 and what in bfloat16, op by op."""
    got = _measure(jax_child, *(f"specs/{family}.yaml:{b}" for b in (8, 32)), precision="mixed_bfloat16")
    for case, (measured, estimated) in got.items():
        assert abs(estimated / measured - 1) <= 0.15, (case, measured, estimated)


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_peak_memory_of_the_token_models_agrees_with_jax(jax_child, precision):
    """GPT-2, BERT and Llama sizes at 2 layers × 256 tokens, Whisper's encoder at its 1500 frames, at batch 8, 32
    and 64 (XLA only plans the step): attention's score-sized residuals and random bits, the repeated grouped
    heads, the normalizations' broadcast residuals and a token table's gradient, as XLA:CPU holds them."""
    cases = [":".join((spec, str(b), *rest)) for spec, _, *rest in (c.split(":") for c in TOKEN_MODELS)
             for b in TOKEN_BATCHES]
    got = _measure(jax_child, *cases, precision=precision)
    assert len(got) == len(cases)
    for case, (measured, estimated) in got.items():
        assert abs(estimated / measured - 1) <= 0.15, (case, measured, estimated)


@pytest.mark.keras
@pytest.mark.slow
@needs_gpu_compiler
def test_the_gpus_compile_a_training_step_without_one(jax_child):
    """Every GPU of the device table has a description XLA:GPU compiles for (devices.XlaGpu), and a small
    residual network's estimate for it agrees with XLA:GPU's plan of the step."""
    for name, device in DEVICES.items():
        precision = "mixed_bfloat16" if device.bf16 else "mixed_float16"
        got = _measure(jax_child, "specs/resnet_blocks.yaml:32", precision=precision, target=name)
        for case, (measured, estimated) in got.items():
            assert abs(estimated / measured - 1) <= 0.15, (name, case, measured, estimated)


# the GPU rules (Concat.fused_into_readers, gelu's GPU residual, MaxPool.backward_scratch) against XLA:GPU's own
# plan for an H200 (deviceless; docs/training-estimates.md, "On a GPU: one NVIDIA H200"); measured with jax 0.10.2:
# estimate / XLA:GPU at batch 32, mixed_bfloat16 and float32 — resnet50 0.98 / 1.01, mobilenet_v2 0.93 / 0.96,
# densenet121 0.91 / 0.97 (1.25 / 1.35 before the concatenation rule), efficientnet_b0 0.99 / 1.00,
# convnext_tiny 0.96 / 0.99 (0.63 / 0.77 before gelu's residual); GPT-2 and BERT at 2 layers × 256 tokens,
# batch 4: 1.09 / 1.01 and 1.02 / 1.00. ViT-B/16 needs Triton's GEMMs off to compile deviceless: not here.
GPU_CASES = [f"specs/{f}.yaml:32" for f in FAMILIES if f != "vit_b16"] + TOKEN_MODELS[:2]


@pytest.mark.keras
@pytest.mark.slow
@needs_gpu_compiler
@pytest.mark.parametrize("case", GPU_CASES)
def test_peak_memory_of_the_families_agrees_with_xla_gpu(case, jax_child):
    for precision in ("mixed_bfloat16", "float32"):
        got = _measure(jax_child, case, precision=precision, target="h200")
        for c, (measured, estimated) in got.items():
            assert abs(estimated / measured - 1) <= 0.15, (c, precision, measured, estimated)


def test_a_gpu_without_its_compiler_is_a_clear_error(monkeypatch):
    from archspec.train import measure

    monkeypatch.setattr("importlib.util.find_spec", lambda name, package=None: None)    # no CUDA plugin
    with pytest.raises(measure.NoGpuCompiler, match=r'pip install "jax\[cuda12\]'):
        measure.gpu_sharding(DEVICES["h200"])
    with pytest.raises(ValueError, match="cannot run"):
        measure.measure_step(None, 8, target="h200", steps=3)
    with pytest.raises(ValueError, match="cpu is not a GPU to compile for; GPUs: h100, "):
        measure.gpu_sharding(get_device("cpu"))


TIME = """
import json, os, sys
os.environ["KERAS_BACKEND"] = "jax"
from archspec.devices import cpu_device
from archspec.train.measure import idle_step_s, load_case, measure_step
cpu = cpu_device()
out = {}
for arg in sys.argv[1:]:
    spec, batch = load_case(arg)
    m = measure_step(spec, batch, steps=3, warmup=1)
    out[arg] = [idle_step_s(m["step_cpu_s"]), m["step_min_s"], spec.training_estimate(batch, device=cpu).step_time_s]
print(json.dumps(out))
"""


@pytest.mark.keras
@pytest.mark.slow
def test_step_time_of_the_families_is_within_twice_the_estimate():
    """Measured against the calibrated estimate on this CPU, for every bundled family at a small batch and
    the token models. The machine may be shared, so the measure is the step's CPU time (the minimum of 3
    compiled steps) turned into an idle machine's wall time (measure.idle_step_s: over the cores) —
    docs/training-estimates.md."""
    pytest.importorskip("jax")
    cases = [f"specs/{f}.yaml:2" for f in FAMILIES] + TOKEN_MODELS[:3]
    r = subprocess.run([sys.executable, "-c", TIME, *cases], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"}, timeout=3000)
    assert r.returncode == 0, r.stderr[-3000:]
    for case, (idle, wall, estimated) in json.loads(r.stdout.strip().splitlines()[-1]).items():
        assert 0.5 <= idle / estimated <= 2, (case, idle, wall, estimated)


def test_attention_keeps_its_projections_and_probabilities():
    vit = archspec.load(SPECS / "vit_b16.yaml")
    est = vit.training_estimate(2)
    g = vit.graph
    att = [n for n in g if n.op == "attention"]
    assert len(att) == 12
    n = att[0]
    a = n.attrs
    t = g[n.inputs[0]].shape[0]
    qkv_out = 4 * t * a.heads * a.key_dim            # Q, K, V and the heads' output (value_dim = key_dim)
    probs = a.heads * t * t * (2 if a.dropout > 0 else 1)
    assert est.nodes[n.id].kept_bytes >= 2 * 4 * (qkv_out + probs)
    # the self-attention input (the layer norm's output) stays alive for the projection gradients, with
    # the two residuals XLA:CPU keeps for the layer norm's own backward (2 × 197 rows: four from 4,096 rows);
    # on a GPU only the output
    assert est.nodes[n.inputs[0]].kept_bytes == 2 * 4 * t * 768 * 3
    assert vit.training_estimate(21).nodes[n.inputs[0]].kept_bytes == 21 * 4 * t * 768 * 5
    assert vit.training_estimate(2, device="h100").nodes[n.inputs[0]].kept_bytes == 2 * 4 * t * 768


def test_the_docs_excerpt_is_real_output(capsys):
    doc = (ROOT / "docs" / "training-estimates.md").read_text(encoding="utf-8")
    m = re.search(r"```\n\$ archspec (report [^\n]*)\n(.*?)```", doc, flags=re.S)
    assert m, "docs/training-estimates.md lost its report excerpt"
    args = m.group(1).split()
    assert main([args[0], str(ROOT / args[1]), *args[2:]]) == 0
    assert capsys.readouterr().out == m.group(2), "paste the new output into docs/training-estimates.md"


UNTIED = """\
archspec: 1
name: untied
inputs: {ids: {shape: [16], dtype: int32}}
model:
  - token_embedding: {vocabulary: 1000, dim: 32, tie_weights: false}
  - dense: {units: 32}
  - tied_logits: {vocabulary: 1000, from: [dense, token_embedding], when: $logits}
params: {logits: false}
"""


def test_an_untied_output_table_nothing_reads_gets_no_gradient():
    """A token embedding's untied output table (Op.lent_params) takes no part in the loss of a backbone without
    `tied_logits`: XLA allocates no gradient for it (Llama's backbone, buffer assignment) — its Adam slots stay."""
    table = 1000 * 32 * 4
    backbone = archspec.load_text(UNTIED)
    head = archspec.load_text(UNTIED, overrides={"logits": True})
    assert REGISTRY["token_embedding"].lent_params(backbone.graph["token_embedding"].attrs, [(16,)], (16, 32)) == 1000 * 32
    b, h = backbone.training_estimate(4), head.training_estimate(4)
    assert b.weights_bytes == h.weights_bytes == 2 * table + 33 * 32 * 4
    assert b.optimizer_bytes == h.optimizer_bytes == 2 * b.weights_bytes
    assert h.grads_bytes == h.weights_bytes and b.grads_bytes == b.weights_bytes - table
    assert b.peak_bytes < h.peak_bytes


def test_a_tied_output_projection_starts_the_tables_gradient(monkeypatch):
    """GPT-2's logits reuse the token table: its gradient exists from the logits' backward step (the first),
    not from the embedding's (the last) — on a GPU, where the table's gradient is not allocated early."""
    spec = archspec.load(SPECS / "gpt2_small.yaml", {"num_layers": 1, "length": 256, "logits": True})
    table = 50257 * 768 * 4
    tied = estimate_training(spec.graph, 16, platform="gpu")
    monkeypatch.setattr(type(REGISTRY["tied_logits"]), "weights_from", None)
    untied = estimate_training(spec.graph, 16, platform="gpu")
    # the peak is the logits' backward step (16 × 256 × 50,257 logits and their gradient), with the table's
    # gradient when it is tied
    assert tied.peak_at == untied.peak_at == "tied_logits"
    assert tied.peak_bytes - untied.peak_bytes == table


def test_a_token_spec_reports_tokens_per_second(capsys):
    """A spec whose input is token ids states its throughput in tokens as well as in sequences."""
    spec = archspec.load(SPECS / "tiny_gpt.yaml")
    est = spec.training_estimate(8, device="h100")
    assert est.tokens_per_example == spec.graph[spec.graph.inputs[0]].shape[0] == 64
    assert est.tokens_per_s == pytest.approx(64 * 8 / est.step_time_s)
    assert est.to_json()["tokens_per_s"] == est.tokens_per_s
    assert archspec.load(SPECS / "mnist_cnn.yaml").training_estimate(8, device="h100").tokens_per_s is None
    assert main(["report", str(SPECS / "tiny_gpt.yaml"), "--train", "--batch", "8", "--device", "h100"]) == 0
    out = capsys.readouterr().out
    assert f"{est.tokens_per_s:,.0f} tokens/s" in out and "images/s" not in out
