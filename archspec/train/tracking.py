"""MLflow tracking for `archspec train --mlflow URI` and `archspec search --mlflow URI` (docs/train.md).

A training run becomes one MLflow run: params (the spec's resolved top-level parameters as `spec.NAME`,
the `--set` overrides, the training settings as `train.KEY`), one metric value per epoch (Keras's logs:
loss, accuracy, val_*, images_per_s; step = the epoch number, 1-based as in history.csv), and artifacts:
the spec files (`spec/`), the cost report (`report.txt`, `report.json`), the diagram (`diagram.dot`,
`diagram.svg` when Graphviz is installed), the Model Explorer graph (`model_explorer.json`), the run
folder's results (`history.csv`, `metrics.json`, `summary.txt`, `curves.png`) and the model
(`model/best.keras`, `model/last.keras`, and the `save:` export). A search is one parent run with a child
run per trained trial (tag `mlflow.parentRunId`).

The client is `mlflow.MlflowClient(tracking_uri=URI)` — no process-global state, so a test or a
notebook's own MLflow setup is left alone. `mlflow` is the `archspec[mlflow]` extra.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

PARAM_LEN = 500           # MLflow keeps longer values on recent servers; older ones refuse > 500


def client(uri: str):
    from ..extras import require

    mlflow = require("mlflow")
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)     # "Creating initial MLflow database tables..."
    return mlflow.MlflowClient(tracking_uri=uri)


def _flat(prefix: str, d, out: dict) -> dict:
    if isinstance(d, dict):
        for k, v in d.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = d if isinstance(d, str) else json.dumps(d)
    return out


class Tracker:
    """One MLflow run. `parent`: the run id of a search's parent run (this one is its child)."""

    def __init__(self, uri: str, experiment: str, run_name: str, parent: str | None = None, tags: dict | None = None):
        self.client = client(uri)
        self.uri = uri
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = exp.experiment_id if exp is not None else self._create(experiment)
        t = {"archspec.kind": "train", **(tags or {})}
        if parent:
            t["mlflow.parentRunId"] = parent
        self.run = self.client.create_run(self.experiment_id, run_name=run_name, tags=t)
        self.run_id = self.run.info.run_id
        self.seed_unlogged = True

    @classmethod
    def attach(cls, uri: str, run_id: str) -> "Tracker":
        """An existing run (a search's parent run, made by the study's first worker)."""
        t = cls.__new__(cls)
        t.client, t.uri, t.run_id, t.seed_unlogged = client(uri), uri, run_id, False
        t.run = t.client.get_run(run_id)
        t.experiment_id = t.run.info.experiment_id
        return t

    def _create(self, name: str) -> str:
        try:
            return self.client.create_experiment(name)
        except Exception:                       # another worker made it in between
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

    # ---- what a run records ---------------------------------------------------------------------
    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:PARAM_LEN]) for k, v in params.items()]
        for i in range(0, len(items), 100):          # the tracking API takes at most 100 params a call
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if items:
            self.client.log_batch(self.run_id, metrics=items)

    def log_file(self, path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def log_text(self, text: str, name: str) -> None:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / name
            p.write_text(text, encoding="utf-8")
            self.client.log_artifact(self.run_id, str(p))

    def log_spec(self, spec, settings=None, point: bool = True, extra: dict | None = None) -> None:
        """Params, spec files, report, diagram and Model Explorer graph of `spec` (before training).
        `point`: log the spec's parameter values (not for a search's parent run: its spec is a space)."""
        params = _flat("spec", dict(spec.graph.params), {}) if point else {}
        params.update(extra or {})
        params.update(_flat("set", dict(spec.overrides), {}))
        if settings is not None:       # (the seed, when drawn at the start of training, comes with the result)
            params.update(_flat("train", {k: v for k, v in settings.to_json().items()
                                          if not (k == "seed" and v is None)}, {}))
        a = spec.analysis()
        params.update({"model.params": a.total.params, "model.macs": a.total.macs})
        self.seed_unlogged = "train.seed" not in params
        self.log_params(params)
        self.client.set_tag(self.run_id, "archspec.spec", spec.name)
        for name, src in spec.sources.items():
            if src.path is not None:
                self.log_file(src.path, "spec")
        self.log_text(spec.report("table", None), "report.txt")
        self.log_text(spec.report("json", None), "report.json")
        from ..render import explorer, image

        self.log_text(image.dot_text(spec), "diagram.dot")
        try:
            image.find_program("svg")
            with tempfile.TemporaryDirectory() as d:
                out = Path(d) / "diagram.svg"
                image.draw(spec, out, fmt="svg")
                self.log_file(out)
        except image.GraphvizMissing:
            pass                                   # the DOT text is there
        g = explorer.graph_json(spec.graph, a, graph_id=spec.name)
        self.log_text(explorer.dumps(explorer.collection(spec.name, [g])), "model_explorer.json")

    def log_result(self, result, run_folder, settings=None) -> None:
        """After training: the run folder's results and the model (and the seed training drew)."""
        run = Path(run_folder)
        if settings is not None and settings.seed is not None and self.seed_unlogged:
            self.log_params({"train.seed": settings.seed})
        for name in ("history.csv", "metrics.json", "summary.txt", "curves.png", "settings.json"):
            if (run / name).is_file():
                self.log_file(run / name)
        for name in ("best.keras", "last.keras"):
            if (run / name).is_file():
                self.log_file(run / name, "model")
        if result.exported is not None:
            p = Path(getattr(result.exported, "path", "") or "")
            if p.is_file():
                self.log_file(p, "model")
            elif p.is_dir():                       # a SavedModel
                self.client.log_artifacts(self.run_id, str(p), f"model/{p.name}")
        final = {f"test_{k}" if not k.startswith("test") else k: v for k, v in (result.test or {}).items()}
        final.update({"epochs_done": result.epochs_done, "train_seconds": result.seconds})
        if result.images_per_s:
            final["images_per_s_mean"] = result.images_per_s
        if getattr(result, "tokens_per_s", None):
            final["tokens_per_s_mean"] = result.tokens_per_s
        self.log_metrics(final, result.epochs_done)

    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)

    def callback(self):
        """A Keras callback logging each epoch's logs (step = epoch number, 1-based)."""
        import keras

        tracker = self

        class MlflowEpochs(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                tracker.log_metrics(dict(logs or {}), epoch + 1)

        return MlflowEpochs()


def check_uri(uri: str) -> str:
    """The tracking URI as given, or a ValueError saying what is wrong with it (before any work)."""
    from ..extras import require

    require("mlflow")
    if "://" not in uri and not uri.startswith(("databricks", "file:")):
        p = Path(uri)
        if p.suffix == ".db":
            return f"sqlite:///{p.resolve()}"
        return p.resolve().as_uri()           # a folder: MLflow's file store
    return uri


def search_parent(uri: str, study, experiment: str, base_spec, extra: dict | None = None) -> Tracker:
    """The study's parent run: made by the first worker (its id kept in the study's user attributes), joined
    by the others and by a resumed search."""
    run_id = study.user_attrs.get("mlflow_run")
    if run_id:
        try:
            return Tracker.attach(uri, run_id)
        except Exception:               # another tracking server than the study's first run used
            pass
    t = Tracker(uri, experiment, f"search {study.study_name}", tags={"archspec.kind": "search",
                                                                        "optuna.study": study.study_name})
    t.log_spec(base_spec, point=False, extra=extra)
    study.set_user_attr("mlflow_run", t.run_id)
    return t
