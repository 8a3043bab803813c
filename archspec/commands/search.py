"""archspec search SPEC --budget "macs<=600M" --trials N: search the spec's space on Optuna (docs/search.md).

Each candidate is priced statically; one over budget is rejected before anything is built. The others
train with `archspec train`'s loop, reporting each epoch to the trial so that poor ones stop early.
Several processes given the same --storage and --study share one study; running the command again
resumes it. Writes OUT/results.csv, results.json, pareto.png and best.yaml.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from .shared import (
    EXIT_OK,
    EXIT_SPEC,
    UsageError,
    check_data_arg,
    common,
    parse_sets,
    positive_int,
    quiet_tensorflow,
    shown,
    verbose_option,
)


def configure(p):
    common(p)
    p.add_argument("--budget", required=True, metavar="BOUNDS",
                   help='cost bounds, e.g. "params<=5M,macs<=600M,train_memory<=2GiB" (metrics: params, '
                        "trainable, macs, flops, layers, memory, train_memory, step_time with --device)")
    p.add_argument("--device", metavar="NAME", help="device for the step_time budget (h100, a100, l4, t4, v100, cpu, …)")
    p.add_argument("--trials", type=positive_int, required=True,
                   help="candidates to train, over all workers and restarts of the study")
    p.add_argument("--epochs", type=positive_int, help="epochs per candidate (default: the spec's training.epochs)")
    p.add_argument("--data", metavar="SOURCE", help="training data, as for archspec train (default: the spec's)")
    p.add_argument("--batch-size", type=positive_int, help="batch size (default: the spec's)")
    p.add_argument("--metric", default="val_accuracy",
                   help="the epoch metric to maximize (minimize if it names a loss); default val_accuracy")
    p.add_argument("--out", metavar="DIR", help="folder for the study's results (default: runs/<spec name>-search)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna RDB storage shared by the workers: sqlite:///FILE.db on one machine, "
                        "postgresql://… or mysql+pymysql://… for many (default: sqlite:///OUT/study.db)")
    p.add_argument("--study", metavar="NAME", help="study name in the storage (default: the spec's name)")
    p.add_argument("--sampler", choices=["tpe", "random", "nsga2", "grid"], default="tpe",
                   help="Optuna sampler (default tpe; grid: every point of a finite space once)")
    p.add_argument("--pruner", choices=["median", "hyperband", "none"], default="median",
                   help="Optuna pruner for poor trials (default median)")
    p.add_argument("--seed", type=int, help="seed of the sampler and of each trial's training")
    p.add_argument("--heartbeat", type=positive_int, default=30, metavar="SECONDS",
                   help="a training trial's heartbeat to the storage (default 30 s); a trial silent for 4 "
                        "heartbeats (a lost machine) is failed and its point queued again")
    from .train import add_mlflow_options

    add_mlflow_options(p)
    verbose_option(p)
    p.add_argument("--max-candidates", type=positive_int, metavar="N",
                   help="stop after drawing N candidates in this process (default 50 × --trials)")


def run(args) -> int:
    from ..errors import SpecError
    from ..search.budget import BudgetError, parse_budget

    try:
        budget = parse_budget(args.budget, args.device)
    except BudgetError as exc:
        raise UsageError(f"--budget: {exc}") from None
    if args.spec == "-":
        raise UsageError("search reads the spec from a file, not from stdin")
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UsageError("archspec search needs Optuna: pip install 'archspec[search]'") from None
    from .. import api
    from ..train.config import resolve

    check_data_arg(args.data)
    from .train import mlflow_uri

    uri = mlflow_uri(args)
    overrides = parse_sets(args.set)
    base = api.load(args.spec, overrides, root=args.root)        # the default point: a SpecError is exit 1
    settings = resolve(base, {"data": args.data, "epochs": args.epochs, "batch_size": args.batch_size})
    out = Path(args.out or f"runs/{base.name}-search")
    from ..search.driver import SearchConfig, StudyMismatch

    cfg = SearchConfig(args.spec, budget, args.trials, settings.epochs, args.data, args.batch_size, args.storage,
                       args.study, out, args.sampler, args.pruner, args.seed, overrides, args.root,
                       args.max_candidates, args.metric, mlflow=uri, mlflow_experiment=args.mlflow_experiment,
                       heartbeat=args.heartbeat)
    quiet_tensorflow(args.verbose)           # (TensorFlow itself loads only when a candidate trains)
    try:
        return _search(cfg, base)
    except StudyMismatch as exc:
        raise UsageError(str(exc)) from None
    except SpecError:
        raise


def _search(cfg, base) -> int:
    import time

    from ..render.tables import human
    from ..search import results
    from ..search.driver import Search, trained_count

    def log(line):
        print(line, flush=True)

    t0 = time.perf_counter()
    s = Search(cfg, log=log)
    n0 = len(s.study.trials)
    log(f"{cfg.spec_path}: search space {s.summary}")
    log(f"study '{s.study.study_name}' in {s.url}: {n0} trials so far ({trained_count(s.study)} trained); "
        f"budget {cfg.budget.text}; training {cfg.trials} candidates in all")
    parent = None
    if cfg.mlflow:
        from ..train.tracking import search_parent

        where = re.sub(r"//[^@/]*@", "//", s.url)            # without user:password
        parent = search_parent(cfg.mlflow, s.study, cfg.mlflow_experiment or base.name, base, {
            "search.space": s.summary, "search.budget": cfg.budget.text, "search.metric": cfg.metric,
            "search.trials": cfg.trials, "search.storage": where})
        cfg.mlflow_parent = parent.run_id
        log(f"mlflow: parent run {parent.run_id} at {cfg.mlflow}; a child run per trained trial")
    try:
        p = s.run()
    except KeyboardInterrupt:
        print(f"interrupted; run the same command again to resume the study from {s.url}", file=sys.stderr)
        _finish(s, cfg, time.perf_counter() - t0)
        if parent:
            parent.end("KILLED")
        return 130
    rate = p.rejects_per_second
    log(f"this worker: drew {p.drawn} candidates, rejected {p.rejected} without building them"
        + (f" ({rate:,.0f} per second)" if rate else "") + f", trained {p.trained}"
        + (f"; stopped: {p.stopped}" if p.stopped and p.stopped != "done" else ""))
    best = _finish(s, cfg, time.perf_counter() - t0)
    if parent:
        _track_study(parent, s, cfg, best)
    if best is None:
        print("no candidate finished training; nothing to write as the best spec", file=sys.stderr)
        return EXIT_SPEC
    path, t = best
    cost = t.user_attrs.get("cost", {})
    log(f"best: trial {t.number}, {cfg.metric} {t.value:.4f}"
        + (f", test_accuracy {t.user_attrs['test_accuracy']:.4f}" if "test_accuracy" in t.user_attrs else "")
        + f", {human(cost.get('macs', 0))} MACs, {cost.get('params', 0):,} params")
    log(f"wrote {shown(path)}; train it with: archspec train {path}")
    del results
    return EXIT_OK


def _track_study(parent, s, cfg, best) -> None:
    """The parent run's results: the study tables and plot, the best spec, the best value."""
    from ..search.driver import trained_count

    for name in ("results.csv", "results.json", "pareto.png"):
        if (cfg.out / name).is_file():
            parent.log_file(cfg.out / name)
    metrics = {"trials_trained": trained_count(s.study)}
    if best is not None:
        path, t = best
        parent.log_file(path)
        metrics[f"best_{cfg.metric}"] = t.value
        parent.client.set_tag(parent.run_id, "archspec.best_trial", str(t.number))
    parent.log_metrics(metrics)
    parent.end()


def _finish(s, cfg, seconds):
    from ..search import results

    rows = results.rows(s.study)
    cfg.out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = results.write_table(rows, cfg.out)
    png = results.plot(rows, cfg.out, f"{s.base.name}: {cfg.metric} vs MACs ({cfg.budget.text})", cfg.metric,
                       cfg.budget)
    kinds = {}
    for r in rows:
        kinds[r["kind"] or r["state"]] = kinds.get(r["kind"] or r["state"], 0) + 1
    print(f"study: {len(rows)} trials (" + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) + f"); "
          f"{seconds:.1f} s in this worker", flush=True)
    print("wrote " + ", ".join(shown(p) for p in (csv_path, json_path, png) if p), flush=True)
    return results.write_best(s.study, cfg.spec_path, cfg.overrides, cfg.metric, cfg.out, s.space)
