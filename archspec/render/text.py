"""The words and numbers the report tables share, plain and training alike: the header, the
convention line, a row's first cells, and numbers in K/M/G and bytes in KiB/MiB/GiB.

>>> human(387_609_600), human(780.9e6, "FLOPs"), human(640), human_bytes(3 * 2 ** 20)
('387.61 M', '780.90 MFLOPs', '640', '3.0 MiB')
"""
from __future__ import annotations

from ..graph import SEP

CONVENTION = ("MACs = multiply-accumulates of conv/dense/attention layers; FLOPs = 2 per MAC + bias adds, batch-norm, "
              "pooling, merges and softmax (TensorFlow profiler convention; ReLU not counted)")


def human(n: float, unit: str = "") -> str:
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}".rstrip() if unit else f"{n:,.0f}"


def human_bytes(n: float) -> str:
    for div, suffix in ((2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB")):
        if n >= div:
            return f"{n / div:.1f} {suffix}"
    return f"{n:.0f} B"


def header_lines(h) -> list[str]:
    ins = ", ".join(f"{k} {tuple(v)}" for k, v in h["inputs"].items())
    return [f"{h.get('title', h['name'])}: input {ins}, batch {h['batch_size']}, {h['dtype']}", CONVENTION]


def row_head(r) -> list[str]:
    """A table row's first cells: its name indented by level, its kind ([block] for a scope) and output shape."""
    indent = "  " * r["level"]
    name = indent + (r["name"].rsplit(SEP, 1)[-1] if r["level"] else r["name"])
    shape = str(tuple(r["output_shape"])) if r["output_shape"] else "?"
    kind = f"[{r['kind']}]" if r["scope"] else r["kind"]
    return [name, kind, shape]
