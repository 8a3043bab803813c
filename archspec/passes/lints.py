"""Design warnings: networks that build but are almost certainly not what the author meant.

Each warning has a code in codes.WARNINGS, a location and a hint; `--strict` turns them into errors.
"""
from __future__ import annotations

from ..errors import Diagnostic, Note, focus
from ..graph import Graph
from ..ops import REGISTRY, Op
from .analyze import node_cost

# the ops that have lints of their own, or mix the tokens of a sequence (the rest skip those checks)
_LINTED = frozenset(k for k, op in REGISTRY.items() if type(op).lint is not Op.lint and not op.source)
_MIXERS = frozenset(k for k, op in REGISTRY.items() if type(op).token_mixing is not Op.token_mixing)

DOMINANT_SHARE = 0.5                 # (compared as 2 * p > total below)
DOMINANT_MIN_TOTAL = 1_000_000


def design_warnings(graph: Graph, analysis=None, main_file: str | None = None) -> list[Diagnostic]:
    """Every design warning of `graph`, found in one pass over its nodes (the order does not matter:
    callers sort diagnostics by place)."""
    out: list[Diagnostic] = []

    def warn(code, msg, node, hint=None, notes=()):
        loc, trace = focus(node.loc, node.trace, main_file)
        out.append(Diagnostic(code, msg, loc, node.id, hint, tuple(notes) + trace, "warning"))

    outputs = set(graph.outputs.values())
    nodes = graph.nodes
    costs = analysis.nodes if analysis is not None else None
    total = analysis.total.params if analysis is not None else 0
    weighted, dominant = 0, None
    for n in nodes.values():
        op = REGISTRY[n.op]
        a = n.attrs
        # 1. windows larger than their input
        if op.window and n.inputs:
            shape = nodes[n.inputs[0]].shape
            win = op.window_size(a)
            if win and len(shape) == 3 and (win[0] > shape[0] or win[1] > shape[1]):
                kind = "window" if op.category == "pool" else "kernel"
                warn("kernel-exceeds-input",
                     f"{op.label(a)}: its {win[0]}×{win[1]} {kind} is larger than the {shape[0]}×{shape[1]} "
                     "feature map it runs on", n,
                     "padding 'same' only adds zeros around it; downsample less before this layer, "
                     "or use a smaller kernel")
        act = op.activation_of(a)
        # 3. a bias immediately cancelled by batch normalization
        if op.weighted and act is None and getattr(a, "use_bias", False):
            succ = graph.succs[n.id]
            nxt = nodes[succ[0]] if len(succ) == 1 else None
            if nxt is not None and REGISTRY[nxt.op].cancels_bias(nxt.attrs):
                warn("bias-before-bn", f"the bias of this {n.op} is cancelled by the {nxt.op} right after it", n,
                     "set use_bias: false (batch_norm's beta does the same job); "
                     "a scope's `defaults: {conv2d: {use_bias: false}}` does it everywhere")
        # 4. one layer holding most of the parameters (judged after the pass)
        if costs is not None:
            c = n.cost or node_cost(graph, n)        # what analysis.nodes[n.id] holds, without a Cost object
            p = c[0] + c[1]
            if p:
                weighted += 1
                if 2 * p > total:                # p > DOMINANT_SHARE (1/2) of total, in integers: no float overflow
                    dominant = n
        # 5. dropout rates that read like keep probabilities
        if op.dropout and a.rate > 0.5:
            warn("high-dropout", f"dropout rate {a.rate:g} drops {100 * a.rate:.0f}% of the activations",
                 n, f"Keras's rate is the fraction dropped; TensorFlow 1's keep_prob was the fraction kept "
                    f"(did you mean rate: {1 - a.rate:.2g}?)")
        # 6. an activation right after a layer that already applied one
        if op.category == "act" and n.inputs:
            prev = nodes[n.inputs[0]]
            pop = REGISTRY[prev.op]
            prev_act = pop.activation_of(prev.attrs)
            if not pop.source and prev_act and pop.category != "act" and len(graph.succs[prev.id]) == 1:
                warn("double-activation", f"{op.label(a)} follows {prev.id}, which already applies {prev_act}",
                     n, f"remove one of them (activation: {prev_act} on {prev.op}, or this layer)")
        # 7. softmax inside the network
        if act == "softmax" and n.id not in outputs:
            warn("softmax-not-last", "softmax is applied to a tensor that is not a model output", n,
                 "softmax belongs on the classifier output; inside the network use another activation")

        # 8. the op's own lints (attention heads that do not divide the hidden size, ...)
        if n.op in _LINTED:
            for code, msg, hint in op.lint(a, [nodes[i].shape for i in n.inputs], n.shape):
                warn(code, msg, n, hint)

    # 9. a causal attention reading tokens that already saw later ones
    for n, origin in _causal_leaks(graph) if any(n.op in _MIXERS for n in nodes.values()) else ():
        warn("causal-leak", f"this attention is causal, but its input already mixes in later tokens ({origin.id}: "
             f"{REGISTRY[origin.op].label(origin.attrs)})", n,
             "make the earlier token mixing causal as well (causal: true), or drop the causal mask here",
             [Note(f"{origin.id} reads every token", origin.loc)])

    if dominant is not None and total >= DOMINANT_MIN_TOTAL and weighted >= 3:
        n, p = dominant, costs[dominant.id].params
        prev = nodes[n.inputs[0]] if n.inputs else None
        while prev is not None and REGISTRY[prev.op].transparent and prev.inputs:
            prev = nodes[prev.inputs[0]]
        hint = ("a global_avg_pool instead of flatten, or more downsampling before it, shrinks it"
                if prev is not None and _flattens(graph, prev) else
                "check that this layer's size is intended")
        warn("dominant-layer", f"this {n.op} holds {p:,} of the network's {total:,} parameters "
             f"({100 * p / total:.0f}%)", n, hint)

    # 2. spatial collapse to 1×1 while spatial layers still run on it
    origin, hit = _collapse(graph)
    if hit:
        n = nodes[origin]
        warn("spatial-collapse",
             f"the feature map collapses to 1×1 here, yet {len(hit)} later layer"
             f"{'s' if len(hit) > 1 else ''} with spatial kernels run on that single pixel", n,
             "keep more resolution (fewer strides or 'valid' paddings), or end the network here",
             [Note(f"for example {hit[0].id}", hit[0].loc)])
    return out


def _is_pixel(shape) -> bool:
    return shape is not None and len(shape) == 3 and shape[0] == 1 and shape[1] == 1


def _collapse(graph: Graph):
    """(the first node where a feature map collapses to 1×1, the layers with spatial kernels that run on the
    collapsed map), following the data: a tensor stays collapsed while every input it is computed from is
    collapsed (a 1×1 conv, an upsampling of the pixel), so a squeeze-and-excitation gate — pool, 1×1 convs,
    multiplied back onto the un-pooled map — ends at the multiply, and the convolutions after it run on the
    full map. None, [] when no spatial kernel runs on a collapsed map."""
    collapsed: dict[str, str] = {}                       # node id → the collapse it comes from
    hits: dict[str, list] = {}
    for n in graph:
        shape = n.shape
        if not collapsed and not _is_pixel(shape):
            continue                                     # nothing collapsed yet, nor here (most layers)
        op = REGISTRY[n.op]
        if op.source or shape is None or not n.inputs:
            continue
        came = [collapsed.get(i) for i in n.inputs]
        if all(came):
            win = op.window_size(n.attrs) if op.window else None
            if win and tuple(win) != (1, 1):
                hits.setdefault(came[0], []).append(n)
            if len(n.shape) == 3:
                collapsed[n.id] = came[0]
        elif _is_pixel(n.shape) and not any(_is_pixel(graph[i].shape) for i in n.inputs):
            collapsed[n.id] = n.id                       # where the map becomes a pixel
    for origin in collapsed.values():
        if origin in hits:
            first = origin
            return first, [m for o in dict.fromkeys(collapsed.values()) for m in hits.get(o, [])]
    return None, []


def _flattens(graph: Graph, n) -> bool:
    """`n` lays a feature map out flat: a rank-3 input becomes a vector of the same size (flatten, reshape)."""
    if len(n.inputs) != 1 or n.shape is None:
        return False
    shape = graph[n.inputs[0]].shape
    return shape is not None and len(shape) == 3 and len(n.shape) == 1 and n.shape[0] == shape[0] * shape[1] * shape[2]


def _causal_leaks(graph: Graph) -> list:
    """(causal node, the earlier node that lets its input see later tokens), first such node per causal one."""
    seen: dict[str, object] = {}                 # node id → the non-causal token mixer upstream (or None)
    out = []
    for n in graph.nodes.values():                # nodes are in topological order
        op = REGISTRY[n.op]
        mixing, aligned = op.token_mixing(n.attrs, len(n.inputs))
        ins = n.inputs if aligned is None else [n.inputs[k] for k in aligned if k < len(n.inputs)]
        upstream = next((seen[i] for i in ins if seen.get(i) is not None), None)
        if mixing == "causal" and upstream is not None:
            out.append((n, upstream))
        seen[n.id] = upstream if upstream is not None else (n if mixing == "all" else None)
    return out
