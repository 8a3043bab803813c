"""Attention over a feature map: window_attention — multi-head self-attention among the positions of an
(height, width, channels) map, within square windows or over the whole map, with decomposed relative
position embeddings (ViTDet's and SAM's image encoder, KerasHub's MultiHeadAttentionWithRelativePE inside its
WindowedTransformerEncoder; Swin's shifted-window attention — both read by importer/blocks.py).

With `window: w` the map is padded with zeros to whole windows, each w × w window attends within itself
(n = w² tokens), and the padding is cropped off again; `window: 0` attends over the whole map (n = H·W).
With `relative: decomposed` two learned tables (2·s − 1 rows of key_dim, s the window's — or the map's —
height and width) give each query a bias per key row and per key column: score += q·Rh[i − i′ + s − 1] +
q·Rw[j − j′ + s − 1]; with `relative: bias` (Swin) a learned bias per head for each of the (2s − 1)² offsets,
and `shift` rolls the map by −shift before the windows and back after, masking the scores of token pairs
the roll brought together (−100, as Swin).

Costs, with h heads, key size k, C input channels, P the padded positions (P = H·W without a window),
n tokens per window and P / n windows:

* MACs: the qkv projection (P·C·3hk), the scores QKᵀ and attention × V (P·h·n·k each), the relative
  terms (P·h·(sh + sw)·k) and the output projection (P·hk·hk);
* FLOPs (as TensorFlow's profiler counts archspec's layer): 2 per MAC, + 1 per projected element for each
  bias, + 1 per query element for the 1/√k scaling, + 5 per score for the softmax; decomposed: + 2 per
  score for the relative terms and 4 per relative index (the lookups' i − i′ + s − 1, wrapped); bias: + 1
  per score, 2 per index (the lookup's wrap), + 1 per score for the mask with `shift`.

>>> from archspec.ops import REGISTRY
>>> op = REGISTRY["window_attention"]
>>> a = op.Attrs(heads=2, key_dim=4, window=2)
>>> op.infer(a, [(3, 3, 8)]), op.params(a, [(3, 3, 8)], (3, 3, 8))
((3, 3, 8), (312, 0))
"""
from __future__ import annotations

from typing import Literal

from .base import Attrs, Field, NonNegInt, Op, Pair, PosInt, ShapeError, need_rank
from .registry import register


class WindowAttentionAttrs(Attrs):
    heads: PosInt = Field(description="number of attention heads")
    key_dim: PosInt = Field(description="size of each head's queries, keys and values; the output has heads × "
                                        "key_dim channels (ViTDet's and Swin's: the input's)")
    window: NonNegInt = Field(0, description="side of the square windows the map is split into (padded to whole "
                                             "windows, cropped back); 0: attend over the whole map")
    relative: Literal["decomposed", "bias", "none"] = Field(
        "decomposed", description="relative positions in the scores: decomposed — a learned table per axis dotted "
                                  "with the query (ViTDet, SAM); bias — a learned bias per head and offset (Swin); none")
    shift: NonNegInt = Field(0, description="roll the map by −shift before the windows and back after, masking scores "
                                            "across the seams (Swin's shifted windows); below `window`")
    use_bias: bool = Field(True, description="a bias on the query/key/value projection (the output projection always "
                                             "has one)")


@register
class WindowAttention(Op):
    name, keras_class, Attrs, category = "window_attention", "WindowAttention", WindowAttentionAttrs, "attn"
    custom_layer = True                            # archspec.ops.keras_layers.WindowAttention
    keeps_inputs = True                            # the projections' weight gradients read the map
    keras_classes = ("WindowAttention",)           # KerasHub's ViTDet attention: importer/blocks.py (by module path)
    doc = ("Multi-head self-attention over a feature map (H, W, C), within `window` × `window` windows (0: the whole "
           "map), with decomposed relative position embeddings (ViTDet's and SAM's image encoder): "
           "archspec.ops.keras_layers.WindowAttention. (H, W, C) → (H, W, heads × key_dim).")
    examples = [({"heads": 2, "key_dim": 4, "window": 2}, [(3, 3, 8)], (3, 3, 8), (312, 0)),
                ({"heads": 2, "key_dim": 4}, [(3, 3, 8)], (3, 3, 8), (328, 0)),
                ({"heads": 1, "key_dim": 8, "relative": "none", "use_bias": False}, [(4, 4, 8)], (4, 4, 8), (264, 0)),
                ({"heads": 2, "key_dim": 4, "window": 2, "relative": "bias", "shift": 1}, [(4, 4, 8)], (4, 4, 8),
                 (306, 0))]

    def infer(self, a, ins):
        need_rank(ins, 3, "window_attention", "it attends over a feature map; for tokens use attention")
        if a.shift and not a.shift < a.window:
            raise ShapeError(f"window_attention's shift {a.shift} must be below its window {a.window}",
                             "schema", "Swin shifts by half a window: shift: window // 2", field="shift")
        h, w, _ = ins[0]
        return (h, w, a.heads * a.key_dim)

    def _sizes(self, a, shape):
        """(padded positions P, tokens per window n, table rows' sizes (sh, sw))."""
        h, w, _ = shape
        if not a.window:
            return h * w, h * w, (h, w)
        ws = a.window
        hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
        return hp * wp, ws * ws, (ws, ws)

    def params(self, a, ins, out):
        c, inner = ins[0][2], a.heads * a.key_dim
        _, _, (sh, sw) = self._sizes(a, ins[0])
        rel = {"decomposed": (2 * sh - 1 + 2 * sw - 1) * a.key_dim, "bias": (2 * sh - 1) * (2 * sw - 1) * a.heads,
               "none": 0}[a.relative]
        return (c * 3 * inner + 3 * inner * a.use_bias + inner * inner + inner + rel, 0)

    macs_rule = ("the qkv projection (P·C·3hk), QKᵀ and attention × V (P·h·n·k each), the decomposed relative terms "
                 "(P·h·(sh + sw)·k) and the output projection (P·hk·hk); P padded positions, n per window")

    def macs(self, a, ins, out):
        p, n, (sh, sw) = self._sizes(a, ins[0])
        c, h, k = ins[0][2], a.heads, a.key_dim
        rel = p * h * (sh + sw) * k if a.relative == "decomposed" else 0
        return p * c * 3 * h * k + 2 * p * h * n * k + rel + p * h * k * h * k

    flops_rule = ("2 per MAC; + 1 per projected element for each bias; + 1 per query element (P·hk) for the 1/√k "
                  "scaling; + 5 per score (P·h·n) for the softmax; decomposed: + 2 per score for the relative terms "
                  "and 4 per relative index (sh² + sw²: i − i′ + s − 1, wrapped); bias: + 1 per score, + 2 per "
                  "index (n²: the lookup's wrap), + 1 per score for the mask with `shift`")

    def extra_flops(self, a, ins, out):
        p, n, (sh, sw) = self._sizes(a, ins[0])
        inner = a.heads * a.key_dim
        scores = p * a.heads * n
        rel = {"decomposed": 2 * scores + 4 * (sh * sh + sw * sw), "bias": scores + 2 * n * n + scores * (a.shift > 0),
               "none": 0}[a.relative]
        return p * 3 * inner * a.use_bias + p * inner + p * inner + 5 * scores + rel

    def backward_keeps(self, a, ins, out):
        """Its input, and inside: Q, K, V, the probabilities and the heads' output before the projection."""
        p, n, _ = self._sizes(a, ins[0])
        inner = a.heads * a.key_dim
        return True, False, 4 * p * inner + p * a.heads * n

    def label(self, a):
        where = f"window {a.window}" + (f" shift {a.shift}" if a.shift else "") if a.window else "global"
        rel = {"decomposed": " · rel pos", "bias": " · rel bias", "none": ""}[a.relative]
        return f"window attention · {a.heads} heads · {a.key_dim} · {where}{rel}"

    def keras_kwargs(self, a):
        return dict(heads=a.heads, key_dim=a.key_dim, window=a.window, relative=a.relative, shift=a.shift,
                    use_bias=a.use_bias)


class GridRopeAttentionAttrs(Attrs):
    heads: PosInt = Field(description="number of attention heads")
    key_dim: PosInt = Field(description="size of each head's queries, keys and values (a multiple of 4: rows and "
                                        "columns each rotate half of it); the output has heads × key_dim features")
    grid: Pair = Field(description="the patch grid [rows, columns] of the tokens after the prefix")
    prefix: NonNegInt = Field(1, description="leading tokens that are not patches and are not rotated (class token, "
                                             "registers)")
    theta: float = Field(100.0, gt=0, description="the rotary base period (DINOv3's rope_theta)")
    query_bias: bool = Field(True, description="a bias on the query projection")
    key_bias: bool = Field(True, description="a bias on the key projection")
    value_bias: bool = Field(True, description="a bias on the value projection")
    output_bias: bool = Field(True, description="a bias on the output projection")


@register
class GridRopeAttention(Op):
    name, keras_class, Attrs, category = "grid_rope_attention", "GridRopeAttention", GridRopeAttentionAttrs, "attn"
    custom_layer = True                            # archspec.ops.keras_layers.GridRopeAttention
    keeps_inputs = True
    doc = ("Multi-head self-attention over `prefix` tokens then the patches of a `grid`, with 2-D rotary position "
           "embeddings on the patches' queries and keys (DINOv3's attention): "
           "archspec.ops.keras_layers.GridRopeAttention. (prefix + rows·columns, D) → (same, heads × key_dim).")
    examples = [({"heads": 2, "key_dim": 4, "grid": [2, 2]}, [(5, 8)], (5, 8), (288, 0)),
                ({"heads": 1, "key_dim": 8, "grid": [2, 3], "prefix": 3, "key_bias": False}, [(9, 8)], (9, 8), (280, 0))]

    def infer(self, a, ins):
        need_rank(ins, 2, "grid_rope_attention", "it attends over tokens: reshape a map to [-1, channels] first")
        t = ins[0][0]
        if t != a.prefix + a.grid[0] * a.grid[1]:
            raise ShapeError(f"grid_rope_attention reads {a.prefix} prefix tokens and a {a.grid[0]}×{a.grid[1]} grid "
                             f"({a.prefix + a.grid[0] * a.grid[1]} tokens) but the sequence has {t}", "shape-mismatch",
                             field="grid")
        if a.key_dim % 4:
            raise ShapeError(f"grid_rope_attention rotates rows and columns by halves of each head: key_dim={a.key_dim} "
                             "is not a multiple of 4", "attention-heads", field="key_dim")
        return (t, a.heads * a.key_dim)

    def params(self, a, ins, out):
        d, inner = ins[0][1], a.heads * a.key_dim
        return (3 * d * inner + inner * inner + inner * (a.query_bias + a.key_bias + a.value_bias + a.output_bias), 0)

    macs_rule = "the Q, K, V and output projections (T·D·hk each, T·hk·hk), QKᵀ and attention × V (h·T²·k each)"

    def macs(self, a, ins, out):
        t, d = ins[0]
        h, k = a.heads, a.key_dim
        return 3 * t * d * h * k + t * h * k * h * k + 2 * h * t * t * k

    flops_rule = ("2 per MAC; + 1 per projected element for each bias; + 5 per score (h·T²) for the softmax and 1 for "
                  "the scaling; + 4 per rotated query and key element (x·cos + rotate(x)·sin, the negated half: "
                  "3.5, and its concatenation's share)")

    def extra_flops(self, a, ins, out):
        t, _ = ins[0]
        h, k = a.heads, a.key_dim
        inner = h * k
        biases = t * inner * (a.query_bias + a.key_bias + a.value_bias + a.output_bias)
        patches = a.grid[0] * a.grid[1]
        rotary = 2 * patches * h * (3 * k + k // 2)
        return biases + 6 * h * t * t + rotary

    def backward_keeps(self, a, ins, out):
        t, _ = ins[0]
        inner = a.heads * a.key_dim
        return True, False, 4 * t * inner + 2 * a.heads * t * t

    def label(self, a):
        return f"grid rope attention · {a.heads} heads · {a.key_dim} · {a.grid[0]}×{a.grid[1]} + {a.prefix}"

    def keras_kwargs(self, a):
        return dict(heads=a.heads, key_dim=a.key_dim, grid=a.grid, prefix=a.prefix, theta=a.theta,
                    query_bias=a.query_bias, key_bias=a.key_bias, value_bias=a.value_bias, output_bias=a.output_bias)
