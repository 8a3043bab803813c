"""Throughput of a search study's storage: trials per second with N workers, SQLite against PostgreSQL.

Each worker is a process running archspec's Search (search/driver.py) with a stand-in for training that
returns at once, so what is timed is the study's bookkeeping: Optuna's ask (random sampler: no TPE
cost), archspec's pricing of the point, the user attributes, constraints and heartbeat, and tell —
every storage round trip a real trial makes. PostgreSQL is a throwaway local cluster (tools/pgserver.py,
fsync off); SQLite a file with the write-ahead log, as `archspec search` opens it.

Reported per storage and N: trials/s of the whole study (trials over the span from the first trial's
start to the last one's end) and the CPU seconds per trial the workers spent (process time, so less
disturbed by other load on the machine). Runs are interleaved (sqlite, postgres, sqlite, …).

Usage: python bench/storage_bench.py [--workers 1,2,4] [--trials 60] [--repeat 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

WORKER = """
import json, sys, time
from pathlib import Path
from archspec.search.budget import parse_budget
from archspec.search.driver import Search, SearchConfig
url, study, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = SearchConfig(str(Path(sys.argv[4])), parse_budget("macs<=1T"), n, storage=url, study=study,
                   out=Path(sys.argv[5]), sampler="random", pruner="none", max_candidates=100000)
s = Search(cfg, evaluate=lambda spec, trial, cfg: 0.5, log=lambda line: None)
c0 = time.process_time()
p = s.run()
print(json.dumps({"cpu": time.process_time() - c0, "trained": p.trained, "drawn": p.drawn}))
"""


def one(url: str, study: str, workers: int, trials: int, tmp: Path) -> dict:
    import optuna

    from archspec.search.storage import database_url

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    spec = ROOT / "specs/digits_cnn_search.yaml"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, study, str(trials), str(spec), str(tmp / f"o{i}")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(workers)]
    outs = []
    for p in procs:
        o, e = p.communicate(timeout=1800)
        if p.returncode:
            raise RuntimeError(e[-2000:])
        outs.append(json.loads(o.strip().splitlines()[-1]))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.load_study(study_name=study, storage=database_url(url))
    done = [t for t in st.trials if t.datetime_complete is not None]
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return {"trials": len(done), "per_s": len(done) / span, "cpu_per_trial_ms": 1000 * sum(o["cpu"] for o in outs) / len(done)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--trials", type=int, default=60, help="trained candidates per study (all workers)")
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    import pgserver

    results: dict = {}
    with pgserver.Server() as pg, tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        k = 0
        for r in range(a.repeat):
            for n in map(int, a.workers.split(",")):
                for kind in ("sqlite", "postgresql"):
                    k += 1
                    url = f"sqlite:///{tmp / f's{k}.db'}" if kind == "sqlite" else pg.url
                    res = one(url, f"bench{k}", n, a.trials, tmp)
                    results.setdefault((kind, n), []).append(res)
                    print(f"{kind:10s} workers={n}: {res['trials']} trials, {res['per_s']:.1f} trials/s, "
                          f"{res['cpu_per_trial_ms']:.1f} ms CPU per trial", flush=True)
    print("\nmedians:")
    for (kind, n), rs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"  {kind:10s} N={n}: {statistics.median(r['per_s'] for r in rs):6.1f} trials/s, "
              f"{statistics.median(r['cpu_per_trial_ms'] for r in rs):5.1f} ms CPU/trial")


if __name__ == "__main__":
    main()
