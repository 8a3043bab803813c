"""What a search leaves behind, read from the study (all workers' trials): the results table (CSV and
JSON), the Pareto plot of accuracy against MACs, and the best candidate written as a plain spec."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..files import atomic_write
from .concrete import concrete_text, moved_root

FIXED = ["trial", "state", "kind", "value", "params", "macs", "epochs", "test_accuracy", "train_seconds", "price_ms",
         "reason", "error", "worker"]


def rows(study) -> list[dict]:
    """One row per trial, in trial order: its point, what it costs, what it scored, what became of it."""
    out = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        kind = a.get("kind", "")
        if a.get("interrupted"):
            kind = "interrupted"
        row = {"trial": t.number, "state": t.state.name.lower(), "kind": kind, "value": t.value,
               **a.get("cost", {}), **{k: v for k, v in a.items() if k not in ("kind", "interrupted", "cost")}}
        row.update({f"p:{k}": v for k, v in t.params.items()})
        out.append(row)
    return out


def write_table(rows_: list[dict], out: Path) -> tuple[Path, Path]:
    keys = [k for k in FIXED if any(k in r for r in rows_)]
    keys += sorted({k for r in rows_ for k in r if k.startswith("p:")}, key=lambda k: k)
    keys += sorted({k for r in rows_ for k in r} - set(keys))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for r in rows_:
        w.writerow({k: r.get(k, "") for k in keys})
    csv_path, json_path = out / "results.csv", out / "results.json"
    atomic_write(csv_path, buf.getvalue().encode())
    atomic_write(json_path, (json.dumps(rows_, indent=1, default=str) + "\n").encode())
    return csv_path, json_path


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (fewer MACs, higher accuracy).

    >>> pareto([(1, 0.9), (2, 0.95), (3, 0.93), (1, 0.8)])
    [0, 1]
    """
    front = []
    for i, (m, a) in enumerate(points):
        if not any((m2 <= m and a2 >= a) and (m2 < m or a2 > a) for m2, a2 in points):
            front.append(i)
    return front


def plot(rows_: list[dict], out: Path, title: str, metric: str, budget) -> Path | None:
    """accuracy vs MACs: trained candidates (pruned ones hollow), the Pareto front joined, the best
    ringed, the MAC bound as a line and the rejected candidates' MACs as ticks along the bottom."""
    trained = [r for r in rows_ if r["kind"] == "candidate" and r["state"] == "complete"]
    pruned = [r for r in rows_ if r["kind"] == "candidate" and r["state"] == "pruned" and r.get("last")]
    if not trained and not pruned:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    xs = [r["macs"] for r in trained]  # (rows carry the cost fields flat)
    ys = [r["value"] for r in trained]
    ax.scatter(xs, ys, s=36, color="#1f77b4", label="trained", zorder=3)
    if pruned:
        ax.scatter([r["macs"] for r in pruned], [r["last"] for r in pruned], s=36, facecolors="none",
                   edgecolors="#7f7f7f", label="pruned (last epoch)", zorder=2)
    front = sorted((xs[i], ys[i]) for i in pareto(list(zip(xs, ys))))
    if front:
        ax.plot([p[0] for p in front], [p[1] for p in front], "-", color="#ff7f0e", lw=1.5, label="Pareto front",
                zorder=2)
        best = min(trained, key=lambda r: _rank(r["value"], r["macs"], metric))
        ax.scatter([best["macs"]], [best["value"]], s=160, facecolors="none", edgecolors="#d62728", lw=2,
                   label=f"best: trial {best['trial']}", zorder=4)
    rejected = [r["macs"] for r in rows_ if r["kind"] == "rejected" and r.get("macs")]
    if rejected:
        ax.plot(rejected, [0.03] * len(rejected), "|", color="#d62728", alpha=0.6, ms=12, mew=1.5,
                transform=ax.get_xaxis_transform(),            # x in data, y along the bottom of the axes
                label=f"rejected unbuilt ({len(rejected)})")
    for b in budget:
        if b.metric.name == "macs":
            ax.axvline(b.limit, color="#d62728", ls="--", lw=1, label=f"budget {b.text}")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from .budget import _human

    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _human(v, "count")))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("MACs per example (log scale)")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = out / "pareto.png"
    from ..files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def best_trial(study, metric: str):
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("kind") in ("candidate",)]
    if not done:
        return None
    return min(done, key=lambda t: _rank(t.value, t.user_attrs.get("cost", {}).get("macs", 0), metric))


def _rank(value, macs, metric) -> tuple:
    """Best first: the metric (a validation accuracy on a few hundred images ties often), then fewer MACs."""
    return (value if "loss" in metric else -value, macs)


def write_best(study, spec_path: str, overrides: dict, metric: str, out: Path, space) -> tuple[Path, object] | None:
    """The best trial's point as a plain spec (OUT/best.yaml, or .json for a JSON spec), checked."""
    from .. import api

    t = best_trial(study, metric)
    if t is None:
        return None
    point = {k: _decode(space[k], v) for k, v in t.params.items() if k in space}
    values = {**overrides, **point}
    src = api.load(spec_path, values)
    a = t.user_attrs
    header = (f"{src.name}: the best of {len(study.trials)} trials of `archspec search` (study '{study.study_name}'), "
              f"trial {t.number}\n" + ", ".join(f"{k}={v}" for k, v in point.items())
              + f": {metric} {t.value:.4f}" + (f", test_accuracy {a['test_accuracy']:.4f}" if "test_accuracy" in a else "")
              + f"; {src.analysis().total.params:,} params, {src.analysis().total.macs:,} MACs")
    path = out / ("best.json" if src.source.text.lstrip().startswith("{") else "best.yaml")
    root = moved_root(spec_path, path) if src.data.get("include") else None
    if root:
        header += f"\nits includes are rebased: check or train it with --root {root}"
    text = concrete_text(src.source.text, values, header, move=(Path(spec_path).parent, out))
    from ..lang.jsonschema import place_modeline

    text = place_modeline(text, path, spec_path)             # first line, rebased to where it goes
    atomic_write(path, text.encode())
    api.load(path, root=root)                                # what was written checks where it is
    return path, t


def _decode(dim, v):
    """Optuna stores a choice of lists by its JSON text."""
    if dim.kind == "choice" and isinstance(v, str) and not any(isinstance(c, str) for c in dim.values):
        return json.loads(v)
    return v
