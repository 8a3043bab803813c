"""--mlflow on train and search, against a local MLflow tracking store (SQLite backend, no server, no network)."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from archspec import api

ROOT = Path(__file__).resolve().parent.parent


def _client(db: Path):
    mlflow = pytest.importorskip("mlflow")
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")


def _artifacts(c, run_id, path=None) -> dict:
    out = {}
    for f in c.list_artifacts(run_id, path):
        out.update(_artifacts(c, run_id, f.path) if f.is_dir else {f.path: f.file_size})
    return out


@pytest.mark.slow          # MLflow makes its SQLite schema (migrations): ~15 s
def test_tracker_logs_spec_params_report_and_diagram(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from archspec.train.tracking import Tracker, check_uri

    monkeypatch.chdir(tmp_path)                       # MLflow's default artifact root is ./mlruns
    uri = check_uri(str(tmp_path / "m.db"))
    assert uri == f"sqlite:///{tmp_path / 'm.db'}"
    spec = api.load(ROOT / "specs/resnet50.yaml", {"stages": [1, 1, 1, 1]})
    t = Tracker(uri, "resnets", "one")
    t.log_spec(spec)
    t.log_metrics({"val_accuracy": 0.5, "note": "text is skipped"}, 1)
    t.log_metrics({"val_accuracy": 0.75}, 2)
    t.end()
    c = _client(tmp_path / "m.db")
    run = c.get_run(t.run_id)
    assert run.info.status == "FINISHED"
    assert c.get_experiment(run.info.experiment_id).name == "resnets"
    p = run.data.params
    assert json.loads(p["set.stages"]) == [1, 1, 1, 1]
    assert int(p["model.params"]) == spec.analysis().total.params
    assert {k for k in p if k.startswith("spec.")} == {f"spec.{k}" for k in spec.graph.params}
    assert [(m.step, m.value) for m in c.get_metric_history(t.run_id, "val_accuracy")] == [(1, 0.5), (2, 0.75)]
    files = _artifacts(c, t.run_id)
    assert {"spec/resnet50.yaml", "report.txt", "report.json", "diagram.dot", "model_explorer.json"} <= set(files)
    local = Path(c.download_artifacts(t.run_id, "report.json", str(tmp_path)))
    assert json.loads(local.read_text()) == json.loads(spec.report("json", None))


def test_missing_mlflow_is_one_install_line(monkeypatch, capsys):
    from archspec import extras
    from archspec.cli import main

    real = extras.importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda n: None if n == "mlflow" else real(n))
    err = io.StringIO()
    with redirect_stderr(err):
        status = main(["train", str(ROOT / "specs/digits_cnn.yaml"), "--mlflow", "x.db"])
    assert status == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("pip install 'archspec[mlflow]'"), lines


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "archspec", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=900)


@pytest.mark.slow
@pytest.mark.keras
def test_train_run_in_mlflow(tmp_path):
    db = tmp_path / "mlflow.db"
    r = _cli("train", ROOT / "specs/digits_cnn.yaml", "--epochs", "2", "--out", "run", "--mlflow", f"sqlite:///{db}",
             "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    c = _client(db)
    [run] = c.search_runs([c.get_experiment_by_name("digits_cnn").experiment_id])
    assert run.info.status == "FINISHED"
    hist = list(csv.DictReader((tmp_path / "run/history.csv").open()))
    got = [(m.step, m.value) for m in c.get_metric_history(run.info.run_id, "val_loss")]
    assert got == [(int(h["epoch"]), pytest.approx(float(h["val_loss"]), rel=1e-4)) for h in hist]
    settings = json.loads((tmp_path / "run/settings.json").read_text())["settings"]
    assert run.data.params["train.seed"] == str(settings["seed"]) and run.data.params["train.epochs"] == "2"
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test"]["test_accuracy"])
    files = _artifacts(c, run.info.run_id)
    for f in ("spec/digits_cnn.yaml", "report.json", "diagram.dot", "history.csv", "summary.txt", "model/best.keras",
              "model/last.keras"):
        assert f in files, sorted(files)
    assert files["model/last.keras"] == (tmp_path / "run/last.keras").stat().st_size


@pytest.mark.slow
@pytest.mark.keras
def test_search_parent_and_child_runs(tmp_path):
    db = tmp_path / "mlflow.db"
    r = _cli("search", ROOT / "specs/digits_cnn_search.yaml", "--budget", "macs<=600K", "--trials", "2",
             "--epochs", "1", "--out", "s", "--seed", "3", "--mlflow", db, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    c = _client(db)
    runs = c.search_runs([c.get_experiment_by_name("digits_cnn_search").experiment_id])
    parents = [x for x in runs if x.data.tags.get("archspec.kind") == "search"]
    children = [x for x in runs if x.data.tags.get("archspec.kind") == "trial"]
    assert len(parents) == 1 and len(children) == 2
    pid = parents[0].info.run_id
    assert all(ch.data.tags["mlflow.parentRunId"] == pid for ch in children)
    table = json.loads((tmp_path / "s/results.json").read_text())
    trained = {str(t["trial"]) for t in table if t["kind"] == "candidate"}
    assert {ch.data.tags["optuna.trial"] for ch in children} == set(trained)
    best = max(ch.data.metrics["val_accuracy"] for ch in children)
    assert parents[0].data.metrics["best_val_accuracy"] == pytest.approx(best)
    assert {"best.yaml", "results.csv"} <= set(_artifacts(c, pid))
