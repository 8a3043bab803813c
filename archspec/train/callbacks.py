"""Keras callbacks of a run (imports Keras): epoch timing and throughput, the NaN watch, the per-epoch
checkpoint that makes a run survive a kill, the best model, and resumable early stopping / plateau.

The checkpoint is one ``.npz`` file — every model variable (weights, batch-norm statistics, dropout
seed state), every optimizer variable (moments, iteration count, learning rate, loss scale) and a
JSON state (epochs done, history, best value, early-stopping counters, settings fingerprint) —
written to a temporary file and renamed over the previous one, so after a SIGKILL the folder holds
either the old checkpoint or the new one, never a torn file. Only backend-neutral calls are used
(``keras.ops.convert_to_numpy``, ``Variable.assign``), so it works on every Keras backend.
"""
from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path

import keras
import numpy as np

from ..files import atomic_write

CHECKPOINT_VERSION = 1


# ---- the checkpoint file ------------------------------------------------------------------------
def save_checkpoint(path: Path, model, state: dict) -> None:
    arrays = {"state": np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)}
    for i, v in enumerate(model.variables):
        arrays[f"model/{i}"] = np.asarray(v.numpy())
    if model.optimizer is not None and model.optimizer.built:
        for i, v in enumerate(model.optimizer.variables):
            arrays[f"optimizer/{i}"] = np.asarray(v.numpy())
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


def read_state(path: Path) -> dict | None:
    """The JSON state of a checkpoint, or None if there is none (or it cannot be read)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(z["state"].tobytes())
    except (OSError, KeyError, ValueError):
        return None


def restore_checkpoint(path: Path, model) -> None:
    """Load every model and optimizer variable saved by :func:`save_checkpoint` into `model`
    (built and compiled the same way). Raises ValueError if the two do not match."""
    with np.load(path, allow_pickle=False) as z:
        names = z.files
        model_arrays = [z[f"model/{i}"] for i in range(sum(n.startswith("model/") for n in names))]
        opt_arrays = [z[f"optimizer/{i}"] for i in range(sum(n.startswith("optimizer/") for n in names))]
    _assign(model.variables, model_arrays, "model")
    if opt_arrays:
        opt = model.optimizer
        if not opt.built:
            opt.build(model.trainable_variables)
        _assign(opt.variables, opt_arrays, "optimizer")


def _assign(variables, arrays, what):
    if len(variables) != len(arrays):
        raise ValueError(f"the checkpoint has {len(arrays)} {what} variables, the model {len(variables)}")
    for v, a in zip(variables, arrays):
        if tuple(v.shape) != tuple(a.shape):
            raise ValueError(f"{what} variable {v.path}: checkpoint shape {a.shape}, model shape {tuple(v.shape)}")
        v.assign(a)


# ---- callbacks ----------------------------------------------------------------------------------
class EpochTimer(keras.callbacks.Callback):
    """Adds `seconds` (training part of the epoch, without validation), `images_per_s` (`tokens_per_s` with
    unit "tokens") and `learning_rate` to the epoch logs; must come first so later callbacks see them."""

    def __init__(self, images_per_epoch: int, unit: str = "images"):
        super().__init__()
        self.images = images_per_epoch
        self.key = f"{unit}_per_s"
        self._t0 = self._t1 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0, self._t1 = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self._t0 is not None and self._t1 is None:
            self._t1 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or self._t0 is None:
            return
        seconds = (self._t1 or time.perf_counter()) - self._t0
        logs["seconds"] = round(seconds, 4)
        logs[self.key] = round(self.images / seconds, 1) if seconds > 0 else float("nan")
        opt = self.model.optimizer
        if opt is not None and "learning_rate" not in logs:
            try:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(opt.learning_rate))
            except Exception:  # noqa: BLE001 - a callable schedule without a value: leave it out
                pass


class Perplexity(keras.callbacks.Callback):
    """Adds `perplexity` = exp(loss) and `val_perplexity` = exp(val_loss) to the epoch logs of a language
    model, whose loss is the mean cross-entropy per (non-padding) target token, in nats."""

    def on_epoch_end(self, epoch, logs=None):
        for key in ("loss", "val_loss"):
            if logs is not None and key in logs:
                logs[key.replace("loss", "perplexity")] = perplexity(logs[key])


def perplexity(loss) -> float:
    """exp(loss), inf when that overflows (a loss above ~709 nats)."""
    try:
        return float(math.exp(float(loss)))
    except OverflowError:
        return float("inf")


class NanWatch(keras.callbacks.Callback):
    """Remembers where the loss first became NaN or infinite (TerminateOnNaN stops the run)."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.at = None              # (epoch, batch, value), 0-based

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if self.at is None and loss is not None and not math.isfinite(float(loss)):
            self.at = (self.epoch, batch, float(loss))
            self.model.stop_training = True


class _Resumable:
    """Restores a callback's counters after Keras resets them in on_train_begin."""

    FIELDS: tuple = ()

    def __init__(self, *args, initial: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._initial = initial or {}

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for k, v in self._initial.items():
            setattr(self, k, v)

    def state(self) -> dict:
        out = {}
        for k in self.FIELDS:
            v = getattr(self, k, None)
            out[k] = None if v is None else float(v) if isinstance(v, (float, np.floating)) else v
        return out


class EarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    FIELDS = ("wait", "best", "best_epoch")


class ReduceLROnPlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    FIELDS = ("wait", "best", "cooldown_counter")


class ScalarLogger(keras.callbacks.Callback):
    """Per-epoch scalars as TensorBoard event files, in the layout keras.callbacks.TensorBoard writes
    (``train/`` and ``validation/``, tags ``epoch_<metric>``), on every backend: written with tensorboardX
    (no TensorFlow needed), or with TensorFlow's own summary writer where only TensorFlow is there."""

    def __init__(self, log_dir, writer: str):
        super().__init__()
        self.log_dir = str(log_dir)
        self.kind = writer
        self._writers = {}

    def _writer(self, name):
        if name not in self._writers:
            path = f"{self.log_dir}/{name}"
            if self.kind == "tensorboardX":
                from tensorboardX import SummaryWriter

                self._writers[name] = SummaryWriter(path, flush_secs=10)
            else:
                import tensorflow as tf

                self._writers[name] = tf.summary.create_file_writer(path)
        return self._writers[name]

    def _write(self, split, tag, value, step):
        w = self._writer(split)
        if self.kind == "tensorboardX":
            w.add_scalar(tag, value, step)
            return
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        meta = summary_pb2.SummaryMetadata()
        meta.plugin_data.plugin_name = "scalars"
        with w.as_default():
            tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=meta.SerializeToString())

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            self._write(split, f"epoch_{name}", value, epoch)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs=None):
        for w in self._writers.values():
            w.close()
        self._writers.clear()


def tensorboard_callback(log_dir):
    """A ScalarLogger writing with tensorboardX, else with TensorFlow on its own backend; None if neither
    is installed (the run goes on without TensorBoard files)."""
    from .backend import installed

    if installed("tensorboardX"):
        return ScalarLogger(log_dir, "tensorboardX")
    if keras.backend.backend() == "tensorflow":
        return ScalarLogger(log_dir, "tensorflow")
    return None


def better(monitor: str, mode: str, new, old) -> bool:
    if new is None or not math.isfinite(new):
        return False
    if old is None:
        return True
    if mode == "auto":
        mode = "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"
    return new < old if mode == "min" else new > old


class Checkpoint(keras.callbacks.Callback):
    """At every epoch end: the history row, the best model (if the monitored value improved), the
    history CSV and finally the resumable checkpoint — the commit point of the epoch."""

    def __init__(self, run, state: dict, monitor: str, mode: str, nan: NanWatch, stateful: dict):
        super().__init__()
        self.run, self.state, self.monitor, self.mode = run, state, monitor, mode
        self.nan, self.stateful = nan, stateful

    def on_epoch_end(self, epoch, logs=None):
        if self.nan.at is not None:
            return                                  # never checkpoint diverged weights
        from . import artifacts

        row = {"epoch": epoch + 1, **{k: _num(v) for k, v in (logs or {}).items()}}
        st = self.state
        st["history"].append(row)
        st["epoch"] = epoch + 1
        value = row.get(self.monitor)
        if better(self.monitor, self.mode, value, st["best"]["value"]):
            st["best"] = {"monitor": self.monitor, "value": value, "epoch": epoch + 1}
            from ..compile import save_model

            save_model(self.model, self.run.best)
        st["callbacks"] = {name: cb.state() for name, cb in self.stateful.items()}
        st["stopped_early"] = bool(self.model.stop_training)
        artifacts.write_history_csv(self.run.history_csv, st["history"])
        save_checkpoint(self.run.checkpoint, self.model, st)


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


__all__ = ["save_checkpoint", "read_state", "restore_checkpoint", "EpochTimer", "Perplexity", "perplexity", "NanWatch", "EarlyStopping",
           "ReduceLROnPlateau", "Checkpoint", "ScalarLogger", "tensorboard_callback", "better"]
