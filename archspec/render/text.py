"""What the report tables share, plain and training alike: the header, the convention line and a row's
first cells (numbers come from :mod:`archspec.humanize`).

>>> row_head({"level": 1, "name": "stage1/conv", "output_shape": [8, 8, 16], "scope": False, "kind": "conv2d"})
['  conv', 'conv2d', '(8, 8, 16)']
"""
from __future__ import annotations

from ..graph import SEP
from ..humanize import human, human_bytes, past_float  # noqa: F401  (the tables' numbers)

CONVENTION = ("MACs = multiply-accumulates of conv/dense/attention layers; FLOPs = 2 per MAC + bias adds, batch-norm, "
              "pooling, merges and softmax (TensorFlow profiler convention; ReLU not counted)")


def header_lines(h) -> list[str]:
    ins = ", ".join(f"{k} {tuple(v)}" for k, v in h["inputs"].items())
    return [f"{h.get('title', h['name'])}: input {ins}, batch {h['batch_size']}, {h['dtype']}", CONVENTION]


def row_head(r) -> list[str]:
    """A table row's first cells: its name indented by level, its kind ([block] for a scope) and output shape."""
    indent = "  " * r["level"]
    full = r.get("folded_name", r["name"])
    name = indent + (full.rsplit(SEP, 1)[-1] if r["level"] else full)
    shape = str(tuple(r["output_shape"])) if r["output_shape"] else "?"
    kind = f"[{r['kind']}]" if r["scope"] else r["kind"]
    return [name, kind, shape]
