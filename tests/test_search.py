"""archspec search: budgets, rejection before building, Optuna storage shared by worker processes,
crashed and killed trials. Fast tests use a static objective (no training); the training run is slow."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import ROOT, SPECS

from archspec.search.budget import BudgetError, parse_budget

pytest.importorskip("optuna")  # the search extra
pytestmark = pytest.mark.extras

SPEC = SPECS / "digits_cnn_search.yaml"


# ---- budgets ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text,message", [
    ("macs<=", "cannot read 'macs<='"),
    ("mac<=5M", "unknown metric 'mac'; did you mean 'macs'?"),
    ("params<=5MB", "'MB' is not a unit for params"),
    ("memory<=2M", "'M' is not a unit for memory"),
    ("macs<=1M,macs<2M", "macs has two upper bounds"),
    ("", "the budget is empty"),
    ("step_time<=1ms", "step_time is a time on a device: pass --device"),
])
def test_budget_errors(text, message):
    with pytest.raises(BudgetError, match=message.replace("?", r"\?")):
        parse_budget(text)


def test_budget_units_and_bounds():
    b = parse_budget("params<=5M, macs>=100K, macs<600M, train_memory<=2GiB")
    assert [x.limit for x in b] == [5e6, 1e5, 6e8, 2 * 2 ** 30]
    v = b.violations({"params": 6e6, "macs": 6e8, "train_memory": 1})
    assert v["params<=5M"] == 0.2 and v["macs>=100K"] < 0 and v["macs<600M"] > 0 and v["train_memory<=2GiB"] < 0


# ---- the driver, with a static objective ----------------------------------------------------
WORKER = textwrap.dedent("""\
    import math, os, sys, time
    from pathlib import Path
    from archspec.search.budget import parse_budget
    from archspec.search.driver import Search, SearchConfig

    storage, trials, out, sleep = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
    crash, calls = int(os.environ.get("CRASH_AT", 0)), []

    def evaluate(spec, trial, cfg):
        calls.append(trial.number)
        if len(calls) == crash:
            raise MemoryError("pretend the candidate ran out of memory")
        time.sleep(sleep)
        macs = spec.analysis().total.macs
        for epoch in range(2):
            trial.report(math.log10(macs) / 10 + epoch / 100, epoch)
        return math.log10(macs) / 10

    cfg = SearchConfig("{spec}", parse_budget("macs<=1M"), trials, storage=storage, study="s", out=out,
                       sampler=os.environ.get("SAMPLER", "tpe"), pruner="none")
    s = Search(cfg, evaluate=evaluate, log=lambda line: print(line, flush=True))
    p = s.run()
    print("DONE", p.drawn, p.rejected, p.trained, "keras" in sys.modules, flush=True)
""").replace("{spec}", str(SPEC))


def _worker(tmp_path, storage, trials, sleep=0.0, **env):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    e = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    # Ctrl-C reaches the worker as it reaches a search started from a terminal, whatever the test process
    # inherited (an ignored SIGINT survives exec)
    return subprocess.Popen([sys.executable, str(script), storage, str(trials), str(tmp_path / "out"), str(sleep)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=e, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _study(storage):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="s", storage=storage)


def _candidates(study):
    return [t for t in study.trials if t.user_attrs.get("kind") == "candidate"]


def test_two_workers_share_one_sqlite_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    procs = [_worker(tmp_path, storage, 6, 0.2) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all("DONE" in o and o.rstrip().endswith("False") for o in outs), outs   # Keras never imported
    study = _study(storage)
    cands = _candidates(study)
    assert 6 <= len(cands) <= 7                   # the last one may start in both workers at once
    assert all(t.state.name == "COMPLETE" for t in cands)
    points = [tuple(sorted(t.params.items())) for t in cands]
    assert len(set(points)) == len(points), "a point was trained twice"
    workers = {t.user_attrs["worker"] for t in cands}
    assert len(workers) == 2, "both workers trained candidates"
    assert not [t for t in study.trials if t.state.name in ("RUNNING", "WAITING")]
    for t in study.trials:                        # every draw: priced, then trained or rejected by its cost
        kind, macs = t.user_attrs.get("kind"), t.user_attrs.get("cost", {}).get("macs")
        assert kind in ("candidate", "rejected", "duplicate")
        assert (macs <= 1_000_000) == (kind != "rejected")
        assert (t.constraints["macs<=1M"] > 0) == (kind == "rejected")


def test_a_crashed_trial_is_recorded_and_the_study_goes_on(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    p = _worker(tmp_path, storage, 4, CRASH_AT="2", SAMPLER="random")
    out = p.communicate(timeout=600)[0]
    assert p.returncode == 0, out
    cands = _candidates(_study(storage))
    (failed,) = [t for t in cands if t.state.name == "FAIL"]
    assert failed.number == cands[1].number         # the second training crashed
    assert failed.user_attrs["error"] == "MemoryError: pretend the candidate ran out of memory"
    assert [t.state.name for t in cands] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert f"trial {failed.number}: FAILED: MemoryError: pretend the candidate ran out of memory" in out


def test_a_killed_search_resumes_from_its_storage(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    p = _worker(tmp_path, storage, 3, 60.0)          # the first candidate trains for a minute
    deadline = time.time() + 300
    while time.time() < deadline:
        line = p.stdout.readline()
        if ": training" in line:
            break
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    study = _study(storage)
    (killed,) = [t for t in study.trials if t.state.name == "RUNNING"]
    again = _worker(tmp_path, storage, 3, 0.0)
    out = again.communicate(timeout=600)[0]
    assert again.returncode == 0, out
    assert f"trial {killed.number}: its worker" in out
    study = _study(storage)
    assert study.trials[killed.number].state.name == "FAIL"
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE" and retried[0].params == killed.params
    done = [t for t in _candidates(study) if t.state.name == "COMPLETE"]
    assert len(done) == 3


# ---- the command ------------------------------------------------------------------------------
def _cli(*args, cwd=None):
    code = ("import sys; from archspec.cli import main; rc = main(sys.argv[1:]); "
            "print('HEAVY', sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules)); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)


def test_cli_rejects_without_building(tmp_path):
    r = _cli("search", str(SPEC), "--budget", "macs<=50K", "--trials", "2", "--max-candidates", "25",
             "--out", str(tmp_path / "o"), "--sampler", "random")
    assert r.returncode == 1, r.stderr
    assert "rejected 25 without building them" in r.stdout and "per second" in r.stdout
    assert "HEAVY []" in r.stdout                 # nothing was built: no Keras, no TensorFlow
    rows = json.loads((tmp_path / "o" / "results.json").read_text())
    assert len(rows) == 25 and all(r["kind"] == "rejected" and r["macs"] > 50_000 for r in rows)
    assert (tmp_path / "o" / "results.csv").read_text().count("\n") == 26
    assert "no candidate finished training" in r.stderr


@pytest.mark.parametrize("args,message", [
    (["--budget", "mac<=1M"], "--budget: unknown metric 'mac'"),
    (["--budget", "macs<=1M", "--storage", "digits.db"], "--storage: 'digits.db' is not a database URL"),
    (["--budget", "macs<=1M", "--storage", "sqlite:////proc/no/x.db"], "cannot create the folder /proc/no"),
    (["--budget", "macs<=1M", "--set", "width1=16", "--set", "width2=16", "--set", "depth=1", "--set", "units=32"],
     "no search space left"),
])
def test_cli_usage_errors(tmp_path, args, message):
    r = _cli("search", str(SPEC), "--trials", "1", "--out", str(tmp_path / "o"), *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_cli_resuming_with_another_budget_is_refused(tmp_path):
    base = ["search", str(SPEC), "--trials", "1", "--max-candidates", "2", "--out", str(tmp_path / "o")]
    assert _cli(*base, "--budget", "macs<=10K").returncode == 1
    r = _cli(*base, "--budget", "macs<=20K")
    assert r.returncode == 2 and "was started with budget 'macs<=10K'" in r.stderr


@pytest.mark.slow
def test_search_trains_and_writes_a_best_spec_that_trains(tmp_path):
    out = tmp_path / "o"
    r = _cli("search", str(SPEC), "--budget", "macs<=600K", "--trials", "2", "--epochs", "2", "--out", str(out),
             "--seed", "0", "--pruner", "none")
    assert r.returncode == 0, r.stdout + r.stderr
    best = out / "best.yaml"
    assert best.exists() and (out / "pareto.png").stat().st_size > 10_000
    import archspec

    spec = archspec.load(best)
    assert not spec.space and spec.analysis().total.macs <= 600_000
    first = best.read_text().splitlines()[0]                 # the source's modeline, first, rebased
    assert first.startswith("# yaml-language-server: $schema=")
    assert (out / first.split("=", 1)[1]).resolve() == (SPEC.parent.parent / "schema" / "archspec.schema.json").resolve()
    rows = json.loads((out / "results.json").read_text())
    trained = [r for r in rows if r["kind"] == "candidate"]
    assert len(trained) == 2 and all(0 < r["value"] <= 1 and r["epochs"] == 2 for r in trained)
    t = _cli("train", str(best), "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet")
    assert t.returncode == 0, t.stderr
    assert (tmp_path / "run" / "metrics.json").exists()


def test_an_interrupted_search_gives_its_slot_back_and_resumes(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    p = _worker(tmp_path, storage, 2, 60.0)
    deadline = time.time() + 300
    while time.time() < deadline and ": training" not in p.stdout.readline():
        pass
    time.sleep(1)
    p.send_signal(signal.SIGINT)                   # Ctrl-C
    out = p.communicate(timeout=120)[0]
    stopped = [t for t in _study(storage).trials if t.user_attrs.get("interrupted")]
    assert len(stopped) == 1, out
    (stopped,) = stopped
    assert stopped.state.name == "FAIL"
    again = _worker(tmp_path, storage, 2, 0.0)
    out = again.communicate(timeout=600)[0]
    assert again.returncode == 0, out
    done = [t for t in _candidates(_study(storage)) if t.state.name == "COMPLETE"]
    assert len(done) == 2                          # the interrupted trial did not count


def test_ctrl_c_stops_the_search_even_when_the_storage_cannot_take_the_mark(tmp_path, monkeypatch):
    import optuna

    from archspec.search.driver import Search, SearchConfig

    def evaluate(spec, trial, cfg):
        raise KeyboardInterrupt

    def set_user_attr(self, key, value, original=optuna.trial.Trial.set_user_attr):
        if key == "interrupted":
            raise RuntimeError("database is locked")
        original(self, key, value)

    monkeypatch.setattr(optuna.trial.Trial, "set_user_attr", set_user_attr)
    cfg = SearchConfig(str(SPEC), parse_budget("macs<=1M"), 3, storage=f"sqlite:///{tmp_path / 'k.db'}",
                       out=tmp_path, sampler="random", pruner="none")
    s = Search(cfg, evaluate=evaluate, log=lambda line: None)
    with pytest.raises(KeyboardInterrupt):      # not an error Optuna catches and trains the next trial after
        s.run()


def test_budget_metrics_read_a_price_like_the_spec():
    import archspec

    pricer = archspec.Pricer(SPEC)
    b = parse_budget("params<=1M,macs<=1M,flops<=1G,layers<=100,memory<=1MiB,train_memory<=1GiB,trainable<=1M")
    point = {"width1": 16, "width2": 48, "depth": 2}
    got = b.measure(pricer.price(point))
    spec = archspec.load(SPEC, point)
    t, a = spec.analysis().total, spec.analysis()
    assert got == {"params": t.params, "macs": t.macs, "flops": t.flops, "layers": t.layers, "memory": a.peak_bytes,
                   "train_memory": spec.training_estimate(32).peak_bytes, "trainable": t.trainable}


def test_grid_sampler_visits_every_point_once(tmp_path):
    import itertools

    import archspec
    from archspec.search.driver import Search, SearchConfig

    cfg = SearchConfig(str(SPEC), parse_budget("macs<=300K"), 100, storage=f"sqlite:///{tmp_path / 'g.db'}",
                       out=tmp_path, sampler="grid", overrides={"width1": 8, "units": 32})
    s = Search(cfg, evaluate=lambda spec, trial, cfg: 0.5, log=lambda line: None)
    s.run()
    trials = s.study.trials
    points = {(t.params["width2"], t.params["depth"]) for t in trials}
    assert len(trials) == len(points) == 5 * 3
    pricer = archspec.Pricer(SPEC)
    feasible = {(w, d) for w, d in itertools.product([16, 32, 48, 64, 96], [1, 2, 3])
                if pricer.price({"width1": 8, "units": 32, "width2": w, "depth": d}).macs <= 300_000}
    assert {(t.params["width2"], t.params["depth"]) for t in trials if t.user_attrs["kind"] == "candidate"} == feasible
    assert 0 < len(feasible) < 15


def test_step_time_budget_is_the_training_estimate_on_the_device():
    import archspec

    b = parse_budget("step_time<=20us", device="h100")
    point = {"width1": 48, "width2": 96, "depth": 3}
    got = b.measure(archspec.Pricer(SPEC).price(point))["step_time"]
    assert got == archspec.load(SPEC, point).training_estimate(32, device="h100").step_time_s
    with pytest.raises(BudgetError, match="unknown device 'h1000'"):
        parse_budget("step_time<=1ms", device="h1000")
