"""Pure shape arithmetic with Keras's exact semantics (channels-last).

>>> conv_length(32, 3, 2, "valid")
15
>>> conv_length(15, 3, 2, "same")
8
>>> conv_length(2, 3, 1, "valid") is None   # kernel larger than input
True
>>> conv_length(7, 3, 1, "valid", dilation=2)
3
>>> transpose_length(8, 3, 2, "same")
16
>>> transpose_length(8, 3, 2, "valid")
17
"""
from __future__ import annotations

import math


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    return (kernel - 1) * dilation + 1


def conv_length(n: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window; None when `valid` leaves nothing.

    Keras: `same` → ceil(n / s); `valid` → floor((n − k_eff) / s) + 1.
    """
    if padding == "same":
        return -(-n // stride)
    k = effective_kernel(kernel, dilation)
    if n < k:
        return None
    return (n - k) // stride + 1


def transpose_length(n: int, kernel: int, stride: int, padding: str, output_padding: int | None = None,
                     dilation: int = 1) -> int:
    """Output length of a transposed convolution (Keras `compute_conv_transpose_output_shape`)."""
    k = effective_kernel(kernel, dilation)
    if output_padding is None:
        if padding == "valid":
            return n * stride + max(k - stride, 0)
        return n * stride
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * stride + k - 2 * pad + output_padding


def broadcast(shapes: list[tuple]) -> tuple | None:
    """Keras merge-layer broadcasting: equal dims, or 1 against anything. None if incompatible."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            return None
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def size(shape: tuple) -> int:
    return math.prod(shape)
