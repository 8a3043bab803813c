"""Predict classes for image files, or for a split of a data source: the top-k classes and their
probabilities per image, as a table, CSV or JSON. Image files are checked (decoded once) first and
go through the training input pipeline (decode, resize to the input, the run's rescale), so a file
gets the prediction its training counterpart would. Imports Keras.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from .data import IMAGE_EXTS, Dataset, Split, check_images, unreadable_error
from .runs import RunError, Target, class_names, load_data, model_inputs, probabilities, split_of


def image_files(items: list[str]) -> list[str]:
    """The image files named, folders searched recursively (sorted), in the order given."""
    out = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
            if not found:
                raise RunError(f"{item}: the folder holds no image files ({', '.join(IMAGE_EXTS)})")
            out += found
        elif p.is_file():
            out.append(str(p))
        else:
            raise RunError(f"{item}: no such image file or folder")
    return out


def predict(target: Target, images: list[str] | None = None, data_arg: str | None = None, split: str = "test",
            top_k: int = 3, batch_size: int = 256, limit: int | None = None) -> list[dict]:
    """One row per image: `file` (or `index`), `label` when known, `top`: [{class, index, probability}]."""
    if images:
        files = image_files(images)
        bad = check_images(files)
        if bad:
            raise unreadable_error(bad, len(files))
        plan = target.plan
        if len(plan.input_shape) != 3:
            raise RunError(f"the model takes flat vectors of {plan.input_shape[0]} values; image files need a "
                           "model whose input is (height, width, channels)")
        names = class_names(target)
        part = Split(np.zeros(len(files), np.int32), None, files)
        ds = Dataset("files", f"{len(files)} image files", part, None, part, names, None)
        probs = probabilities(target, model_inputs(ds, part, plan, target.settings, batch_size))
        known = {n: i for i, n in enumerate(names)}
        rows = [{"file": f, **({"label": Path(f).parent.name} if Path(f).parent.name in known else {})}
                for f in files]
    else:
        ds, plan, settings = load_data(target, data_arg)
        target.plan = plan
        part = split_of(ds, split)
        if limit:
            part = part.take(np.arange(min(limit, len(part))))
        names = class_names(target, ds)
        probs = probabilities(target, model_inputs(ds, part, plan, settings, batch_size))
        rows = [{"file": f} if part.files else {"index": i} for i, f in
                enumerate(part.files or range(len(part)))]
        for r, y in zip(rows, part.y):
            r["label"] = names[int(y)] if int(y) < len(names) else str(int(y))
    names = names + [str(i) for i in range(len(names), probs.shape[1])]
    k = min(top_k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    for r, p, idx in zip(rows, probs, order):
        r["top"] = [{"class": names[i], "index": int(i), "probability": round(float(p[i]), 6)} for i in idx]
    return rows


def render(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    k = max((len(r["top"]) for r in rows), default=0)
    key = "file" if rows and "file" in rows[0] else "index"
    labelled = any("label" in r for r in rows)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([key, *(["label"] if labelled else []),
                    *[c for j in range(1, k + 1) for c in (f"class_{j}", f"probability_{j}")]])
        for r in rows:
            w.writerow([r[key], *([r.get("label", "")] if labelled else []),
                        *[v for t in r["top"] for v in (t["class"], f"{t['probability']:.6f}")]])
        return buf.getvalue()
    width = min(60, max([len(str(r[key])) for r in rows] + [len(key)]))
    lines = [f"{key:<{width}}  " + ("label       " if labelled else "") + "top classes (probability)"]
    for r in rows:
        name = str(r[key])
        name = name if len(name) <= width else "…" + name[-(width - 1):]
        mark = ""
        if labelled:
            ok = r.get("label") == r["top"][0]["class"]
            mark = f"{r.get('label', ''):<10}{' ' if 'label' not in r else ('✓' if ok else '✗')} "
        lines.append(f"{name:<{width}}  {mark}" + "  ".join(f"{t['class']} ({t['probability']:.3f})" for t in r["top"]))
    if labelled:
        have = [r for r in rows if "label" in r]
        right = sum(r["label"] == r["top"][0]["class"] for r in have)
        lines.append(f"{right} of {len(have)} labelled images predicted right")
    return "\n".join(lines) + "\n"


__all__ = ["predict", "render", "image_files"]
