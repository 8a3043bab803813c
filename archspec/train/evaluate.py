"""Evaluate a trained model on a data split: accuracy, loss, top-k accuracy, the confusion matrix (as a
PNG) and precision / recall / F1 per class, from the model's own predictions through the training
input pipeline. Imports Keras, scikit-learn and matplotlib.

The loss is the mean cross-entropy of the predicted probabilities (clipped to [1e-7, 1 - 1e-7] as
Keras does), so on a run's test split it equals the ``test_loss`` and ``test_accuracy`` that training
measured with ``model.evaluate`` (a test checks it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import atomic_write
from . import runs
from .artifacts import save_png, write_json


@dataclass
class Evaluation:
    model: str
    data: str
    split: str
    images: int
    classes: list[str]
    accuracy: float
    loss: float
    top_k: int
    top_k_accuracy: float | None
    per_class: list[dict]           # class, precision, recall, f1, support
    confusion: list[list[int]]      # rows: true class, columns: predicted
    files: dict                     # what was written
    what: str = "images"            # what `images` counts (sequences for a sequence classifier)

    def to_json(self) -> dict:
        return dict(vars(self))

    def table(self) -> str:
        w = max(8, max(len(c) for c in self.classes) + 1)
        lines = [f"{self.model} on {self.data}, {self.split} split: {self.images:,} {self.what}, "
                 f"{len(self.classes)} classes",
                 f"accuracy  {self.accuracy:.4f}   loss {self.loss:.4f}" +
                 (f"   top-{self.top_k} accuracy {self.top_k_accuracy:.4f}" if self.top_k_accuracy is not None
                  else ""), "",
                 f"{'class':<{w}} precision  recall      f1  support"]
        for r in self.per_class:
            lines.append(f"{r['class']:<{w}} {r['precision']:9.4f} {r['recall']:7.4f} {r['f1']:7.4f} "
                         f"{r['support']:8d}")
        macro = {k: float(np.mean([r[k] for r in self.per_class])) for k in ("precision", "recall", "f1")}
        lines.append(f"{'macro avg':<{w}} {macro['precision']:9.4f} {macro['recall']:7.4f} {macro['f1']:7.4f} "
                     f"{self.images:8d}")
        worst = sorted(((self.confusion[i][j], self.classes[i], self.classes[j])
                        for i in range(len(self.classes)) for j in range(len(self.classes)) if i != j),
                       reverse=True)[:3]
        worst = [w_ for w_ in worst if w_[0]]
        if worst:
            lines.append("")
            lines.append("most confused: " + ", ".join(f"{t} taken for {p} ×{n}" for n, t, p in worst))
        for what, path in self.files.items():
            lines.append(f"{what}: {path}")
        return "\n".join(lines) + "\n"


def evaluate(target: runs.Target, data_arg: str | None, split: str = "test", out_dir: Path | None = None,
             top_k: int = 5, batch_size: int = 256) -> Evaluation:
    ds, plan, settings = runs.load_data(target, data_arg)
    target.plan = plan
    part = runs.split_of(ds, split)
    probs = runs.probabilities(target, runs.model_inputs(ds, part, plan, settings, batch_size))
    return report(target, ds.describe().split(":")[0], split, probs, part.y, runs.class_names(target, ds),
                  plan.units, top_k, out_dir)


def report(target: runs.Target, data: str, split: str, probs: np.ndarray, y, names: list[str], units: int,
           top_k: int = 5, out_dir: Path | None = None, what: str = "images") -> Evaluation:
    """The Evaluation of class probabilities `probs` (n, classes) against labels `y`, written to `out_dir`
    (evaluation.json, per_class.csv, confusion.png)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y = np.asarray(y).astype(int)
    k = probs.shape[1]
    if len(names) < k:
        names = names + [str(i) for i in range(len(names), k)]
    pred = probs.argmax(axis=1)
    eps = 1e-7
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], eps, 1 - eps))))
    if units == 1:                   # Keras's binary cross-entropy: both terms clipped
        p = np.clip(probs[:, 1], eps, 1 - eps)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    top = min(top_k, k - 1) if k > 2 else None
    topk_acc = None
    if top and top > 1:
        best = np.argsort(-probs, axis=1)[:, :top]
        topk_acc = float(np.mean([yi in row for yi, row in zip(y, best)]))
    labels = list(range(k))
    prec, rec, f1, sup = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    cm = confusion_matrix(y, pred, labels=labels)
    per_class = [{"class": names[i], "precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                  "support": int(sup[i])} for i in labels]
    out_dir = Path(out_dir) if out_dir else target.default_out / f"evaluation-{split}"
    ev = Evaluation(target.label, data, split, len(y), names[:k], float(np.mean(pred == y)),
                    loss, top or 1, topk_acc, per_class, cm.tolist(), {}, what)
    png = out_dir / "confusion.png"
    plot_confusion(png, cm, names[:k], f"{Path(target.label).name}: {split} split, accuracy {ev.accuracy:.4f}")
    ev.files = {"confusion matrix": str(png), "report": str(out_dir / "evaluation.json"),
                "per class": str(out_dir / "per_class.csv")}
    write_json(out_dir / "evaluation.json", ev.to_json())
    csv = "class,precision,recall,f1,support\n" + "".join(
        f"{_csv(r['class'])},{r['precision']:.6g},{r['recall']:.6g},{r['f1']:.6g},{r['support']}\n" for r in per_class)
    atomic_write(out_dir / "per_class.csv", csv.encode())
    return ev


def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def plot_confusion(path: Path, cm: np.ndarray, names: list[str], title: str) -> None:
    """Counts in each cell, coloured by the share of the true class (row), so rare classes read too."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(names)
    size = min(max(4.0, 0.55 * k + 2), 24)
    fig = Figure(figsize=(size + 1, size), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if k <= 40:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8 if k <= 20 else 6,
                            color="white" if share[i, j] > 0.5 else "black")
    ticks = range(k)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels(names, rotation=90 if max(map(len, names)) > 3 else 0, fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


__all__ = ["Evaluation", "evaluate", "report", "plot_confusion"]
