"""Fixed numeric tables that ops compute and their Keras layers fill (NumPy, imported lazily): kept apart
from both, so that :mod:`.keras_layers` does not import the op families that build it."""
from __future__ import annotations

# tier: extras  (the doctests need NumPy; conftest.py)


def sinusoid(length: int, dim: int, max_wavelength: float = 10000.0, layout: str = "interleaved"):
    """The (length, dim) sinusoidal position table, as float64 NumPy (imported here, lazily).

    `interleaved` (KerasHub's SinePositionEncoding, "Attention is all you need"): feature 2i is
    sin(p / w^(2i/dim)) and 2i+1 its cosine, w = max_wavelength. `split` (Whisper's `sinusoids`, tensor2tensor):
    the first dim/2 features are sin(p · e^(−i·ln w/(dim/2 − 1))), the last dim/2 their cosines.

    >>> t = sinusoid(3, 4)
    >>> t.shape, [round(float(v), 4) for v in t[1]]
    ((3, 4), [0.8415, 0.5403, 0.01, 1.0])
    >>> [round(float(v), 4) for v in sinusoid(3, 4, layout="split")[1]]
    [0.8415, 0.0001, 0.5403, 1.0]
    """
    import numpy as np

    pos = np.arange(length, dtype=np.float64)[:, None]
    if layout == "split":
        half = dim // 2
        inv = np.exp(-np.log(max_wavelength) / max(half - 1, 1) * np.arange(half))
        angles = pos * inv[None, :]
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    i = np.arange(dim)
    angles = pos * np.power(1.0 / max_wavelength, (2 * (i // 2)) / dim)[None, :]
    return np.where(i % 2 == 0, np.sin(angles), np.cos(angles))


def alibi_slopes(heads: int, bias_max: float = 8.0) -> list[float]:
    """ALiBi's slope per head (Press et al.; KerasHub's AlibiBias, BLOOM's and Falcon's): a geometric sequence
    from 2^(−bias_max/n) for the largest power of two n ≤ heads, the other heads taking every other slope of 2n.

    >>> alibi_slopes(4)
    [0.25, 0.0625, 0.015625, 0.00390625]
    """
    import math

    def power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - math.log2(bias_max))))
        return [start * start ** i for i in range(n)]

    if math.log2(heads).is_integer():
        return power_of_2(heads)
    closest = 2 ** math.floor(math.log2(heads))
    return power_of_2(closest) + alibi_slopes(2 * closest, bias_max)[0::2][:heads - closest]
