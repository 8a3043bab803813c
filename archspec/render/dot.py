"""Graph + analysis → Graphviz DOT text. Pure: no graphviz import, no subprocess, no clock.

Block calls, residuals and branches become nested clusters. `depth` says how many levels of
block calls to open: a block call at level `depth` or deeper is drawn as one box (its name and
arguments, input → output shape, params, MACs); residuals, branches and paths are structure and
are drawn whenever their block is open. Every edge carries the shape of its tensor (a fan-out says
it once, at the tail). Output is deterministic: ids are scope paths, and clusters, nodes and edges
are written in definition order, so the same spec always gives the same bytes.

>>> from archspec import api
>>> spec = api.load_text('''
... archspec: 1
... name: tiny
... inputs: {x: [8, 8, 3]}
... model:
...   - conv2d: {filters: 4, kernel: 3, activation: relu}
...   - global_avg_pool: {}
... ''')
>>> text = to_dot(spec.graph, spec.analysis())
>>> print(text.splitlines()[0])
digraph "tiny" {
>>> '"x" -> "conv2d" [label="8×8×3"]' in text
True
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..graph import SEP, Graph, Scope
from ..ops import REGISTRY, Category, role
from .text import human, human_bytes, past_float

DIRECTIONS = ("TB", "LR")
COLOR_BY = ("none", "params", "macs", "memory", "time", "train_memory")
TRAINING_METRICS = ("time", "train_memory")     # need a training estimate (passes.training.with_training)
COLLAPSIBLE = ("block", "sequence")   # residual, branches and paths are structure: drawn, never boxed
AUTO_BUDGET = 80                      # boxes the automatic depth stays under
FONT = "Helvetica,Arial,sans-serif"   # a fontconfig list for dot, a CSS list in the SVG
INK, MUTED, EDGE = "#1f2933", "#5f6b7a", "#5f6b7a"
BODY, NOTE, SMALL = 11, 9.5, 9               # font sizes (points): labels, arguments, costs and shapes
GAP = "&#160; "                       # between a bold name and its details (HTML labels fold plain spaces)

# (fill, border) per op category (every Category: tests/test_draw.py); merges are ellipses, residual adds doubly outlined
STYLE = {
    Category.IO: ("#eceff1", "#607d8b"),
    Category.CONV: ("#dbe8f7", "#4a78b0"),
    Category.DENSE: ("#e6dcf2", "#7656a8"),
    Category.ATTN: ("#d8efee", "#2f8f8a"),
    Category.TOKEN: ("#eef3d6", "#7d8f2f"),
    Category.NORM: ("#e3f0e1", "#5b9453"),
    Category.ACT: ("#fdf3cf", "#b59a2a"),
    Category.POOL: ("#fde3cc", "#c27533"),
    Category.MERGE: ("#fbd3d0", "#c0453b"),
    Category.RESHAPE: ("#f1f1f1", "#8c8c8c"),
    Category.REG: ("#ffffff", "#9e9e9e"),
    Category.OTHER: ("#f5f5f5", "#8c8c8c"),
}
BOX = ("#f4f6f9", "#5c6b80")          # a collapsed block
CLUSTER = {                           # scope kind -> (fill, border)
    "block": ("#f7f9fc", "#9aa9bd"),
    "sequence": ("#f7f9fc", "#9aa9bd"),
    "residual": ("#fdf6f5", "#d9a19b"),
    "branches": ("#fbfaf4", "#cbbf95"),
}
# ColorBrewer YlOrRd, light to dark, over RAMP_DECADES below the largest cost; zero stays white
RAMP = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026")
RAMP_DECADES = 3


@dataclass(frozen=True)
class Item:
    """One box in the picture: a graph node, or a collapsed block call."""

    id: str
    parent: str                  # path of the cluster that holds it ("" for the top level)
    node: str | None = None      # graph node id, for a node
    scope: str | None = None     # scope path, for a collapsed block (the first, for a folded run)
    scopes: tuple[str, ...] = ()  # every block call in a folded run ("block35 ×10"), in order


# ---- what is drawn at a depth ------------------------------------------------------------------
def levels(graph: Graph) -> dict[str, int]:
    """Scope path -> how many block calls (and named sequences) enclose it, itself included.

    Only block calls count, so a depth cuts at the same abstraction everywhere: at depth 2 the
    top-level blocks are open, with their residuals and branches, and the blocks they call are boxes.
    """
    out: dict[str, int] = {}
    for path, sc in graph.scopes.items():          # a parent is defined before its children
        out[path] = out.get(sc.parent, 0) + (sc.kind in COLLAPSIBLE)
    return out


def max_depth(graph: Graph) -> int:
    """The depth at which every node is drawn (0 for a spec without block calls)."""
    return max(levels(graph).values(), default=0)


def _chain(graph: Graph, path: str) -> list[Scope]:
    out = []
    while path:
        sc = graph.scopes[path]
        out.append(sc)
        path = sc.parent
    return out[::-1]


def layout_items(graph: Graph, depth: int | None, fold: bool = True) -> tuple[dict[str, Item], dict[str, Item]]:
    """(the item drawing each node id, the items in first-appearance order) at `depth`.

    The outermost block call at level `depth` or deeper becomes one box, unless it holds a single
    node: then the node itself says more than a box around it. `depth` None draws every node.
    With `fold`, a run of collapsed calls of one block with the same arguments and input shape,
    each feeding only the next (and reading besides only what the previous one reads: a transformer's
    padding mask), becomes one box (`block35 ×10`, `decoder_layer ×12`).
    """
    lv = levels(graph)
    members: dict[str, int] = {}
    for n in graph:
        for sc in _chain(graph, n.scope):
            members[sc.path] = members.get(sc.path, 0) + 1
    of_node: dict[str, Item] = {}
    items: dict[str, Item] = {}
    for n in graph:
        item = None
        if depth is not None:
            for sc in _chain(graph, n.scope):
                if sc.kind in COLLAPSIBLE and lv[sc.path] >= depth and members[sc.path] > 1:
                    item = Item("scope:" + sc.path, sc.parent, scope=sc.path, scopes=(sc.path,))
                    break
        item = item or Item(n.id, n.scope, node=n.id)
        of_node[n.id] = item
        items.setdefault(item.id, item)
    if fold and depth is not None:
        _fold_runs(graph, of_node, items)
    return of_node, items


def _fold_runs(graph: Graph, of_node: dict[str, Item], items: dict[str, Item]) -> None:
    ins: dict[str, set] = {k: set() for k in items}
    outs: dict[str, set] = {k: set() for k in items}
    for n in graph:
        for i in n.inputs:
            a, b = of_node[i].id, of_node[n.id].id
            if a != b:
                outs[a].add(b)
                ins[b].add(a)
    produces_output = {of_node[o].id for o in graph.outputs.values()}

    def key(it: Item):
        sc = graph.scopes[it.scope]
        return (sc.kind, sc.name, repr(sorted(sc.args.items())), graph[sc.input].shape if sc.input else None,
                graph[sc.output].shape if sc.output else None, it.parent)

    merged: dict[str, str] = {}                   # folded item id -> the run's first item id
    order = list(items)
    for a_id, b_id in zip(order, order[1:]):
        head = merged.get(a_id, a_id)
        a, b = items[a_id], items[b_id]
        # b reads a, and otherwise only what a reads too (a mask every layer of a transformer takes)
        if (a.scope is None or b.scope is None or a_id in produces_output or outs[a_id] != {b_id}
                or a_id not in ins[b_id] or not ins[b_id] - {a_id} <= ins[a_id] or key(a) != key(b)):
            continue
        merged[b_id] = head
        items[head] = Item(head, items[head].parent, scope=items[head].scope, scopes=items[head].scopes + b.scopes)
    for b_id in merged:
        del items[b_id]
    for nid, it in list(of_node.items()):
        if it.id in merged or it.id in items:
            of_node[nid] = items[merged.get(it.id, it.id)]


def count_boxes(graph: Graph, depth: int | None, fold: bool = True) -> int:
    return len(layout_items(graph, depth, fold)[1])


def auto_depth(graph: Graph, budget: int = AUTO_BUDGET, fold: bool = True) -> int | None:
    """The deepest depth drawn in at most `budget` boxes (at least 1); None when every node fits."""
    if len(graph) <= budget:
        return None
    best = 1
    for d in range(2, max_depth(graph) + 1):
        if count_boxes(graph, d, fold) > budget:
            break
        best = d
    return best


# ---- text -------------------------------------------------------------------------------------
def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def esc(s: str) -> str:
    """Escape text for a Graphviz HTML-like label."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def shape_text(shape) -> str:
    """(15, 15, 32) → 15×15×32 (the batch dimension is never part of a shape here)."""
    if shape is None:
        return "?"
    return "×".join("?" if d is None else str(d) for d in shape) if shape else "scalar"


def value_text(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "×".join(value_text(x) for x in v)
    return str(v)


def args_text(args: dict, width: int) -> list[str]:
    """`filters=32 kernel=1×7 …` wrapped to lines of about `width` characters."""
    lines, cur = [], ""
    for k, v in args.items():
        part = f"{k}={value_text(v)}"
        if cur and len(cur) + 1 + len(part) > width:
            lines.append(cur)
            cur = part
        else:
            cur = f"{cur} {part}" if cur else part
    return lines + ([cur] if cur else [])


def cost_text(cost) -> str:
    parts = [f"{human(cost.params)} params" if cost.params else "no params"]
    if cost.macs:
        parts.append(f"{human(cost.macs)} MACs")
    return " · ".join(parts)


def metric_value(cost, metric: str) -> float:
    """params and MACs as counted; memory: output activation bytes, batch 1, float32; time and
    train_memory: a training estimate's roofline time and activations kept for the backward pass."""
    if metric == "params":
        return cost.params
    if metric == "macs":
        return cost.macs
    if metric == "memory":
        return cost.elements * 4
    return cost.time_s if metric == "time" else cost.kept_bytes


def metric_text(value: float, metric: str) -> str:
    if metric in ("memory", "train_memory"):
        return human_bytes(value)
    if metric == "time":
        from .training import seconds

        return seconds(value)
    return human(value) + (" params" if metric == "params" else " MACs")


def short_number(v: float, metric: str) -> str:
    """Three significant digits, for the legend: 27.5 K, 128 K, 1.28 M; bytes for memory."""
    if metric == "time":
        return metric_text(v, metric)
    if past_float(v):
        return past_float(v)
    if metric in ("memory", "train_memory"):
        for div, suffix in ((2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB")):
            if v >= div:
                return f"{v / div:.3g} {suffix}"
        return f"{v:.3g} B"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if v >= div:
            return f"{v / div:.3g} {suffix}"
    return f"{v:.3g}"


def op_text(n) -> str:
    """The op's label, with a fused activation: `conv 3×3 /2 · 32 + relu`."""
    op = REGISTRY[n.op]
    text = op.label(n.attrs)
    act = op.activation_of(n.attrs) if op.category != Category.ACT else None
    return text + (f" + {act}" if act else "")


def user_name(n) -> str | None:
    """The layer's own name when the spec gave one (not an automatic `conv2d_3`)."""
    base = re.sub(r"_\d+$", "", n.short)
    return None if base in REGISTRY or base == "act" else n.short


class Ramp:
    """Cost → fill colour, on a log scale spanning RAMP_DECADES below the largest cost shown."""

    def __init__(self, values: list[float]):
        self.top = max(values, default=0)
        self.low = self.top / 10 ** RAMP_DECADES

    def index(self, v: float) -> int | None:
        if v <= 0 or self.top <= 0:
            return None
        if v <= self.low:
            return 0
        return min(len(RAMP) - 1, int(math.log10(v / self.low) / RAMP_DECADES * len(RAMP)))

    def bound(self, k: int) -> float:
        """The smallest cost that gets RAMP[k] (k ≥ 1)."""
        return self.low * 10 ** (RAMP_DECADES * k / len(RAMP))


def ink_on(fill: str) -> tuple[str, str]:
    """(text, secondary text) colours that read well on `fill`."""
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return ("#ffffff", "#f3e5e5") if 0.299 * r + 0.587 * g + 0.114 * b < 150 else (INK, MUTED)


def is_residual_add(graph: Graph, n) -> bool:
    sc = graph.scopes.get(n.scope)
    return sc is not None and sc.kind == "residual" and n.op in (role("residual_add"), role("scaled_residual")) and len(n.inputs) == 2


# ---- the DOT text -----------------------------------------------------------------------------
def to_dot(graph: Graph, analysis, depth: int | None = None, direction: str = "TB", shapes: bool = True,
           color_by: str = "none", block_defaults: dict | None = None, fold: bool = True,
           title: str | None = None) -> str:
    """The DOT text of `graph` with the costs of `analysis`; `depth` None draws every node.

    `block_defaults` ({block: {param: default}}) hides arguments left at their defaults in labels;
    `fold` draws a run of identical collapsed block calls as one box (see layout_items).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")
    writer = _Writer(graph, analysis, depth, direction, shapes, None if color_by == "none" else color_by,
                     block_defaults or {}, fold)
    writer.heading = title or graph.name          # the spec's title: its name with any overrides
    return writer.text()


class _Writer:
    def __init__(self, graph, analysis, depth, direction, shapes, metric, block_defaults, fold):
        self.g, self.a, self.direction, self.shapes, self.metric = graph, analysis, direction, shapes, metric
        self.defaults = block_defaults
        self.of_node, self.items = layout_items(graph, depth, fold)
        self.cost = {}
        for k, it in self.items.items():
            if it.node:
                self.cost[k] = analysis.nodes[it.node]
            else:
                total = type(analysis.total)()
                for p in it.scopes:
                    total.add(analysis.scopes[p])
                self.cost[k] = total
        self.ramp = Ramp([metric_value(c, metric) for k, c in self.cost.items() if not self._is_input(k)]) \
            if metric else None
        self.out: list[str] = []

    def _is_input(self, key: str) -> bool:
        node = self.items[key].node
        return node is not None and REGISTRY[self.g[node].op].source

    def text(self) -> str:
        g, out = self.g, self.out
        out += [
            f"digraph {quote(g.name)} {{",
            f"  graph [rankdir={self.direction}, label=<{self.title()}>, labelloc=t, labeljust=l, "
            f'fontname="{FONT}", fontsize={BODY},',
            '         nodesep=0.22, ranksep=0.3, pad=0.3, newrank=true, bgcolor="#ffffff"];',
            f'  node [fontname="{FONT}", fontsize={BODY}, fontcolor="{INK}", shape=box, style="rounded,filled", '
            'height=0.32, margin="0.12,0.05", penwidth=1];',
            f'  edge [fontname="{FONT}", fontsize={SMALL}, color="{EDGE}", fontcolor="{MUTED}", arrowsize=0.6, '
            'penwidth=0.9];',
        ]
        self.clusters()
        for name, nid in g.outputs.items():
            fill, border = STYLE[Category.IO]
            out.append(f"  {quote('output:' + name)} [label=<{self.terminal(name, g[nid].shape)}>, "
                       f'fillcolor="{fill}", color="{border}"];')
        self.edges()
        out.append("}")
        return "\n".join(out) + "\n"

    # ---- title and legend ----
    def title(self) -> str:
        g, t = self.g, self.a.total
        ins = ", ".join(f"{n} {shape_text(g[n].shape)}" for n in g.inputs)
        rows = [f'<tr><td align="left"><font point-size="17"><b>{esc(getattr(self, "heading", g.name))}</b></font></td></tr>',
                f'<tr><td align="left"><font point-size="{BODY}" color="{MUTED}">{esc(ins)} · {t.layers} layers · '
                f'{t.params:,} params · {esc(human(t.macs))} MACs</font></td></tr>']
        if self.ramp is not None and self.ramp.top > 0:
            rows.append(f'<tr><td align="left">{self.legend()}</td></tr>')
        return '<table border="0" cellspacing="0" cellpadding="1">' + "".join(rows) + "</table>"

    def legend(self) -> str:
        metric = self.metric
        what = {"params": "parameters", "macs": "MACs", "memory": "output activations (batch 1, float32)",
                "time": "training step time (roofline)", "train_memory": "activations kept for backward"}[metric]
        cells = [f'<td><font point-size="{NOTE}">{esc(what)}:</font></td>', self.swatch("#ffffff", "0")]
        cells.append(self.swatch(RAMP[0], "&lt; " + esc(short_number(self.ramp.bound(1), metric))))
        for k in range(1, len(RAMP)):
            cells.append(self.swatch(RAMP[k], "≥ " + esc(short_number(self.ramp.bound(k), metric))))
        return '<table border="0" cellspacing="3" cellpadding="0"><tr>' + "".join(cells) + "</tr></table>"

    @staticmethod
    def swatch(fill: str, text: str) -> str:
        return (f'<td><table border="1" cellborder="0" cellspacing="0" cellpadding="2" color="#9aa9bd">'
                f'<tr><td bgcolor="{fill}" width="14"> </td><td><font point-size="{SMALL}">{text}</font></td></tr>'
                "</table></td>")

    # ---- clusters and boxes ----
    def clusters(self):
        g = self.g
        children: dict[str, list[tuple[str, str]]] = {"": []}
        for key, it in self.items.items():
            missing, p = [], it.parent
            while p not in children:
                missing.append(p)
                p = g.scopes[p].parent
            for p in reversed(missing):
                children[p] = []
                children[g.scopes[p].parent].append(("cluster", p))
            children[it.parent].append(("item", key))

        def emit(path: str, indent: str):
            for kind, key in children[path]:
                if kind == "item":
                    self.out.append(indent + self.item(self.items[key]))
                else:
                    self.out.extend(indent + line for line in self.cluster_head(g.scopes[key]))
                    emit(key, indent + "  ")
                    self.out.append(indent + "}")

        emit("", "  ")

    def shown_args(self, sc: Scope) -> dict:
        defaults = self.defaults.get(sc.name, {}) if sc.kind == "block" else {}
        return {k: v for k, v in sc.args.items() if not (k in defaults and _same(defaults[k], v))}

    def cluster_head(self, sc: Scope) -> list[str]:
        name = quote("cluster_" + sc.path)
        if sc.kind == "path":   # a branch path groups its layers for the layout; it is not drawn
            return [f"subgraph {name} {{", '  graph [style=invis, label="", margin=4];']
        fill, border = CLUSTER.get(sc.kind, CLUSTER["block"])
        args = self.shown_args(sc)
        title = sc.name if sc.kind in COLLAPSIBLE else sc.kind
        if sc.kind == "branches":
            title = f"branches · {args.pop('merge', role('default_merge'))}"
        elif sc.kind == "residual":
            scale = args.pop("scale", 1)
            title = "residual" + (f" · scale {value_text(scale)}" if scale != 1 else "")
        head = f"<b>{esc(title)}</b>"
        lines = args_text(args, 48)
        if lines:
            head += f'{GAP}<font point-size="{NOTE}">{esc(lines[0])}</font>'
        rows = [head] + [f'<font point-size="{NOTE}">{esc(x)}</font>' for x in lines[1:]]
        cost = self.a.scopes[sc.path]
        parent_cost = self.a.scopes.get(sc.parent)
        if parent_cost != cost:   # a residual that is its block's whole body says nothing new
            rows.append(f'<font point-size="{SMALL}" color="{MUTED}">{esc(cost_text(cost))}</font>')
        label = '<br align="left"/>'.join(rows) + '<br align="left"/>'
        return [f"subgraph {name} {{",
                f'  graph [label=<{label}>, style="rounded,filled", fillcolor="{fill}", color="{border}", '
                "labeljust=l, margin=10, penwidth=1];"]

    def item(self, it: Item) -> str:
        cost = self.cost[it.id]
        extra = ""
        if it.scope is not None:
            fill, border = BOX
            extra = ", penwidth=1.3"
            shape, style = "box", "rounded,filled"
        else:
            n = self.g[it.node]
            op = REGISTRY[n.op]
            fill, border = STYLE[op.category]
            shape, style = "box", "rounded,filled"
            if op.category == Category.MERGE:
                shape, style = "ellipse", "filled"
                extra = ', penwidth=1.4, margin="0.06,0.03"' + (", peripheries=2" if is_residual_add(self.g, n) else "")
            elif op.category == Category.REG:
                style = "rounded,dashed,filled"
        if self.ramp is not None and not self._is_input(it.id):   # inputs keep their terminal style
            k = self.ramp.index(metric_value(cost, self.metric))
            fill = "#ffffff" if k is None else RAMP[k]
        ink, muted = ink_on(fill)
        label = self.box_label(it, cost, muted) if it.scope is not None else \
            self.node_label(self.g[it.node], cost, muted)
        where = it.node or (it.scope if len(it.scopes) == 1 else f"{it.scopes[0]} … {it.scopes[-1]}")
        tip = f"{where}: {cost_text(cost)} · {human_bytes(cost.elements * 4)} activations"
        font = f', fontcolor="{ink}"' if ink != INK else ""
        return (f'{quote(it.id)} [label=<{label}>, shape={shape}, style="{style}", fillcolor="{fill}", '
                f'color="{border}"{font}, tooltip={quote(tip)}{extra}];')

    def node_label(self, n, cost, muted) -> str:
        if REGISTRY[n.op].source:
            return self.terminal(n.id, n.shape)
        html = esc(op_text(n))
        name = user_name(n)
        if name:
            html = f"<b>{esc(name)}</b>{GAP}{html}"
        if self.metric and metric_value(cost, self.metric):
            value = metric_text(metric_value(cost, self.metric), self.metric)
            html += f'<br/><font point-size="{SMALL}" color="{muted}">{esc(value)}</font>'
        return html

    def box_label(self, it: Item, cost, muted) -> str:
        """The name with its arguments (for a chain of up to 3 layers, the layers themselves, which
        say more), then input → output shape and the costs; `×N` for a folded run."""
        sc, last, n = self.g.scopes[it.scope], self.g.scopes[it.scopes[-1]], len(it.scopes)
        inner = [n for n in self.g if n.scope == sc.path or n.scope.startswith(sc.path + SEP)]
        chain = len(inner) <= 3 and all(n.inputs == (prev.id,) for prev, n in zip(inner, inner[1:]))
        detail = " › ".join(op_text(n) for n in inner) if chain else \
            " ".join(args_text(self.shown_args(sc), 1000))
        head = f"<b>{esc(sc.name)}</b>" + (f" ×{n}" if n > 1 else "") + (f"{GAP}{esc(detail)}" if detail else "")
        ins = shape_text(self.g[sc.input].shape) if sc.input in self.g.nodes else "?"
        outs = shape_text(self.g[last.output].shape) if last.output in self.g.nodes else "?"
        each = cost_text(self.a.scopes[sc.path])
        line = f"{ins} → {outs} · " + (f"{n} × ({each})" if n > 1 else each)
        if self.metric == "memory":
            line += f" · {human_bytes(cost.elements * 4)} act."
        return head + f'<br/><font point-size="{SMALL}" color="{muted}">{esc(line)}</font>'

    @staticmethod
    def terminal(name: str, shape) -> str:
        return f'<b>{esc(name)}</b><br/><font point-size="{NOTE}" color="{MUTED}">{esc(shape_text(shape))}</font>'

    # ---- edges ----
    def edges(self):
        """One edge per pair of items, in definition order of their heads, with the tensor shape."""
        g, of = self.g, self.of_node
        edges: dict[tuple[str, str], list] = {}
        roles: dict[tuple[str, str], list[str]] = {}     # what an input is for (attention's q, kv), at the head
        for n in g:
            dst = of[n.id].id
            named = REGISTRY[n.op].input_roles(n.attrs, len(n.inputs)) if of[n.id].node is not None else None
            for pos, i in enumerate(n.inputs):
                src = of[i].id
                if src == dst:
                    continue
                e = edges.setdefault((src, dst), [[], False])
                if shape_text(g[i].shape) not in e[0]:
                    e[0].append(shape_text(g[i].shape))
                e[1] = e[1] or (pos == 0 and of[n.id].node is not None and is_residual_add(g, n))
                if named and named[pos] not in roles.setdefault((src, dst), []):
                    roles[(src, dst)].append(named[pos])
        for name, nid in g.outputs.items():
            edges[(of[nid].id, "output:" + name)] = [[shape_text(g[nid].shape)], False]
        fan_out: dict[str, int] = {}
        for src, _ in edges:
            fan_out[src] = fan_out.get(src, 0) + 1
        said: set[tuple[str, str]] = set()
        for (src, dst), (labels, shortcut) in edges.items():
            attrs, text = [], ", ".join(labels)
            role = ",".join(roles.get((src, dst), ()))
            if self.shapes and fan_out[src] == 1:
                attrs.append(f"label={quote(f'{role}: {text}' if role else text)}")
            else:
                if self.shapes and (src, text) not in said:    # a fan-out: say the shape once, at the tail
                    said.add((src, text))
                    attrs.append(f"taillabel={quote(text)}, labeldistance=2.2, labelangle=-30")
                if role:
                    attrs.append(f"label={quote(role)}")
            if shortcut:
                attrs.append(f'style=dashed, color="{STYLE[Category.MERGE][1]}", penwidth=1.1')
            self.out.append(f"  {quote(src)} -> {quote(dst)}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")


def _same(default, value) -> bool:
    if isinstance(default, list):
        default = tuple(default)
    if isinstance(value, list):
        value = tuple(value)
    return type(default) is type(value) and default == value or (default is None and value is None)

