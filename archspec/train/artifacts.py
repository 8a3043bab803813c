"""The run folder: its layout, and the files written into it (all atomically).

::

    RUN_DIR/
      settings.json     resolved settings (the objective: classify | next_token), seed, data, versions and the
                        command that repeats the run
      tokenizer.json    text runs: the tokenizer (train/tokens.py) that turns text into the run's token ids
      spec/             the spec file(s) as trained (includes keep their relative paths)
      graph.txt         the expanded graph, one line per layer (`archspec check --dump graph`)
      checkpoint.npz    resumable state after the last completed epoch
      best.keras        the model at the best monitored epoch;  last.keras: at the last epoch
      history.csv       one row per epoch: losses, metrics, learning rate, seconds, images/s
      curves.png        accuracy and loss, training vs validation
      tensorboard/      TensorBoard event files (`tensorboard --logdir RUN_DIR/tensorboard`)
      metrics.json      final test metrics (and which weights they were measured with)
      summary.txt       a short human-readable account of the run
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ..files import atomic_write


class RunFolder:
    def __init__(self, path):
        self.path = Path(path)

    def __getattr__(self, name):
        files = {"settings": "settings.json", "spec_dir": "spec", "graph": "graph.txt",
                 "checkpoint": "checkpoint.npz", "best": "best.keras", "last": "last.keras",
                 "history_csv": "history.csv", "curves": "curves.png", "tensorboard": "tensorboard",
                 "metrics": "metrics.json", "summary": "summary.txt", "cache": "cache", "tokenizer": "tokenizer.json"}
        if name in files:
            return self.path / files[name]
        raise AttributeError(name)

    OWN = ("settings.json", "spec", "graph.txt", "checkpoint.npz", "best.keras", "last.keras", "history.csv",
           "curves.png", "tensorboard", "metrics.json", "summary.txt", "cache", "kernels.png", "neighbours.png",
           "tokenizer.json")

    def spec_clash(self, spec) -> str | None:
        """Why this folder holds a run of another spec (a different main spec file name or text), or None.
        Reads only settings.json and spec/, so `archspec train` can say it before TensorFlow loads."""
        try:
            main = json.loads(self.settings.read_text(encoding="utf-8")).get("spec")
        except (OSError, ValueError, AttributeError):
            return None
        if not main or spec.source.path is None:
            return None
        ours = Path(spec.source.path)
        theirs = self.path / main
        try:
            same = theirs.name == ours.name and theirs.read_text(encoding="utf-8") == spec.source.text
        except (OSError, UnicodeDecodeError):
            same = False
        if same:
            return None
        what = "" if theirs.name == ours.name else f" ({theirs.name}, not {ours.name})"
        where = ""
        if theirs.name == ours.name:
            try:
                a, b = theirs.read_text(encoding="utf-8").splitlines(), spec.source.text.splitlines()
                line = next((i for i, (x, y) in enumerate(zip(a, b), 1) if x != y), min(len(a), len(b)) + 1)
                where = f" from line {line}"
            except (OSError, UnicodeDecodeError):
                pass
        return (f"{self.path} holds a run of another spec{what}: {theirs} differs from {spec.source.file}{where}; "
                "pass --out NEW_FOLDER for a new run, or --restart to replace it")

    def clear(self) -> None:
        """Remove what a previous run wrote (and nothing else)."""
        import shutil

        for name in self.OWN:
            p = self.path / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()


def lower_is_better(key: str) -> bool:
    """A loss or a perplexity: its target is an upper bound."""
    return "loss" in key or "perplexity" in key


def write_json(path, obj) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def write_history_csv(path, history: list[dict]) -> None:
    cols = ["epoch"]
    for row in history:
        cols += [k for k in row if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: _fmt(row.get(k)) for k in cols})
    atomic_write(path, buf.getvalue().encode())


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def copy_spec(run: RunFolder, spec) -> str:
    """Copy the spec and its includes; returns the main file's path relative to the run folder."""
    paths = {name: Path(s.path).resolve() for name, s in spec.sources.items() if s.path is not None}
    main = spec.source.path
    if main is None:       # spec from text: write it as is
        atomic_write(run.spec_dir / f"{spec.name}.yaml", spec.source.text.encode())
        return f"spec/{spec.name}.yaml"
    root = Path(os.path.commonpath([str(p.parent) for p in paths.values()]))
    for name, p in paths.items():
        atomic_write(run.spec_dir / p.relative_to(root), spec.sources[name].text.encode())
    return str(Path("spec") / Path(main).resolve().relative_to(root))


def save_png(fig, path) -> None:
    """A matplotlib figure as a PNG file, written whole or not at all."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write(path, buf.getvalue())


def plot_curves(path, history: list[dict], title: str = "") -> bool:
    """Accuracy and loss per epoch, training vs validation (matplotlib's Agg canvas, no pyplot state)."""
    if not history:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    keys = [k for k in history[0] if k not in ("epoch", "seconds", "images_per_s", "tokens_per_s", "learning_rate")
            and not k.startswith("val_")]
    metrics = [k for k in keys if k != "loss"][:3] + ["loss"]
    fig = Figure(figsize=(5 * len(metrics), 4), dpi=100)
    FigureCanvasAgg(fig)
    epochs = [r["epoch"] for r in history]
    for i, m in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        ax.plot(epochs, [r.get(m) for r in history], "o-", ms=3, label=f"training {m}")
        if any(r.get("val_" + m) is not None for r in history):
            ax.plot(epochs, [r.get("val_" + m) for r in history], "s--", ms=3, label=f"validation {m}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(m)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_png(fig, path)
    return True


def summary_text(r) -> str:
    """`r`: a RunResult."""
    lines = [f"run       {r.out}", f"spec      {r.spec_name} ({r.params:,} params)", f"data      {r.data}"]
    lines.append(f"epochs    {r.epochs_done} of {r.epochs_planned}" +
                 (" (stopped early)" if r.stopped_early else "") +
                 (f", resumed after epoch {r.resumed_from}" if r.resumed_from else ""))
    if r.best:
        lines.append(f"best      {r.best['monitor']} = {r.best['value']:.4f} at epoch {r.best['epoch']}")
    if r.images_per_s:
        lines.append(f"speed     {r.images_per_s:,.0f} images/s (median over epochs), {r.seconds:.1f} s training")
    if getattr(r, "tokens_per_s", None):
        lines.append(f"speed     {r.tokens_per_s:,.0f} tokens/s (median over epochs), {r.seconds:.1f} s training")
    val = (r.history or [{}])[-1].get("val_perplexity")
    if val is not None:
        lines.append(f"perplexity {val:.3f} on validation after the last epoch (exp of its loss, "
                     f"{(r.history or [{}])[-1].get('val_loss', float('nan')):.4f} nats per token)")
    if r.test:
        lines.append("test      " + ", ".join(f"{k} = {v:.4f}" for k, v in r.test.items()) + f"  ({r.weights} weights)")
    for k, (want, got, ok) in (r.targets or {}).items():
        upper = lower_is_better(k)
        lines.append(f"target    {k} ≥ {want}: {'met' if ok else 'MISSED'} ({got:.4f})" if not upper
                     else f"target    {k} ≤ {want}: {'met' if ok else 'MISSED'} ({got:.4f})")
    lines.append(f"settings  {r.settings_line}")
    return "\n".join(lines) + "\n"


__all__ = ["RunFolder", "write_json", "write_history_csv", "copy_spec", "plot_curves", "summary_text"]
