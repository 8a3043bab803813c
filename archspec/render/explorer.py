"""Graph + analysis → Google Model Explorer JSON (`archspec view`, `archspec draw --format model-explorer`).

Pure, like :mod:`archspec.render.dot`: no model_explorer, flask or framework import. The format is the
one `model_explorer.graph_builder` declares (its dataclasses serialised by `dataclasses.asdict`):

- a graph collection ``{"label", "graphs": [graph]}``, the shape Model Explorer's JSON loader opens;
- one node per layer: ``id`` the scope path, ``label`` the layer's short name, ``namespace`` the
  enclosing scope path, so the spec's block calls, residuals and branches become layers that expand and
  collapse (the clusters of `draw`); ``attrs`` the op, its attributes, costs and source ``file:line``;
  ``incomingEdges`` one per input; ``outputsMetadata`` the output shape (the edge labels);
- ``groupNodeAttributes`` per scope: block name, arguments, rolled-up costs, source;
- node data overlays (:func:`node_data`), one per metric: params, MACs, output memory and, with a
  training estimate, activations kept for the backward pass and the roofline step time; coloured per
  node on the same log ramp as `draw --color-by`.

>>> from archspec import api
>>> spec = api.load_text('''
... archspec: 1
... name: tiny
... inputs: {x: [8, 8, 3]}
... model:
...   - conv2d: {filters: 4, kernel: 3}
...   - global_avg_pool: {}
... ''')
>>> g = graph_json(spec.graph, spec.analysis())
>>> [(n["id"], n["namespace"], [e["sourceNodeId"] for e in n["incomingEdges"]]) for n in g["nodes"]]
[('x', '', []), ('conv2d', '', ['x']), ('global_avg_pool', '', ['conv2d'])]
>>> node_data(g["id"], spec.analysis(), "params")["results"]["conv2d"]["value"]
112
"""
from __future__ import annotations

import json

from ..graph import Graph
from ..ops import REGISTRY
from .dot import CLUSTER, RAMP, STYLE, Ramp, ink_on, metric_text, metric_value, op_text, shape_text, value_text
from .tables import human, human_bytes

# overlay name -> (metric of dot.metric_value, needs a training estimate)
METRICS = {
    "params": ("params", False),
    "MACs": ("macs", False),
    "output memory": ("memory", False),
    "kept for backward": ("train_memory", True),
    "step time": ("time", True),
}


def _kv(key: str, value) -> dict:
    return {"key": key, "value": value if isinstance(value, str) else value_text(value)}


def _source(loc) -> str | None:
    return f"{loc.file}:{loc.line}" if loc is not None and loc.line > 0 else None


def _cost_attrs(cost, training_cost=None) -> list[dict]:
    out = [_kv("params", f"{cost.params:,}"),
           _kv("trainable", f"{cost.trainable:,}"),
           _kv("MACs", f"{cost.macs:,} ({human(cost.macs)})"),
           _kv("FLOPs", f"{cost.flops:,} ({human(cost.flops)})"),
           _kv("output memory", human_bytes(cost.elements * 4) + " (batch 1, float32)")]
    if training_cost is not None:
        out += [_kv("training FLOPs", f"{human(training_cost.fwd_flops)} forward + "
                                      f"{human(training_cost.bwd_flops)} backward"),
                _kv("kept for backward", human_bytes(training_cost.kept_bytes))]
        if training_cost.time_s:
            out.append(_kv("step time", metric_text(training_cost.time_s, "time")
                           + (f" ({training_cost.bound}-bound)" if training_cost.bound else "")))
    return out


def graph_json(graph: Graph, analysis, training=None, graph_id: str | None = None) -> dict:
    """One Model Explorer graph (a `graph_builder.Graph` as a dict) for `graph`.

    `training`: a passes.training.TrainingEstimate, whose per-layer figures join the attributes."""
    nodes = []
    outputs = {nid: name for name, nid in graph.outputs.items()}
    for n in graph:
        op = REGISTRY[n.op]
        cost = analysis.nodes[n.id]
        attrs = [_kv("op", n.op)]
        if not op.source:
            attrs.append(_kv("layer", op_text(n)))
        dumped = n.attrs.model_dump() if hasattr(n.attrs, "model_dump") else {}
        attrs += [_kv(k, v) for k, v in dumped.items() if v is not None]
        attrs.append(_kv("output shape", shape_text(n.shape)))
        attrs += _cost_attrs(cost, training.nodes.get(n.id) if training is not None else None)
        src = _source(n.loc)
        if src:
            attrs.append(_kv("source", src))
        for note in n.trace:        # block call sites, innermost first
            if note.loc is not None and _source(note.loc):
                attrs.append(_kv("called from", f"{_source(note.loc)}  {note.message}"))
        if n.id in outputs:
            attrs.append(_kv("model output", outputs[n.id]))
        fill, border = STYLE.get(op.category, STYLE["other"])
        nodes.append({
            "id": n.id,
            "label": n.short,
            "namespace": n.scope,
            "subgraphIds": [],
            "attrs": attrs,
            "incomingEdges": [{"sourceNodeId": i, "sourceNodeOutputId": "0", "targetNodeInputId": str(k)}
                              for k, i in enumerate(n.inputs)],
            "outputsMetadata": [{"id": "0", "attrs": [_kv("shape", shape_text(n.shape)),
                                                      _kv("__tensor_tag", n.short)]}],
            "inputsMetadata": [],
            "style": {"backgroundColor": fill, "borderColor": border, "hoveredBorderColor": border},
            "config": None,
        })
    groups: dict[str, dict[str, str]] = {}
    configs, by_kind = [], {}
    for path, sc in graph.scopes.items():
        cost = analysis.scopes.get(path)
        entry = {"kind": sc.kind, "block": sc.name}
        entry.update({f"arg {k}": value_text(v) for k, v in sc.args.items()})
        if cost is not None:
            entry.update({kv["key"]: kv["value"]
                          for kv in _cost_attrs(cost, training.scopes.get(path) if training is not None else None)})
            entry["layers"] = str(cost.layers)
        src = _source(sc.loc)
        if src:
            entry["source"] = src
        groups[path] = entry
        by_kind.setdefault(CLUSTER.get(sc.kind, CLUSTER["block"]), []).append(path)
    for (fill, border), paths in by_kind.items():      # draw's cluster colours, one rule per colour
        configs.append({"namespaceRegex": "^(" + "|".join(_regex_escape(p) for p in paths) + ")$",
                        "layoutDirection": None, "backgroundColor": fill, "borderColor": border, "textColor": None})
    return {
        "id": graph_id or graph.name,
        "nodes": nodes,
        "groupNodeAttributes": groups,
        "groupNodeConfigs": configs,
        "nodeLabelsToHide": None,
        "tasksData": None,
        "layoutConfigs": None,
    }


def _regex_escape(s: str) -> str:
    import re

    return re.escape(s)


def node_data(graph_id: str, analysis, metric: str, training=None) -> dict:
    """A Model Explorer `GraphNodeData` (as a dict) of one overlay: each layer's value of `metric` (a key of
    METRICS), its background on draw's log ramp (so one heavy layer does not wash out the rest) and a
    readable text colour. Zero-valued layers keep their own colour."""
    key, needs = METRICS[metric]
    if needs and training is None:
        raise ValueError(f"the '{metric}' overlay needs a training estimate")
    if needs:
        from ..passes.training import with_training

        costs = with_training(analysis, training).nodes
    else:
        costs = analysis.nodes
    values = {nid: metric_value(costs[nid], key) for nid in analysis.graph.nodes}
    ramp = Ramp(list(values.values()))
    results = {}
    for nid, v in values.items():
        r: dict = {"value": v}
        k = ramp.index(v)
        if k is not None:
            r["bgColor"] = RAMP[k]
            r["textColor"] = ink_on(RAMP[k])[0]
        results[nid] = r
    return {"name": metric, "results": results, "thresholds": [], "gradient": [],
            "hideInAggregatedStatsTable": False, "hideInChildrenStatsTable": False,
            "showExpandedSummaryOnGroupNode": False, "showLabelCountColumnsInChildrenStatsTable": False}


def overlays(training=None) -> list[str]:
    """The overlay names available: the training ones only with an estimate (the time one with a device)."""
    out = [m for m, (_, needs) in METRICS.items() if not needs]
    if training is not None:
        out.append("kept for backward")
        if training.device is not None:
            out.append("step time")
    return out


def collection(label: str, graphs: list[dict]) -> dict:
    """A graph collection, the JSON file Model Explorer opens (File → upload, or `model-explorer FILE`)."""
    return {"label": label, "graphs": graphs, "graphSorting": "node_count_desc"}


def model_node_data(per_graph: dict[str, dict]) -> dict:
    """A `ModelNodeData` (graph id → GraphNodeData) for one overlay over several graphs."""
    return dict(per_graph)


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1) + "\n"
