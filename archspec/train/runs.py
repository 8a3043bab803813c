"""A trained model to use: a run folder (its spec, settings, plan and class names come along) or a bare
``.keras`` file (the plan is read off the model). Shared by ``evaluate``, ``predict`` and ``export``.

The model a run folder stands for is the one its test metrics were measured with: ``best.keras`` when
``restore_best_weights`` put the best epoch's weights back, else ``last.keras`` (``which`` chooses).
The run's input preprocessing — decoding and resizing files, resize, rescale, flatten — is reused
through the same input pipeline training used, so a run evaluates on its test split exactly as its
``metrics.json`` says.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .artifacts import RunFolder
from .config import RunError, Settings


@dataclass
class Target:
    model: object                     # keras.Model
    model_path: Path
    run: RunFolder | None
    settings: Settings
    spec: object | None               # archspec Spec of the run
    plan: object                      # planning.Plan
    classes: list[str] | None
    meta: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.run.path} ({self.model_path.name})" if self.run else str(self.model_path)

    @property
    def default_out(self) -> Path:
        """Where reports go by default: the run folder, or beside a bare model."""
        return self.run.path if self.run else self.model_path.parent


def _run_of(path: Path) -> RunFolder | None:
    if path.is_dir() and (path / "settings.json").exists():
        return RunFolder(path)
    if path.is_file() and (path.parent / "settings.json").exists():
        return RunFolder(path.parent)
    return None


def open_target(path: str, which: str | None = None, rescale: float | None = None) -> Target:
    """Load the model `path` names. Raises RunError (a usage mistake) if there is none."""
    from ..compile import load_model

    p = Path(path).expanduser()
    if not p.exists():
        raise RunError(f"{path}: no such run folder or model file")
    run = _run_of(p)
    if p.is_dir() and run is None:
        raise RunError(f"{path} is not a run folder (no settings.json); pass a run folder written by "
                       "`archspec train` or a .keras file")
    if p.is_file() and p.suffix != ".keras":
        raise RunError(f"{path}: expected a run folder or a .keras model file, not '{p.suffix or p.name}'")
    if run is None:
        model = _load(load_model, p)
        plan = plan_of_model(model)
        return Target(model, p, None, Settings.from_json({"data": {}, "rescale": rescale}), None, plan, None)
    meta = json.loads(run.settings.read_text(encoding="utf-8"))
    settings = Settings.from_json(meta["settings"])
    if rescale is not None:
        settings.rescale = rescale
    if p.is_file():
        file = p
    else:
        metrics = json.loads(run.metrics.read_text(encoding="utf-8")) if run.metrics.exists() else {}
        final = run.best if str(metrics.get("weights", "")).startswith("best") else run.last
        wanted = {"best": run.best, "last": run.last}.get(which or "", final)
        file = next((f for f in (wanted, final, run.last, run.best) if f.exists()), None)
        if file is None:
            raise RunError(f"{run.path} holds no trained model yet (best.keras / last.keras): the run has not "
                           "finished an epoch")
        if which and file != wanted:
            raise RunError(f"{run.path} has no {wanted.name}")
    from .. import api
    from .planning import Plan

    spec = api.load(run.path / meta["spec"], settings.overrides) if meta.get("spec") else None
    plan = Plan(**{**meta["plan"], "input_shape": tuple(meta["plan"]["input_shape"]), "warnings": []})
    return Target(_load(load_model, file), file, run, settings, spec, plan, meta.get("classes"), meta)


def _load(load_model, file: Path):
    try:
        return load_model(file)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file is the user's to fix
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunError(f"{file}: cannot be loaded as a Keras model ({first})") from None


def plan_of_model(model):
    """The Plan of a bare Keras classifier: input from its input layer, logits unless it ends with a
    softmax or sigmoid, integer labels (binary for one unit)."""
    from .planning import Plan

    ishape = tuple(model.inputs[0].shape[1:])
    units = int(model.outputs[0].shape[-1])
    last = model.layers[-1]
    act = getattr(getattr(last, "activation", None), "__name__", None)
    logits = act not in ("softmax", "sigmoid")
    loss = "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"
    return Plan(ishape, loss, logits, "binary" if units == 1 else "int", units, False, len(ishape) == 1,
                ishape[-1] if len(ishape) == 3 else 1, [])


def load_data(target: Target, data_arg: str | None):
    """(Dataset, Plan) for `--data` (default: the run's own data), checked against the model."""
    from ..errors import Diagnostic, Loc
    from . import data as data_mod
    from . import planning
    from .config import parse_data_arg

    settings = replace(target.settings, data=replace(target.settings.data))
    if data_arg:
        settings.data.source, settings.data.path = parse_data_arg(data_arg)
    elif target.run is None:
        raise RunError("a bare .keras model has no data of its own: pass --data SOURCE")
    settings.augment = settings.early_stopping = settings.lr_schedule = settings.steps_per_epoch = None
    settings.validation_steps, settings.target = None, {}
    if target.spec is not None:
        ds = data_mod.load(settings, target.spec)
        why = None if data_arg else text_changed(target.settings.text_digest, ds)
        if why:
            raise RunError(why + "; pass --data with the text it trained on (or other text: then every window is "
                           "new to it)")
        plan = planning.plan(target.spec, settings, ds)
        return ds, plan, settings
    p = target.plan
    kind, path = settings.data.source, settings.data.path
    if kind == "synthetic":
        ds = data_mod.synthetic(p.input_shape if len(p.input_shape) == 3 else (p.input_shape[0], 1, 1), p.units,
                                int(path) if path and path.isdigit() else 256)
    elif kind == "auto":
        raise RunError("a bare .keras model has no data of its own: pass --data SOURCE")
    else:
        ds = data_mod._read(kind, path, settings.data, None)
    errs = []
    where = Loc(str(target.model_path))
    if ds.sample_shape is not None:
        if len(p.input_shape) == 3 and tuple(ds.sample_shape) != tuple(p.input_shape):
            errs.append(Diagnostic("data-mismatch", f"the model's input is {'×'.join(map(str, p.input_shape))} but "
                                   f"the data's images are {'×'.join(map(str, ds.sample_shape))}", where))
        elif len(p.input_shape) == 1 and int(np.prod(ds.sample_shape)) != p.input_shape[0]:
            errs.append(Diagnostic("data-mismatch", f"the model's input is a vector of {p.input_shape[0]} values but "
                                   f"the data's images have {int(np.prod(ds.sample_shape))}", where))
    k = max(2, p.units)
    if ds.num_classes > k:
        errs.append(Diagnostic("data-mismatch", f"the model has {p.units} output unit{'s' * (p.units != 1)} but the "
                               f"data has {ds.num_classes} classes", where))
    if errs:
        raise data_mod.DataError(errs)
    return ds, p, settings


def text_changed(recorded: str | None, ds) -> str | None:
    """Why a text run's own data is no longer the text it trained on, or None: the splits are dealt from the
    token ids, so other text (the bundled docs edited since, say) puts windows it trained on in the test split."""
    now = getattr(ds, "digest", None)
    if recorded and now and recorded != now:
        return (f"the text ({ds.origin}) changed since this run trained on it: its token ids hash to {now}, the "
                f"run's to {recorded}, so its test split would hold windows the run trained on")
    return None


def split_of(ds, name: str):
    part = getattr(ds, name)
    if part is None or len(part) == 0:
        have = [n for n in ("test", "validation", "train") if getattr(ds, n) is not None and len(getattr(ds, n))]
        raise RunError(f"the data has no {name} split (it has: {', '.join(have)}); pass --split "
                       f"{have[0] if have else 'train'}")
    return part


def model_inputs(ds, part, plan, settings, batch_size: int = 256):
    """The batches the model sees for `part` (a Split of `ds`), in order, through the training pipeline."""
    from .pipeline import make_inputs

    empty = part.take(np.arange(0))
    one = replace(ds, train=empty, validation=None, test=part)
    return make_inputs(one, plan, settings, seed=0, batch_size=batch_size).test


def probabilities(target: Target, batches) -> np.ndarray:
    """Class probabilities (n, classes) of the model on `batches`; one unit → [1 - p, p]."""
    out = np.asarray(target.model.predict(batches, verbose=0)).astype(np.float64)
    return to_probabilities(out, target.plan)


def to_probabilities(out: np.ndarray, plan) -> np.ndarray:
    out = out.reshape(len(out), -1)
    if out.shape[1] == 1:
        p = 1 / (1 + np.exp(-out[:, 0])) if plan.from_logits else out[:, 0]
        return np.stack([1 - p, p], axis=1)
    if plan.from_logits:
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return out


def class_names(target: Target, ds=None) -> list[str]:
    if ds is not None:
        return list(ds.class_names)
    if target.classes:
        return list(target.classes)
    k = max(2, target.plan.units)
    return [str(i) for i in range(k)]


__all__ = ["Target", "open_target", "load_data", "split_of", "model_inputs", "probabilities", "to_probabilities",
           "class_names", "plan_of_model"]
