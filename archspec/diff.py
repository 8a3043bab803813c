"""`archspec diff A B`: what changed between two specs and what it costs.

Layers are matched by scope path (the ids in `archspec check --dump graph`), scopes (blocks, residuals,
branches) likewise. For each: added, removed, or changed (op, attributes, output shape, parameters), and
the cost delta (params, MACs, activation memory) per top-level row and in total.
"""
from __future__ import annotations

import json

from .graph import SEP
from .ops import REGISTRY
from .render.text import human, human_bytes


def _attrs(n) -> dict:
    return n.attrs.model_dump()


def diff_specs(a, b, depth: int | None = 1, batch_size: int = 1, dtype: str = "float32", training=None) -> dict:
    """`training`: (estimate of a, estimate of b) from Spec.training_estimate, for the training deltas."""
    ga, gb = a.graph, b.graph
    xa, xb = a.analysis(batch_size, dtype), b.analysis(batch_size, dtype)
    layers = []
    for nid in list(ga.nodes) + [k for k in gb.nodes if k not in ga.nodes]:
        na, nb = ga.nodes.get(nid), gb.nodes.get(nid)
        if na is None or nb is None:
            n, x = (nb, xb) if na is None else (na, xa)
            c = x.nodes[nid]
            sign = 1 if na is None else -1
            layers.append({"id": nid, "status": "added" if na is None else "removed", "op": n.op,
                           "shape_a": list(na.shape) if na else None, "shape_b": list(nb.shape) if nb else None,
                           "params": sign * c.params, "macs": sign * c.macs, "changes": []})
            continue
        changes = []
        if na.op != nb.op:
            changes.append(f"op {na.op} → {nb.op}")
        else:
            da, db = _attrs(na), _attrs(nb)
            for k in da:
                if da[k] != db.get(k):
                    changes.append(f"{k} {_fmt(da[k])} → {_fmt(db.get(k))}")
        if na.inputs != nb.inputs:
            changes.append(f"inputs {', '.join(na.inputs)} → {', '.join(nb.inputs)}")
        if na.shape != nb.shape:
            changes.append(f"output {na.shape} → {nb.shape}")
        ca, cb = xa.nodes[nid], xb.nodes[nid]
        if changes or ca.params != cb.params:
            layers.append({"id": nid, "status": "changed", "op": nb.op, "shape_a": list(na.shape),
                           "shape_b": list(nb.shape), "params": cb.params - ca.params, "macs": cb.macs - ca.macs,
                           "changes": changes})
    scopes = []
    for path in list(ga.scopes) + [k for k in gb.scopes if k not in ga.scopes]:
        sa, sb = ga.scopes.get(path), gb.scopes.get(path)
        if sa is None or sb is None:
            s = sb or sa
            scopes.append({"path": path, "status": "added" if sa is None else "removed",
                           "kind": s.name if s.kind == "block" else s.kind, "changes": []})
            continue
        changes = [f"{k} {_fmt(sa.args.get(k))} → {_fmt(sb.args.get(k))}"
                   for k in dict.fromkeys(list(sa.args) + list(sb.args)) if sa.args.get(k) != sb.args.get(k)]
        if sa.name != sb.name:
            changes.insert(0, f"block {sa.name} → {sb.name}")
        if changes:
            scopes.append({"path": path, "status": "changed", "kind": sb.name if sb.kind == "block" else sb.kind,
                           "changes": changes})
    rows = _rollup(a, b, xa, xb, depth)
    ta, tb = xa.total, xb.total
    return {
        "a": a.name, "b": b.name, "batch_size": batch_size, "dtype": dtype,
        "total": {"params": [ta.params, tb.params], "trainable": [ta.trainable, tb.trainable],
                  "macs": [ta.macs, tb.macs], "flops": [ta.flops, tb.flops],
                  "activation_bytes": [xa.act_bytes(ta), xb.act_bytes(tb)],
                  "peak_activation_bytes": [xa.peak_bytes, xb.peak_bytes], "layers": [ta.layers, tb.layers]},
        "rows": rows,
        "scopes": scopes,
        "layers": layers,
        "counts": {s: sum(1 for x in layers if x["status"] == s) for s in ("added", "removed", "changed")},
        **({"training": {"a": training[0].to_json(), "b": training[1].to_json()}} if training else {}),
    }


def _key(graph, nid_or_scope: str, depth):
    """The row a layer or scope rolls up into: its ancestor at `depth` levels (or itself)."""
    if depth is None:
        return nid_or_scope
    parts = nid_or_scope.split(SEP)
    return SEP.join(parts[:depth])


def _rollup(a, b, xa, xb, depth):
    order, rows = [], {}
    for side, spec, x in (("a", a, xa), ("b", b, xb)):
        for n in spec.graph:
            key = _key(spec.graph, n.id, depth)
            if key not in rows:
                rows[key] = {"name": key, "params": [0, 0], "macs": [0, 0], "activation_bytes": [0, 0],
                             "kind": [None, None]}
                order.append(key)
            r = rows[key]
            i = 0 if side == "a" else 1
            c = x.nodes[n.id]
            r["params"][i] += c.params
            r["macs"][i] += c.macs
            r["activation_bytes"][i] += c.elements * x.batch_size * x.bytes_per_elem
            sc = spec.graph.scopes.get(key)
            r["kind"][i] = (sc.name if sc.kind == "block" else sc.kind) if sc else (
                REGISTRY[n.op].label(n.attrs))
    out = []
    for k in order:
        r = rows[k]
        r["status"] = ("added" if r["kind"][0] is None else "removed" if r["kind"][1] is None else
                       "changed" if (r["params"][0], r["macs"][0]) != (r["params"][1], r["macs"][1])
                       or r["kind"][0] != r["kind"][1] else "same")
        out.append(r)
    return out


def _fmt(v):
    if isinstance(v, tuple):
        return "×".join(map(str, v)) if all(isinstance(x, int) for x in v) and len(v) == 2 else str(v)
    return str(v)


def _delta(x, y, f=lambda v: f"{v:,}"):
    d = y - x
    if d == 0:
        return "="
    pct = f" ({100 * d / x:+.0f}%)" if x else ""
    return ("+" if d > 0 else "−") + f(abs(d)) + pct


def _training_lines(ta: dict, tb: dict) -> list[str]:
    from .render.training import seconds

    out = [f"training (batch {ta['batch_size']}, {ta['optimizer']}, {ta['precision']}): "
           f"FLOPs {human(ta['train_flops'])} → {human(tb['train_flops'])} "
           f"{_delta(ta['train_flops'], tb['train_flops'], human)}, peak memory {human_bytes(ta['peak_bytes'])} → "
           f"{human_bytes(tb['peak_bytes'])} {_delta(ta['peak_bytes'], tb['peak_bytes'], human_bytes)}"]
    if "device" in ta:
        fits = {True: "fits", False: "does not fit"}
        unit = "tokens" if "tokens_per_s" in ta and "tokens_per_s" in tb else "images"     # token models: tokens/s
        out.append(f"on {ta['device_title']}: step {seconds(ta['step_time_s'])} → {seconds(tb['step_time_s'])} "
                   f"{_delta(ta['step_time_s'], tb['step_time_s'], seconds)}, {unit}/s {ta[unit + '_per_s']:,.0f} → "
                   f"{tb[unit + '_per_s']:,.0f}; memory: {fits[ta['fits']]} → {fits[tb['fits']]}")
    return out


def render_diff(d: dict, fmt: str = "table", everything: bool = False) -> str:
    if fmt == "json":
        return json.dumps(d, indent=2) + "\n"
    lines = [f"{d['a']} → {d['b']}  (batch {d['batch_size']}, {d['dtype']}; MACs = multiply-accumulates of "
             "conv/dense/attention layers)", ""]
    head = ["block / layer", "status", "params A", "params B", "Δ params", "MACs A", "MACs B", "Δ MACs"]
    table = []
    for r in d["rows"]:
        if r["status"] == "same":
            continue
        pa, pb = r["params"]
        ma, mb = r["macs"]
        table.append([r["name"], r["status"], f"{pa:,}", f"{pb:,}", _delta(pa, pb), human(ma), human(mb),
                      _delta(ma, mb, human)])
    t = d["total"]
    (pa, pb), (ma, mb) = t["params"], t["macs"]
    table.append(["total", "", f"{pa:,}", f"{pb:,}", _delta(pa, pb), human(ma), human(mb), _delta(ma, mb, human)])
    widths = [max(len(str(row[i])) for row in table + [head]) for i in range(len(head))]

    def line(row):
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    lines += [line(head), rule] + [line(r) for r in table[:-1]] + [rule, line(table[-1])]
    aa, ab = t["activation_bytes"]
    qa, qb = t["peak_activation_bytes"]
    lines += [f"activations {human_bytes(aa)} → {human_bytes(ab)}, peak {human_bytes(qa)} → {human_bytes(qb)}; "
              f"layers {t['layers'][0]} → {t['layers'][1]}"]
    if "training" in d:
        lines += _training_lines(d["training"]["a"], d["training"]["b"])
    lines.append("")
    c = d["counts"]
    marks = {"added": "+", "removed": "-", "changed": "~"}
    if d["scopes"]:
        lines.append("blocks:")
        for x in d["scopes"][:100]:
            lines.append(f"  {marks[x['status']]} {x['path']} [{x['kind']}]" +
                         (f": {'; '.join(x['changes'])}" if x["changes"] else ""))
        lines.append("")
    lines.append(f"layers: {c['changed']} changed, {c['added']} added, {c['removed']} removed")
    shown = d["layers"] if everything else [
        x for x in d["layers"] if x["status"] != "changed" or any(not ch.startswith("output ") for ch in x["changes"])]
    for x in shown[:200]:
        mark = marks[x["status"]]
        detail = "; ".join(x["changes"]) if x["changes"] else (
            f"{x['op']} {tuple(x['shape_b'] or x['shape_a'])}")
        p = f", params {x['params']:+,}" if x["params"] else ""
        lines.append(f"  {mark} {x['id']}: {detail}{p}")
    if len(shown) > 200:
        lines.append(f"  … {len(shown) - 200} more (use --format json)")
    hidden = len(d["layers"]) - len(shown)
    if hidden:
        lines.append(f"  … and {hidden} layers whose output shape (and so their cost) changed with them (--all lists them)")
    return "\n".join(lines) + "\n"
