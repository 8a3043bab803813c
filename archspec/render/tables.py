"""`archspec report`: per-layer or per-block cost tables as text, Markdown, CSV or JSON.

MACs and FLOPs are always shown side by side, under a header that states the input shape,
batch size, dtype and what each number counts.
"""
from __future__ import annotations

import io
import json

from ..graph import SEP
from ..ops import REGISTRY
from .text import CONVENTION, header_lines, human, human_bytes, past_float, row_head  # noqa: F401  (human*: used from here too)

SOURCES = {name for name, op in REGISTRY.items() if op.source}   # model inputs, not layers

MIXED = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}     # report --dtype → training precision


def rows(spec, depth: int | None, batch_size: int, dtype: str) -> list[dict]:
    """Table rows in definition order. Scopes nested deeper than `depth` collapse into their
    ancestor at level `depth`; each shown scope gets a roll-up row before its members."""
    g, a = spec.graph, spec.analysis(batch_size, dtype)
    out, shown = [], set()
    for n in g:
        chain = g.scope_chain(n.scope)
        for level, sc in enumerate(chain, start=1):
            if sc.path in shown:
                if depth is not None and level >= depth:
                    break
                continue
            shown.add(sc.path)
            c = a.scopes[sc.path]
            out.append(_row(sc.path, level - 1, sc.name if sc.kind == "block" else sc.kind,
                            g[sc.output].shape if sc.output and g[sc.output].shape else None, c, a, True))
            if depth is not None and level >= depth:
                break
        else:
            out.append(_row(n.id, len(chain), REGISTRY[n.op].label(n.attrs),
                            n.shape, a.nodes[n.id], a, False, n.op))
    return out


def _row(path, level, kind, shape, cost, a, is_scope, op=None):
    return {"name": path, "level": level, "kind": kind, "op": op or ("block" if is_scope else kind),
            "scope": is_scope, "output_shape": list(shape) if shape else None,
            "params": cost.params, "trainable": cost.trainable, "non_trainable": cost.non_trainable,
            "macs": cost.macs, "flops": cost.flops, "layers": cost.layers,
            "activation_bytes": cost.elements * a.batch_size * a.bytes_per_elem if not is_scope else
            cost.elements * a.batch_size * a.bytes_per_elem}


def summary(spec, batch_size=1, dtype="float32") -> dict:
    g, a = spec.graph, spec.analysis(batch_size, dtype)
    t = a.total
    return {
        "name": spec.name,
        "title": spec.title,
        "overrides": dict(spec.overrides),
        "inputs": {n: list(g[n].shape) for n in g.inputs},
        "outputs": {k: list(g[v].shape) for k, v in g.outputs.items()},
        "batch_size": batch_size, "dtype": dtype, "conventions": CONVENTION,
        "layers": t.layers, "params": t.params, "trainable": t.trainable, "non_trainable": t.non_trainable,
        "macs": t.macs, "flops": t.flops,
        "param_bytes": a.param_bytes, "activation_bytes": a.act_bytes(t),
        "peak_activation_bytes": a.peak_bytes, "peak_at": a.peak_at,
        "training_bytes_estimate": spec.training_estimate(batch_size, "adam", MIXED.get(dtype, "float32")).peak_bytes,
    }


def auto_depth(spec, most: int = 8) -> int:
    """The report's default depth: 1, opened a level further while the deepest level shown is one block
    row alone (a model that is a single block call, a block that is a single `branches`) — a table whose
    only row is the whole network says nothing the total does not."""
    depth = 1
    while depth < most:
        deepest = [r for r in rows(spec, depth, 1, "float32") if r["level"] == depth - 1 and r["op"] not in SOURCES]
        if not (len(deepest) == 1 and deepest[0]["scope"]):
            break
        depth += 1
    return depth


def render_report(spec, fmt="table", depth=1, batch_size=1, dtype="float32", training=None) -> str:
    """The report; `training` (a passes.training.TrainingEstimate) adds the training columns and totals.
    `depth`: block levels shown (None: every layer; "auto": see auto_depth)."""
    if depth == "auto":
        depth = auto_depth(spec)
    table = rows(spec, depth, batch_size, dtype)
    head = summary(spec, batch_size, dtype)
    if training is not None:
        from .training import add_training

        add_training(table, head, training)
        if fmt == "table":
            from .training import text_report

            return text_report(head, table, training)
    if fmt == "json":
        return json.dumps({"summary": head, "rows": table,
                           "warnings": [w.to_json() for w in spec.warnings]}, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        cols = ["name", "kind", "scope", "output_shape", "params", "trainable", "non_trainable", "macs", "flops",
                "activation_bytes"]
        if training is not None:
            from .training import TRAIN_FIELDS

            cols += TRAIN_FIELDS
        import csv

        w = csv.DictWriter(buf, cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in table:
            w.writerow({**r, "output_shape": "x".join(map(str, r["output_shape"] or []))})
        return buf.getvalue()
    if fmt == "markdown":
        text = _markdown(head, fold_rows(table) if training is None else table)
        if training is not None:
            from .training import footer_lines

            text += "\n" + "".join(f"{line}  \n" for line in footer_lines(training))
        return text
    return _text(head, fold_rows(table))


SUMMED = ("params", "trainable", "non_trainable", "macs", "flops", "layers", "activation_bytes")   # a folded row's totals
FOLD_KEYS = ("level", "kind", "output_shape") + SUMMED          # equal in every call of a folded run


def fold_rows(table: list[dict]) -> list[dict]:
    """A run of consecutive collapsed calls of one block with equal shapes and costs (a transformer's 12
    layers) becomes one row, `decoder_layer_1 … 12` of type `[decoder_layer ×12]`, its costs summed. Only for
    reading: JSON and CSV keep one row per call."""
    out: list[dict] = []
    for k, r in enumerate(table):
        nxt = table[k + 1] if k + 1 < len(table) else None
        collapsed = r["scope"] and (nxt is None or nxt["level"] <= r["level"])
        prev = out[-1] if out else None
        parent = r["name"].rsplit(SEP, 1)[0] if SEP in r["name"] else ""
        if (collapsed and prev is not None and prev.get("_fold") and parent == prev["_parent"]
                and all(r[key] == prev["_fold"][key] for key in FOLD_KEYS)):
            prev["_count"] += 1
            for key in SUMMED:
                prev[key] += r[key]
            prev["_last"] = r["name"]
            continue
        row = dict(r)
        if collapsed:
            row.update(_fold=dict(r), _count=1, _parent=parent)
        out.append(row)
    for row in out:
        if row.pop("_fold", None) is not None:
            count = row.pop("_count")
            row.pop("_parent")
            last = row.pop("_last", None)
            if count > 1:
                row["folded_name"] = f"{row['name']} … {last.rsplit(SEP, 1)[-1].rsplit('_', 1)[-1]}"
                row["kind"] = f"{row['kind']} ×{count}"
    return out


def _footer_lines(h) -> list[str]:
    return [
        f"total: {h['params']:,} params ({h['trainable']:,} trainable, {h['non_trainable']:,} non-trainable), "
        f"{h['macs']:,} MACs ({human(h['macs'])}), {h['flops']:,} FLOPs ({human(h['flops'])})",
        f"memory: params {human_bytes(h['param_bytes'])}, peak activations {human_bytes(h['peak_activation_bytes'])} "
        f"(inference, at {h['peak_at']}), training ≈ {human_bytes(h['training_bytes_estimate'])} "
        "(peak with Adam; --train for the breakdown)",
    ]


def _cells(r) -> list[str]:
    return [*row_head(r), f"{r['params']:,}", human(r["macs"]), human(r["flops"]), human_bytes(r["activation_bytes"])]


COLS = ["layer / block", "type", "output", "params", "MACs", "FLOPs", "activations"]


def _text(h, table) -> str:
    cells = [_cells(r) for r in table]
    widths = [max(len(c[i]) for c in cells + [COLS]) for i in range(len(COLS))]
    right = {3, 4, 5, 6}

    def line(c):
        return "  ".join(x.rjust(w) if i in right else x.ljust(w) for i, (x, w) in enumerate(zip(c, widths))).rstrip()

    rule = "─" * sum(widths) + "─" * 2 * (len(widths) - 1)
    out = header_lines(h) + ["", line(COLS), rule] + [line(c) for c in cells] + [rule] + _footer_lines(h)
    return "\n".join(out) + "\n"


def _markdown(h, table) -> str:
    out = [f"**{header_lines(h)[0]}**", "", f"_{CONVENTION}_", "",
           "| " + " | ".join(COLS) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 4) + "|"]
    for r in table:
        c = _cells(r)
        c[0] = c[0].replace("  ", "&nbsp;&nbsp;")
        c[0] = f"**{c[0]}**" if r["scope"] else c[0]
        out.append("| " + " | ".join(x.replace("|", "\\|") for x in c) + " |")
    out += [""] + [f"{line}  " for line in _footer_lines(h)]
    return "\n".join(out) + "\n"
