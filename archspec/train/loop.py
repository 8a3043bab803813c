"""One training run: data → checks → model under a precision policy, an XLA switch and a distribution
strategy → fit with per-epoch checkpoints → artifacts.

The loop is Keras's own ``model.fit`` with callbacks and runs on every Keras backend; what differs per
backend is chosen in one place each: the input (``pipeline``: tf.data on TensorFlow, a PyDataset
elsewhere), the distribution engine (``distribute``: tf.distribute or keras.distribution) and the
TensorBoard writer (``callbacks``: tensorboardX, else TensorFlow's). A run folder that holds a checkpoint is resumed: the model and
optimizer variables, the epoch count, the history, the best value and the early-stopping counters
come back, and ``fit`` continues at ``initial_epoch``.
"""
from __future__ import annotations

import inspect
import json
import random
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Diagnostic, Loc, SpecError, did_you_mean
from .artifacts import RunFolder, copy_spec, lower_is_better, plot_curves, summary_text, write_history_csv, write_json
from .config import RunError
from .distribute import make_strategy, multi_worker_fixups

OPTIMIZER_CLASSES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad",
                     "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "Nadam", "ftrl": "Ftrl", "lion": "Lion",
                     "lamb": "Lamb"}
LOSS_CLASSES = {"sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
                "categorical_crossentropy": "CategoricalCrossentropy", "binary_crossentropy": "BinaryCrossentropy"}


class TrainingDiverged(SpecError):
    """The loss became NaN or infinite; the run stopped."""


@dataclass
class RunResult:
    out: Path
    spec_name: str
    params: int
    data: str
    epochs_planned: int
    epochs_done: int = 0
    resumed_from: int = 0
    stopped_early: bool = False
    already_done: bool = False
    history: list = field(default_factory=list)
    best: dict | None = None
    test: dict | None = None
    weights: str = "last"
    seconds: float = 0.0
    images_per_s: float | None = None
    tokens_per_s: float | None = None      # token runs: their throughput (images_per_s stays None)
    unit: str = "images"                   # what a training example is counted in: images | tokens
    targets: dict = field(default_factory=dict)
    settings_line: str = ""
    jit_compile: bool | None = None
    sample_shape: tuple | None = None
    schedule_epochs: int | None = None     # a cosine schedule's length: the epochs of the run's first start
    exported: object = None

    @property
    def summary(self) -> str:
        return summary_text(self)


def _optimizer(spec, settings, steps_per_epoch: int, schedule_epochs: int | None = None):
    import keras

    cls = getattr(keras.optimizers, OPTIMIZER_CLASSES[settings.optimizer])
    params = inspect.signature(cls).parameters
    kwargs = dict(settings.optimizer_options)
    bad = [k for k in kwargs if k not in params or k == "learning_rate"]
    if bad:
        diags = []
        for k in bad:
            hint = ("write learning_rate at the top of the training section" if k == "learning_rate"
                    else did_you_mean(k, [p for p in params if p not in ("kwargs", "name")]))
            diags.append(Diagnostic("unknown-field", f"{cls.__name__} has no argument '{k}'",
                                    spec.source.loc(("training", "optimizer", k), key=True), hint=hint))
        raise SpecError(diags)
    lr = settings.learning_rate or params["learning_rate"].default
    sched = settings.lr_schedule or {}
    kind = sched.get("type", "constant")
    total = max(1, (schedule_epochs or settings.epochs) * steps_per_epoch)   # a cosine's length, fixed per run
    S = keras.optimizers.schedules
    if kind == "cosine":
        warm = int(sched.get("warmup_epochs", 0) * steps_per_epoch)
        lr = S.CosineDecay(0.0 if warm else lr, max(1, total - warm), alpha=sched.get("alpha", 0.0),
                           warmup_target=lr if warm else None, warmup_steps=warm)
    elif kind == "exponential":
        lr = S.ExponentialDecay(lr, max(1, int(sched.get("every", 1.0) * steps_per_epoch)), sched.get("decay_rate", 0.5))
    elif kind == "step":
        bounds = sorted(sched.get("boundaries") or [])
        f = sched.get("factor", 0.1)
        lr = S.PiecewiseConstantDecay([b * steps_per_epoch for b in bounds], [lr * f ** i for i in range(len(bounds) + 1)])
    try:
        return cls(learning_rate=lr, **kwargs)
    except (ValueError, TypeError) as exc:
        raise SpecError([Diagnostic("schema", f"{cls.__name__}: {exc}", spec.source.loc(("training", "optimizer")))]) \
            from None


def _check_metrics(spec, names, plan=None):
    """Every metric exists, and scores this model's labels against its outputs: each is tried on a
    small batch shaped as training will feed it (integer, one-hot or binary labels), so a metric
    that needs another label encoding fails here, located, not inside the first training step."""
    import keras
    import numpy as np

    special = {"accuracy", "acc", "crossentropy", "ce"}
    diags = []
    for i, name in enumerate(names):
        if name in special:
            continue
        try:
            metric = keras.metrics.get(name)
        except (ValueError, TypeError):
            known = sorted(special | {n for n in dir(keras.metrics) if n.islower() and not n.startswith("_")
                                      and n not in ("get", "serialize", "deserialize")})
            diags.append(Diagnostic("schema", f"unknown metric '{name}'", spec.source.loc(("training", "metrics", i)),
                                    hint=did_you_mean(name, known) or "e.g. accuracy, top_k_categorical_accuracy, auc"))
            continue
        if plan is None:
            continue
        n = plan.units + 1                      # a batch size unlike the unit count: no accidental broadcast
        k = max(plan.units, 1)
        y_pred = np.full((n, k), 1.0 / k, dtype="float32")
        y_true = (np.arange(n) % max(k, 2)).astype("int32")
        if plan.labels == "onehot":
            y_true = np.eye(k, dtype="float32")[y_true % k]
        elif plan.labels == "binary":
            y_true = (y_true % 2).astype("float32").reshape(n, 1)
        try:
            if isinstance(metric, type):
                metric = metric()
            if hasattr(metric, "update_state"):
                metric.update_state(y_true, y_pred)
                metric.result()
            else:
                metric(y_true, y_pred)
        except Exception as exc:  # noqa: BLE001 - whatever the metric says, it cannot score this model
            what = {"int": "integer class labels", "onehot": "one-hot labels", "binary": "0/1 labels"}[plan.labels]
            from .data import error_text

            first = error_text(exc, 160)
            diags.append(Diagnostic(
                "schema", f"the metric '{name}' cannot score {what} against the {plan.units} output"
                          f"{'s' * (plan.units != 1)} ({first})", spec.source.loc(("training", "metrics", i)),
                hint="with integer labels use accuracy, sparse_categorical_accuracy or sparse_top_k_categorical_"
                     "accuracy; precision, recall and auc score one-hot labels (loss: categorical_crossentropy) or "
                     "a single sigmoid unit"))
    if diags:
        raise SpecError(diags)


def build_and_compile(spec, settings, plan, steps_per_epoch: int, schedule_epochs: int | None = None):
    """The spec's Keras model, compiled. Call under the strategy scope and the precision policy."""
    import keras

    model = spec.to_keras()
    if settings.precision != "float32":
        # the output layer computes in float32: a float16 softmax loses the small probabilities
        from ..compile import keras_name

        model.get_layer(keras_name(next(iter(spec.graph.outputs.values())))).dtype_policy = keras.DTypePolicy("float32")
    smoothing = {"label_smoothing": plan.label_smoothing} if plan.label_smoothing else {}
    if plan.objective == "next_token":     # the mean over the targets that count
        smoothing["reduction"] = "mean_with_sample_weight"           # (padding weighs 0), not over all of them
    loss = getattr(keras.losses, LOSS_CLASSES[plan.loss])(from_logits=plan.from_logits, **smoothing)
    _check_metrics(spec, settings.metrics, plan)
    # next-token runs weigh padding 0: their metrics must read the weights too (Keras's `metrics` ignore them)
    metrics = {"weighted_metrics" if plan.objective == "next_token" else "metrics": list(settings.metrics)}
    model.compile(optimizer=_optimizer(spec, settings, steps_per_epoch, schedule_epochs), loss=loss, **metrics,
                  jit_compile="auto" if settings.jit_compile is None else settings.jit_compile)
    return model


# ---- the run ----------------------------------------------------------------------------------------
def _versions() -> dict:
    import keras

    out = {"keras": keras.__version__, "backend": keras.backend.backend(), "python": sys.version.split()[0]}
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:
        pass
    from ..version import __version__

    out["archspec"] = __version__
    return out


def _prepare_folder(run: RunFolder, fingerprint: str, settings, resume, restart, spec_texts=None) -> dict | None:
    """The checkpoint state to resume from, or None for a fresh run."""
    from .callbacks import read_state

    if restart:
        run.clear()
        return None
    state = read_state(run.checkpoint) if run.checkpoint.exists() else None
    if run.checkpoint.exists() and state is None:
        raise RunError(f"{run.checkpoint} cannot be read; remove it (or pass --restart) to start over")
    if state is None:
        if resume:
            raise RunError(f"nothing to resume: {run.path} holds no checkpoint.npz")
        if run.metrics.exists() or run.last.exists():
            raise RunError(f"{run.path} holds a finished run without a checkpoint; pass --restart to train again "
                           "there, or --out to use another folder")
        return None
    if state.get("fingerprint") != fingerprint:
        changed = _changes(run, settings, spec_texts)
        raise RunError(f"{run.path} holds a run of a different spec or different settings ("
                       + (", ".join(changed) if changed else "spec text, data, optimizer, loss, batch size, precision…")
                       + "); pass --out NEW_FOLDER for a new run, or --restart to replace it")
    return state


def _schedule_epochs(run: RunFolder, state, settings) -> int:
    """The length of a run's cosine schedule: the epochs it was started with (kept in the checkpoint),
    so training it further continues the schedule instead of stretching it."""
    if not state:
        return settings.epochs
    if state.get("schedule_epochs"):
        return int(state["schedule_epochs"])
    import json

    try:            # a checkpoint from before the length was kept: the epochs the run was last asked for
        return int(json.loads(run.settings.read_text(encoding="utf-8"))["settings"]["epochs"])
    except (OSError, ValueError, KeyError):
        return settings.epochs


def _changes(run: RunFolder, settings, spec_texts: dict) -> list[str]:
    """What differs from the run in the folder, from its settings.json and spec copy ([] if unknown)."""
    import json

    try:
        old = json.loads(run.settings.read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError):
        return []
    old_texts = {f.name: f.read_text(encoding="utf-8") for f in run.spec_dir.rglob("*") if f.is_file()}
    return settings.differences(old, spec_texts, old_texts)


def run_folder(spec, out=None) -> RunFolder:
    """The run folder: `out`, else runs/<spec name> in the current folder (a spec loaded with overrides:
    runs/<its model name>, e.g. runs/resnet50_stages_3_4_23_3, so variants do not share a folder) — as an
    absolute path, so the summary and every message name the full path written."""
    return RunFolder(Path(out or Path("runs") / getattr(spec, "model_name", spec.name)).absolute())


def run_training(spec, settings, out=None, *, resume: bool | None = None, restart: bool = False,
                 verbose: int | None = None, warn=None, command: list | None = None, callbacks=()) -> RunResult:
    """Train; returns the RunResult. Raises SpecError (spec/data mistakes, NaN loss) or RunError.
    `callbacks`: more Keras callbacks for `fit` (archspec search reports each epoch to its trial)."""
    from . import data as data_mod
    from . import planning

    ds = data_mod.load(settings, spec)          # the data and its fit to the spec: before Keras loads
    plan = planning.plan(spec, settings, ds)
    dist = make_strategy(settings.distribute)
    chief, worker = dist.chief, dist.worker
    run = run_folder(spec, out)
    if not chief:
        # Every worker must run the same saves (reading distributed variables is a collective operation),
        # so the other workers keep a full run of their own in RUN_DIR/worker-N; it also lets each of
        # them resume from its own checkpoint without a shared file system.
        run = RunFolder(run.path / worker)
    if settings.seed is None and settings.distribute == "multi-worker":
        settings.seed = 0                       # all workers must agree without talking
    if warn and (ds.warnings or plan.warnings):
        warn([*ds.warnings, *plan.warnings])
    spec_texts = {Path(k).name: s.text for k, s in spec.sources.items()}
    fingerprint = settings.fingerprint(spec_texts)
    state = _prepare_folder(run, fingerprint, settings, resume, restart, spec_texts)
    if state is not None:
        if settings.seed is not None and settings.seed != state.get("seed"):
            raise RunError(f"{run.path} was trained with --seed {state.get('seed')}; resume it without --seed (or "
                           "with the same one), or pass --restart")
        settings.seed = state.get("seed")
    if settings.seed is None:       # chosen once and recorded, so the run can be repeated
        settings.seed = random.SystemRandom().randrange(2 ** 31)
    done = int(state["epoch"]) if state else 0
    if (settings.lr_schedule or {}).get("type") == "cosine":
        result_epochs = _schedule_epochs(run, state, settings)
        if settings.epochs > result_epochs and done and warn:
            warn([Diagnostic("schedule-extended", f"this run's cosine schedule decays over its first {result_epochs} "
                             f"epochs; epochs {max(done, result_epochs) + 1}–{settings.epochs} continue at its final "
                             "rate", spec.source.loc(("training", "lr_schedule")),
                             hint="--restart (or --out NEW_FOLDER) for one schedule over all "
                                  f"{settings.epochs} epochs", severity="warning")])
    else:
        result_epochs = None

    result = RunResult(run.path, spec.name, spec.analysis().total.params, ds.describe(), settings.epochs,
                       resumed_from=done, settings_line=_settings_line(settings, plan, dist))
    result.sample_shape, result.schedule_epochs = ds.sample_shape, result_epochs
    result.unit = "tokens" if plan.tokens else "images"
    if state and run.metrics.exists() and (state.get("stopped_early") or done >= settings.epochs):
        result.already_done = True
        _fill_result(result, state)
        _fill_finished(result, run)
        if settings.save and not (run.path / settings.save).exists():
            from ..compile import load_model

            final = run.best if result.weights.startswith("best") else run.last
            save_export(spec, settings, load_model(final), run, result)
        return result

    import keras

    run.path.mkdir(parents=True, exist_ok=True)
    _save_tokenizer(run, ds, state)
    main = copy_spec(run, spec)
    write_json(run.settings, {"settings": settings.to_json(), "plan": {k: v for k, v in vars(plan).items()
                                                                       if k != "warnings"},
                              "data": ds.describe(), "classes": list(ds.class_names),
                              "sample_shape": ds.sample_shape, "notes": ds.notes,
                              "spec": main, "versions": _versions(),
                              "command": command or _command(main, settings, run)})
    from ..files import atomic_write

    atomic_write(run.graph, (spec.graph.dump() + "\n").encode())

    keras.utils.set_random_seed(settings.seed + done)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(settings.precision)
    try:
        return _fit(spec, settings, plan, ds, run, state=state, dist=dist, verbose=verbose, result=result,
                    fingerprint=fingerprint, extra=list(callbacks))
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _save_tokenizer(run, ds, state) -> None:
    """Text runs keep their tokenizer as tokenizer.json (generate, evaluate and export read it); a run resumed
    on text whose characters changed would map ids to other characters, and one resumed on other text (the
    bundled docs edited, say) would deal its windows to other splits: both refused."""
    from .runs import text_changed
    from .tokens import FILE, Tokenizer

    if ds.tokenizer is None:
        return
    if state is not None:
        old = Tokenizer.load(run.path)
        if old is not None and old != ds.tokenizer:
            raise RunError(f"{run.path / FILE} has a {old.kind} tokenizer of {old.vocab_size} ids, the text now gives "
                           f"{ds.tokenizer.kind} with {ds.tokenizer.vocab_size}: the text changed; pass --restart to "
                           "train again, or --out NEW_FOLDER")
        try:
            was = json.loads(run.settings.read_text(encoding="utf-8"))["settings"].get("text_digest")
        except (OSError, ValueError, KeyError, AttributeError):
            was = None
        why = text_changed(was, ds)
        if why:
            raise RunError(why + "; pass --restart to train again on this text, or --out NEW_FOLDER")
    ds.tokenizer.save(run.path)


def _fit(spec, settings, plan, ds, run, *, state, dist, verbose, result, fingerprint, extra=()):
    """Build (or restore) the model, fit it with archspec's callbacks, then write the run's results."""
    model, inputs = _model_and_inputs(spec, settings, plan, ds, run, state, dist, result)
    st, nan, callbacks, verbose = _callbacks(settings, plan, run, state, inputs, result, fingerprint, dist, verbose,
                                             list(extra))
    done = result.resumed_from
    t0 = time.perf_counter()
    if done < settings.epochs and not st.get("stopped_early"):
        with dist.scope(), _data_guard(ds, spec, settings):
            model.fit(inputs.train, validation_data=inputs.validation, epochs=settings.epochs, initial_epoch=done,
                      steps_per_epoch=inputs.steps_per_epoch, validation_steps=inputs.validation_steps,
                      callbacks=callbacks, verbose=verbose, shuffle=False, class_weight=plan.class_weight)
    _fill_result(result, st)

    if nan.at is not None:
        raise _diverged(spec, settings, run, result, st, nan)
    _finish(spec, settings, model, inputs, ds, run, result, st, dist.scope, t0)
    return result


def _model_and_inputs(spec, settings, plan, ds, run, state, dist, result):
    """The input pipeline and the compiled model (its checkpoint restored when resuming)."""
    import keras  # noqa: F401  (before the pipeline: Keras picks its backend once)

    from . import callbacks as cb
    from .pipeline import make_inputs

    done = result.resumed_from
    if dist.backend == "jax" and dist.devices > 1 and settings.batch_size % dist.devices:
        raise RunError(f"the batch size {settings.batch_size} does not split evenly over {dist.devices} devices; "
                       f"use a multiple of {dist.devices} (--batch-size {dist.devices * -(-settings.batch_size // dist.devices)})")
    inputs = make_inputs(ds, plan, settings, seed=settings.seed + done, cache_dir=run.cache, shard=dist.shard,
                         multiple=dist.devices if dist.backend == "jax" else 1)
    steps = inputs.steps_per_epoch or -(-len(ds.train) // settings.batch_size)
    with dist.scope():
        model = build_and_compile(spec, settings, plan, steps, result.schedule_epochs)
        if state is not None:
            try:
                cb.restore_checkpoint(run.checkpoint, model)
            except ValueError as exc:
                raise RunError(f"{run.checkpoint} does not fit this model ({exc}); pass --restart") from None
    result.jit_compile = bool(model.jit_compile)
    if settings.distribute == "multi-worker" and dist.backend == "tensorflow":
        multi_worker_fixups(model, dist.engine, next(iter(inputs.train)))
    return model, inputs


def _callbacks(settings, plan, run, state, inputs, result, fingerprint, dist, verbose, extra):
    """The checkpoint state to continue (or a fresh one), the NaN watch, every callback in order, and the
    Keras verbosity."""
    import keras

    from . import callbacks as cb

    has_val = inputs.validation is not None
    es = settings.early_stopping
    monitor = (es or {}).get("monitor") or ("val_loss" if has_val else "loss")
    mode = (es or {}).get("mode", "auto")
    st = state or {"version": cb.CHECKPOINT_VERSION, "epoch": 0, "history": [], "best": {"monitor": monitor,
                   "value": None, "epoch": None}, "callbacks": {}, "seed": settings.seed}
    st["fingerprint"] = fingerprint
    if result.schedule_epochs:
        st["schedule_epochs"] = result.schedule_epochs
    saved = st.get("callbacks", {})
    nan = cb.NanWatch()
    tokens = plan.tokens
    per_epoch = inputs.images_per_epoch * (plan.input_shape[0] if tokens else 1)
    callbacks = [cb.EpochTimer(per_epoch, "tokens" if tokens else "images"), nan, keras.callbacks.TerminateOnNaN()]
    if plan.objective == "next_token":
        callbacks.insert(1, cb.Perplexity())
    stateful = {}
    if es:
        stateful["early_stopping"] = cb.EarlyStopping(
            monitor=es["monitor"], patience=es["patience"], min_delta=es["min_delta"], mode=es["mode"],
            start_from_epoch=es["start_from_epoch"], restore_best_weights=False, verbose=1,
            initial=saved.get("early_stopping"))
    sched = settings.lr_schedule or {}
    if sched.get("type") == "plateau":
        stateful["plateau"] = cb.ReduceLROnPlateau(monitor=sched.get("monitor", "val_loss"),
                                                   factor=sched.get("factor", 0.1), patience=sched.get("patience", 3),
                                                   min_lr=sched.get("min_lr", 0.0), verbose=1,
                                                   initial=saved.get("plateau"))
    callbacks += list(stateful.values())
    board = cb.tensorboard_callback(run.tensorboard) if dist.chief else None
    if board is not None:
        callbacks.append(board)
    callbacks += extra
    callbacks.append(cb.Checkpoint(run, st, monitor, mode, nan, stateful))

    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    if verbose:
        # Keras's own epoch line, placed before EpochTimer so it shows Keras's figures (time, ms/step, losses,
        # metrics) but not `seconds`/`images_per_s`, which its fixed 4-decimal format renders as
        # "images_per_s: 2492.5000"; those go to history.csv, the TensorBoard log and the summary.
        callbacks.insert(0, keras.callbacks.ProgbarLogger())
    return st, nan, callbacks, verbose


def _diverged(spec, settings, run, result, st, nan) -> TrainingDiverged:
    """The summary so far is written; returns the error for a loss that became NaN or infinite: where, and
    what to try."""
    _write_summary(run, result, st)
    epoch, batch, value = nan.at
    where = spec.source.loc(("training", "learning_rate")) if "learning_rate" in spec.training else \
        spec.source.loc(("training",)) if spec.training else Loc(spec.source.file)
    lr = settings.learning_rate
    return TrainingDiverged([Diagnostic(
        "training-diverged",
        f"the loss became {value} in epoch {epoch + 1}, batch {batch + 1}; training stopped "
        f"(the checkpoint of epoch {st['epoch']} is kept in {run.path})" if st["epoch"] else
        f"the loss became {value} in epoch {epoch + 1}, batch {batch + 1}; training stopped", where,
        hint=(f"lower the learning rate (now {lr:g})" if lr else "set a lower learning_rate") +
             ("; rescale the inputs (rescale: 1/255)" if settings.rescale is None else "") +
             ("; try --precision float32" if settings.precision != "float32" else ""))])


def _finish(spec, settings, model, inputs, ds, run, result, st, scope, t0) -> None:
    """The last model, then (optionally) the best weights back, then the test set, the targets,
    metrics.json (which marks the end), the summary and the `save:` export."""
    es = settings.early_stopping
    # (the checkpoint of the last epoch stays as it is: more --epochs later continue from there)
    from ..compile import save_model

    save_model(model, run.last)
    if es and es.get("restore_best_weights") and st["best"]["epoch"] and st["best"]["epoch"] != result.epochs_done:
        model.load_weights(run.best)
        result.weights = f"best (epoch {st['best']['epoch']})"
    if inputs.test is not None:
        with scope(), _data_guard(ds, spec, settings):
            values = model.evaluate(inputs.test, verbose=0, return_dict=True)
        result.test = {f"test_{k}": float(v) for k, v in values.items()}
        if settings.objective == "next_token" and "test_loss" in result.test:
            from .callbacks import perplexity

            result.test["test_perplexity"] = perplexity(result.test["test_loss"])
    result.seconds = round(time.perf_counter() - t0, 2)
    for key, want in settings.target.items():
        got = (result.test or {}).get(key)
        if got is not None:
            result.targets[key] = (want, got, target_met(key, want, got))
    write_json(run.metrics, {"test": result.test, "weights": result.weights, "epochs": result.epochs_done,
                             "best": st["best"], "stopped_early": result.stopped_early,
                             "images_per_s": result.images_per_s, "seconds": result.seconds,
                             **({"tokens_per_s": result.tokens_per_s} if result.unit == "tokens" else {}),
                             "targets": {k: {"target": w, "value": g, "met": ok}
                                         for k, (w, g, ok) in result.targets.items()},
                             "data": result.data})
    _write_summary(run, result, st)
    if settings.save:
        save_export(spec, settings, model, run, result)


def save_export(spec, settings, model, run, result) -> None:
    """`save:` from the spec — after the run's own files are written, so a failure loses nothing."""
    from .export import ExportError, export_run_model

    try:
        result.exported = export_run_model(model, run.path / settings.save, settings, result.sample_shape,
                                           spec.to_keras)
    except ExportError as exc:
        raise SpecError([Diagnostic("export-unsupported", f"save: {exc} (the run itself finished: {run.path})",
                                    spec.source.loc(("training", "save")))]) from None


@contextmanager
def _data_guard(ds, spec=None, settings=None):
    """A failure inside fit/evaluate that an image file explains becomes a data error naming the file;
    running out of accelerator or host memory becomes a located error with the batch size to lower."""
    try:
        yield
    except Exception as exc:
        from .data import error_text, explain_failure

        if _out_of_memory(exc) and spec is not None:
            bs = settings.batch_size
            where = spec.source.loc(("training", "batch_size")) if "batch_size" in spec.training else \
                spec.source.loc(("training",)) if spec.training else Loc(spec.source.file)
            raise SpecError([Diagnostic(
                "out-of-memory", f"training ran out of memory at batch size {bs} ({error_text(exc, 120)})", where,
                hint=f"lower the batch size (--batch-size {max(1, bs // 2)}); `archspec report --train` estimates "
                     "the memory a batch needs")]) from None
        err = explain_failure(ds, exc)
        if err is not None:
            raise err from None
        raise


def _out_of_memory(exc: BaseException) -> bool:
    """TensorFlow's ResourceExhaustedError, XLA/JAX's RESOURCE_EXHAUSTED, PyTorch's OutOfMemoryError."""
    name = type(exc).__name__
    text = str(exc)[:2000]
    return name in ("ResourceExhaustedError", "OutOfMemoryError", "MemoryError") or "RESOURCE_EXHAUSTED" in text \
        or "Out of memory while trying to allocate" in text or "CUDA out of memory" in text


def _fill_result(result, st):
    result.history = list(st["history"])
    result.epochs_done = int(st["epoch"])
    result.best = st["best"] if st["best"].get("epoch") else None
    result.stopped_early = bool(st.get("stopped_early"))
    key = f"{result.unit}_per_s"
    speeds = [r[key] for r in result.history if r.get(key)]
    # the first epoch of a (re)started process includes tracing and compilation
    steady = speeds[1:] if len(speeds) > 2 else speeds
    setattr(result, key, statistics.median(steady) if steady else None)


def _fill_finished(result, run):
    """A finished run re-run as it was: its test metrics, time and targets as metrics.json recorded them."""
    import json

    try:
        m = json.loads(run.metrics.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    result.resumed_from = 0
    result.test = m.get("test")
    result.seconds = m.get("seconds") or 0.0
    result.weights = m.get("weights") or "last"
    result.targets = {k: (v["target"], v["value"], v["met"]) for k, v in (m.get("targets") or {}).items()}


def target_met(key: str, want: float, got: float) -> bool:
    """Whether a test metric meets its `training.target`: at most `want` for a loss, at least `want`
    otherwise. Keras reports metrics in float32, so the target is compared in float32 too (342 of 360
    right is an accuracy of exactly 0.95, which float32 holds as 0.9499999881).

    >>> target_met("test_accuracy", 0.95, 0.949999988079071), target_met("test_accuracy", 0.95, 0.9499)
    (True, False)
    >>> target_met("test_loss", 0.2, 0.2000000029802322), target_met("test_perplexity", 8.0, 6.4)
    (True, True)
    """
    import numpy as np

    got32, want32 = np.float32(got), np.float32(want)
    return bool(got32 <= want32 if lower_is_better(key) else got32 >= want32)


def _write_summary(run, result, st):
    write_history_csv(run.history_csv, st["history"])
    plot_curves(run.curves, st["history"], result.spec_name)
    from ..files import atomic_write

    atomic_write(run.summary, result.summary.encode())


def _settings_line(settings, plan, dist=None) -> str:
    lr = f" lr {settings.learning_rate:g}" if settings.learning_rate else ""
    extra = f" (label smoothing {plan.label_smoothing:g})" if plan.label_smoothing else ""
    extra += ", class weights " + ("balanced" if settings.class_weight == "balanced" else "set") \
        if plan.class_weight else ""
    return (f"{settings.optimizer}{lr}, {plan.loss}{' (logits)' if plan.from_logits else ''}{extra}, batch "
            f"{settings.batch_size}, precision {settings.precision}, seed {settings.seed}"
            + _distribution_text(settings, dist, "sequences" if plan.tokens else "images"))


def _distribution_text(settings, dist, unit: str = "images") -> str:
    """', mirrored over 2 replicas (16 images each, DataParallel), backend jax' (empty without `dist`)."""
    if dist is None:
        return ""
    text = ""
    if settings.distribute != "none":
        n = dist.devices
        each = f"{settings.batch_size // n} {unit} each, " if settings.batch_size % n == 0 else ""
        text = f", {settings.distribute} over {n} replica{'s' * (n != 1)} ({each}{type(dist.engine).__name__})"
    return text + f", backend {dist.backend}"


def _command(main, settings, run) -> list:
    cmd = ["archspec", "train", str(run.path / main), "--out", str(run.path) + "-repeat",
           "--seed", str(settings.seed), "--epochs", str(settings.epochs), "--batch-size", str(settings.batch_size),
           "--precision", settings.precision]
    import keras

    cmd += ["--backend", keras.backend.backend()]
    if settings.distribute != "none":
        cmd += ["--distribute", settings.distribute]
    d = settings.data
    cmd += ["--data", d.source + (f":{d.path}" if d.path else "")]
    from ..lang.training import set_text

    for k, v in settings.overrides.items():
        cmd += ["--set", set_text(k, v).removeprefix("--set ")]
    return cmd


__all__ = ["run_training", "RunResult", "RunError", "TrainingDiverged", "build_and_compile", "make_strategy"]
