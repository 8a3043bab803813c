"""Fourier mixing: fft2_real (the real part of a 2-D discrete Fourier transform, FNet's token mixing) and
zeros_like (a tensor of zeros shaped as its input: the imaginary part FNet gives that transform)."""
from __future__ import annotations

import math

from .base import Attrs, Op, ShapeError
from .registry import register
from .shapes import size


class NoAttrs(Attrs):
    pass


@register
class FFT2Real(Op):
    name, keras_class, Attrs, category, arity = "fft2_real", "FFT2Real", NoAttrs, "attn", (1, 2)   # (mixes tokens)
    custom_layer = True
    doc = ("The real part of the 2-D discrete Fourier transform over the last two axes, "
           "`keras.ops.fft2((real, imag))[0]`: FNet's token mixing (over tokens and features). One input: a real "
           "tensor (its imaginary part zero); two: the real and imaginary parts. "
           "archspec.ops.keras_layers.FFT2Real, a registered serializable Keras layer.")
    examples = [({}, [(12, 16)], (12, 16), (0, 0)), ({}, [(4, 8), (4, 8)], (4, 8), (0, 0)),
                ({}, [(3, 4, 5)], (3, 4, 5), (0, 0))]
    keras_ops = ("FFT2",)                            # keras.ops.fft2((real, imag)) in a graph (FNet), its output 0

    def infer(self, a, ins):
        if len(ins[0]) < 2:
            raise ShapeError(f"fft2_real transforms the last two axes; its input {ins[0]} has "
                             f"{len(ins[0])}", "shape-rank", "reshape the input to (rows, columns)")
        if len(ins) == 2 and ins[1] != ins[0]:
            raise ShapeError(f"fft2_real's real and imaginary parts differ in shape: {ins[0]} and {ins[1]}",
                             "shape-mismatch")
        return ins[0]

    flops_rule = ("5 · n · log₂ n per transform of n = rows · columns points (Cooley–Tukey's count, real FLOPs of a "
                  "complex transform), per index of the axes before them; TensorFlow's profiler counts none")

    def extra_flops(self, a, ins, out):
        n = out[-1] * out[-2]
        return int(5 * n * math.log2(n)) * (size(out) // n) if n > 1 else 0

    def label(self, a):
        return "fft2 (real part)"

    def token_mixing(self, a, n):
        """Every output token reads every input token (a transform over the token axis)."""
        return "all", None

    def keras_kwargs(self, a):
        return {}

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`keras.ops.fft2((real, imag))`: its first output (a call that reads the second is refused)."""
        return {} if n_tensors == 2 and not consts else None

    def call_keras(self, layer, tensors, attrs=None):
        return layer(list(tensors))


@register
class ZerosLike(Op):
    name, keras_class, Attrs, category = "zeros_like", "ZerosLike", NoAttrs, "reshape"
    custom_layer = True
    doc = ("A tensor of zeros shaped as its input, `keras.ops.zeros_like(x)` (FNet's imaginary part of its "
           "Fourier transform's input). archspec.ops.keras_layers.ZerosLike, a registered serializable Keras layer.")
    examples = [({}, [(12, 16)], (12, 16), (0, 0)), ({}, [(4, 4, 3)], (4, 4, 3), (0, 0))]
    keras_ops = ("ZerosLike",)

    def label(self, a):
        return "zeros"

    def keras_kwargs(self, a):
        return {}

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        return {} if n_tensors == 1 and not consts and not (cfg or {}).get("dtype") else None
