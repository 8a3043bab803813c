"""Look inside a trained run (seed notebook 001): the first convolution's kernels as an image grid, and
the nearest neighbours of a sample in the embedding a hidden layer computes.

Layers are named by their Keras name or their spec scope path (``stage1/conv`` is the Keras layer
``stage1.conv``, see :func:`archspec.compile.keras_name`). Imports Keras and matplotlib.
"""
from __future__ import annotations

import json

import numpy as np

from ..errors import did_you_mean
from .artifacts import RunFolder, save_png


class InspectError(Exception):
    """The run folder or the request is not usable (the CLI exits with status 2)."""


def load_run(path, which: str = "best"):
    """(RunFolder, settings.json content, keras.Model) of a run folder."""
    run = RunFolder(path)
    if not run.settings.exists():
        raise InspectError(f"{run.path} is not a run folder (no settings.json); `archspec train --out` makes one")
    meta = json.loads(run.settings.read_text(encoding="utf-8"))
    order = [run.best, run.last] if which == "best" else [run.last, run.best]
    file = next((p for p in order if p.exists()), None)
    if file is None:
        raise InspectError(f"{run.path} holds no trained model yet (best.keras / last.keras): the run has not "
                           "finished an epoch")
    from ..compile import load_model

    return run, meta, load_model(file)


def find_layer(model, name: str):
    from ..compile import keras_name

    for candidate in (name, keras_name(name)):
        try:
            return model.get_layer(candidate)
        except ValueError:
            pass
    names = [layer.name for layer in model.layers]
    hint = did_you_mean(name, names + [n.replace(".", "/") for n in names])
    raise InspectError(f"the model has no layer '{name}'" + (f"; {hint}" if hint else "") +
                       f" (layers: {', '.join(names)})")


def first_conv(model, name: str | None = None):
    if name:
        layer = find_layer(model, name)
        if not any(len(w.shape) == 4 for w in layer.weights):
            raise InspectError(f"layer '{layer.name}' ({type(layer).__name__}) has no 2-D convolution kernel")
        return layer
    for layer in model.layers:
        if any(len(w.shape) == 4 for w in layer.weights):
            return layer
    raise InspectError("the model has no convolution layer")


def kernel_grid(model, out_png, layer_name: str | None = None, columns: int = 8) -> str:
    """Draw every output filter of the first (or named) convolution as a tile; returns the layer name.

    One input channel: grey; three: colour; more: the mean over input channels (said in the title).
    All tiles share one scale, so brightness compares across filters."""
    import keras

    layer = first_conv(model, layer_name)
    kernel = next(keras.ops.convert_to_numpy(w) for w in layer.weights if len(w.shape) == 4)
    kh, kw, cin, cout = kernel.shape
    rgb = cin == 3
    tiles = kernel if rgb else kernel.mean(axis=2, keepdims=True)
    lim = float(np.abs(tiles).max()) or 1.0
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(columns, cout)
    rows = -(-cout // cols)
    fig = Figure(figsize=(1.3 * cols, 1.3 * rows + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    for i in range(cout):
        ax = fig.add_subplot(rows, cols, i + 1)
        t = tiles[:, :, :, i]
        if rgb:
            ax.imshow((t / lim + 1) / 2, interpolation="nearest")
        else:
            ax.imshow(t[:, :, 0], cmap="gray", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=7)
    how = "" if rgb or cin == 1 else f", mean over {cin} input channels"
    fig.suptitle(f"{layer.name}: {cout} kernels {kh}×{kw}{how}", fontsize=9)
    fig.tight_layout()
    save_png(fig, out_png)
    return layer.name


def _samples(run: RunFolder, meta: dict, split: str, limit: int):
    """Up to `limit` preprocessed images (as the model sees them) and labels of a split of the run's data."""
    from .. import api
    from . import data, planning
    from .config import Settings
    from .pipeline import make_inputs

    settings = Settings.from_json(meta["settings"])
    spec = api.load(run.path / meta["spec"], settings.overrides)
    ds = data.load(settings, spec)
    part = getattr(ds, split)
    if part is None or len(part) == 0:
        raise InspectError(f"the run's data has no {split} split; use --split train or validation")
    sub = part.take(np.arange(min(limit, len(part))))
    ds.train, ds.validation, ds.test = sub, None, sub
    settings.augment = settings.early_stopping = settings.lr_schedule = settings.steps_per_epoch = None
    settings.target = {}
    plan = planning.plan(spec, settings, ds)
    xs, ys = [], []
    for x, y in make_inputs(ds, plan, settings, seed=0).test:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    y = np.concatenate(ys)
    y = y.argmax(-1) if plan.labels == "onehot" else y.reshape(-1)
    return np.concatenate(xs), y.astype(int), ds.class_names


def neighbours(run_dir, layer_name: str, n: int = 4, sample: int = 0, split: str = "test", limit: int = 1000,
               out_png=None, which: str = "best") -> dict:
    """Embed up to `limit` images of `split` with the output of `layer_name`, find the `n` nearest
    neighbours (Euclidean) of image number `sample`, draw them beside it and return them."""
    import keras
    from sklearn.neighbors import NearestNeighbors

    run, meta, model = load_run(run_dir, which)
    layer = find_layer(model, layer_name)
    x, y, names = _samples(run, meta, split, limit)
    if not 0 <= sample < len(x):
        raise InspectError(f"--sample {sample}: the {split} split has images 0…{len(x) - 1} (of the first {limit})")
    if n >= len(x):
        raise InspectError(f"--neighbours {n}: only {len(x)} images to search")
    embed = keras.Model(model.inputs, layer.output)
    emb = np.asarray(embed.predict(x, verbose=0, batch_size=256)).reshape(len(x), -1)
    nn = NearestNeighbors(n_neighbors=n + 1).fit(emb)
    dist, idx = nn.kneighbors(emb[sample:sample + 1], n + 1)
    order = [(int(i), float(d)) for i, d in zip(idx[0], dist[0]) if int(i) != sample][:n]
    found = {"layer": layer.name, "dimensions": int(emb.shape[1]), "split": split, "searched": len(x),
             "sample": {"index": sample, "label": names[y[sample]]},
             "neighbours": [{"index": i, "label": names[y[i]], "distance": round(d, 4)} for i, d in order]}
    found["same_label"] = sum(nb["label"] == found["sample"]["label"] for nb in found["neighbours"])
    if out_png is not None and x.ndim == 4:
        _draw_neighbours(out_png, x, y, names, sample, order, layer.name)
    return found


def _draw_neighbours(path, x, y, names, sample, order, layer):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(order) + 1
    fig = Figure(figsize=(1.8 * k, 2.3), dpi=100)
    FigureCanvasAgg(fig)
    for j, (i, d) in enumerate([(sample, 0.0)] + order):
        ax = fig.add_subplot(1, k, j + 1)
        img = x[i].astype(np.float32)
        img = (img - img.min()) / (np.ptp(img) or 1.0)
        ax.imshow(img[:, :, 0] if img.shape[-1] == 1 else img[:, :, :3], cmap="gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"#{i} '{names[y[i]]}'" + ("\nquery" if j == 0 else f"\nd={d:.3g}"), fontsize=8)
    fig.suptitle(f"nearest neighbours in the output of {layer}", fontsize=9)
    fig.tight_layout()
    save_png(fig, path)


def layer_table(model) -> list[tuple[str, str, str]]:
    """(Keras name, class, output shape) of every layer."""
    out = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape[1:]))
        except (AttributeError, ValueError):
            shape = "?"
        out.append((layer.name, type(layer).__name__, shape))
    return out


__all__ = ["InspectError", "load_run", "find_layer", "kernel_grid", "neighbours", "layer_table"]
