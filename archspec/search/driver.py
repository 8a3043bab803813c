"""The search loop on Optuna: sample a point, price it statically, reject it if it breaks the budget,
train it otherwise, prune it early if it trails.

Rejection without bias (optuna#2969). An over-budget candidate is never built. Its distance past each
bound (relative: `macs/limit - 1`) is recorded with Optuna's own `Trial.set_constraint`, and the trial
ends PRUNED. The samplers that know constraints (TPE, NSGA-II/III, GP) rank infeasible trials below every
feasible one and among themselves by how far over they were, so the sampler learns where the boundary
is without ever seeing a made-up score; `best_trial` considers feasible trials only; the pruners compare
intermediate values, which a rejected trial has none of. Returning a low score instead would teach the
sampler that big networks are bad networks; re-drawing inside one trial would hide the over-budget
region from the sampler so that it keeps proposing it.

Workers: every process running `archspec search` on the same storage URL and study name is a worker of
one study (Optuna's RDB storage: SQLite on one machine, PostgreSQL/MySQL for many). TPE runs with
`constant_liar`, so workers do not propose what another is training. Heartbeats mark the trial of a
killed worker failed, and it is queued again once (RetryHeartbeatStaleTrialCallback): a killed search
resumes by running the same command again.
"""
from __future__ import annotations

import contextlib
import gc
import os
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecError

CANDIDATE, REJECTED, INVALID, DUPLICATE = "candidate", "rejected", "invalid", "duplicate"


@dataclass
class SearchConfig:
    spec_path: str
    budget: object                      # budget.Budget
    trials: int                         # candidates to train, over all workers and restarts
    epochs: int | None = None
    data: str | None = None
    batch_size: int | None = None
    storage: str | None = None          # an RDB URL; default sqlite:///OUT/study.db
    study: str | None = None            # default: the spec's name
    out: Path = Path("runs/search")
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int | None = None
    overrides: dict = field(default_factory=dict)   # --set: fixed parameters
    root: str | None = None
    max_candidates: int | None = None   # draws per process before giving up (default 50 × trials)
    metric: str = "val_accuracy"
    heartbeat: int = 30                 # seconds between a training trial's heartbeats
    mlflow: str | None = None           # tracking URI: a child run per trained trial (train/tracking.py)
    mlflow_parent: str | None = None    # the study's parent run
    mlflow_experiment: str | None = None


@dataclass
class Progress:
    drawn: int = 0
    rejected: int = 0
    reject_seconds: float = 0.0         # time spent drawing and pricing the rejected candidates
    trained: int = 0
    stopped: str = ""

    @property
    def rejects_per_second(self) -> float | None:
        return self.rejected / self.reject_seconds if self.reject_seconds > 0 else None


def optuna_quiet():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)     # archspec prints its own line per trial
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*constant_liar.*")
    return optuna


def open_study(cfg: SearchConfig, space_text: str, spec_name: str, space: dict | None = None):
    """Create the study, or join/resume the one of that name in the storage (its space and budget must match)."""
    optuna = optuna_quiet()
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    url = cfg.storage or f"sqlite:///{(Path(cfg.out) / 'study.db').resolve()}"
    from ..extras import MissingExtra
    from .storage import database_url

    try:
        url = database_url(url)
    except MissingExtra as exc:
        raise StudyMismatch(f"--storage {url}: {exc}") from None
    if url.startswith("sqlite:///"):
        folder = Path(url[len("sqlite:///"):]).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StudyMismatch(f"--storage {url}: cannot create the folder {folder}: {exc.strerror}") from None
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    name = cfg.study or spec_name

    def connect():
        storage = RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=cfg.heartbeat,
                             grace_period=cfg.heartbeat * 4,
                             heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1))
        if url.startswith("sqlite"):
            _sqlite_wal(storage.engine)
        return storage, optuna.create_study(
            study_name=name, storage=storage, direction="minimize" if "loss" in cfg.metric else "maximize",
            sampler=make_sampler(cfg, storage, name, space), pruner=make_pruner(cfg.pruner, cfg.epochs),
            load_if_exists=True)

    import re

    from sqlalchemy.exc import ArgumentError, OperationalError

    if not re.match(r"^[a-z][a-z0-9+]*://", url):
        raise StudyMismatch(f"--storage: '{url}' is not a database URL; use sqlite:///FILE.db on one machine, "
                            "postgresql://USER:PASSWORD@HOST/DB or mysql+pymysql://USER:PASSWORD@HOST/DB for many")
    try:
        storage, study = _retry(connect)
    except ArgumentError as exc:
        raise StudyMismatch(f"--storage: cannot read '{url}' as a database URL ({exc})") from None
    except ImportError:
        raise StudyMismatch(f"--storage {url}: the database driver is not installed; pip install 'archspec[postgres]' "
                            "(PostgreSQL) or pymysql (MySQL, with mysql+pymysql://)") from None
    except OperationalError as exc:
        first = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        raise StudyMismatch(f"--storage {url}: cannot open the database: {first}") from None
    mine = {"space": space_text, "budget": cfg.budget.text, "metric": cfg.metric}
    have = study.user_attrs
    # (workers started together: another may be writing these right now, so a key not there yet is
    # written, not taken for a mismatch; the values of workers that agree are the same)
    for k, v in {**mine, "spec": str(cfg.spec_path)}.items():
        if k not in have:
            study.set_user_attr(k, v)
        elif k in mine and have[k] != v:
            raise StudyMismatch(f"the study '{name}' in {url} was started with {k} {have[k]!r}, not {v!r}; "
                                "resume it with the same spec and budget, or pass --study NEW_NAME")
    return study, url


class StudyMismatch(Exception):
    pass


def _retry(fn, attempts: int = 6):
    """Workers started together race to create the tables and the study (alembic's version row, the
    study name): the loser of such a race gets an integrity or locking error and simply tries again."""
    import random

    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for k in range(attempts):
        try:
            return fn()
        except (IntegrityError, OperationalError, ProgrammingError) as exc:
            # PostgreSQL: a table another worker created in between is DuplicateTable, a ProgrammingError
            race = isinstance(exc, IntegrityError) or any(w in str(exc) for w in ("locked", "already exists"))
            if k == attempts - 1 or not race:
                raise
            time.sleep(0.2 + random.random() * (k + 1))


def _sqlite_wal(engine):
    """SQLite in write-ahead-log mode with `synchronous=NORMAL`: a commit no longer waits for the disk
    to flush, readers do not block the writer, and a killed process still loses
    nothing it committed (only a power cut could lose the last commits)."""
    from sqlalchemy import event

    def on_connect(conn, _record):
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()                     # connections opened before the listener are dropped


def make_sampler(cfg: SearchConfig, storage, name: str, space: dict | None = None):
    import optuna

    if cfg.sampler == "grid":
        # every point once, in a random order, shared by the workers; the study stops when all are done
        grid = {k: d.grid() for k, d in (space or {}).items()}
        continuous = [k for k, v in grid.items() if v is None]
        if continuous:
            raise StudyMismatch(f"--sampler grid needs a finite space; {', '.join(continuous)} "
                                f"{'is a continuous range' if len(continuous) == 1 else 'are continuous ranges'} "
                                "(give it a step, or use tpe / random)")
        return optuna.samplers.GridSampler(grid, seed=cfg.seed)

    seed = cfg.seed
    if seed is not None:
        # a resumed run must not replay the same random draws, nor may workers started together
        try:
            seed += len(storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False))
        except KeyError:
            pass
        if cfg.storage:
            seed += 7919 * os.getpid()
    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if cfg.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                      n_startup_trials=5)


def make_pruner(name: str, epochs: int | None):
    """The median pruner judges a trial only after 5 trials have finished and a third of its epochs
    have run: in the first epochs a network with batch norm scores erratically on validation data (its
    moving statistics lag), and the digits example pruned networks that later reached 96% at epoch 3."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, (epochs or 9) // 9), max_resource=epochs or "auto")
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(2, (epochs or 10) // 3))


def trained_count(study) -> int:
    """Candidates that took (or are taking) a training slot: all workers, all restarts. An interrupted
    trial gives its slot back; a stale one is queued again by the heartbeat callback."""
    from optuna.trial import TrialState

    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("kind") != CANDIDATE or t.user_attrs.get("interrupted"):
            continue
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING) or (
                t.state == TrialState.FAIL and "error" in t.user_attrs):
            n += 1
    return n


class Search:
    """One worker's part of a study. `evaluate(spec, trial, cfg) -> float` trains a candidate (the default
    is `train_candidate`); tests pass a static one."""

    def __init__(self, cfg: SearchConfig, evaluate=None, log=print):
        from .. import api

        self.cfg = cfg
        self.log = log
        self.evaluate = evaluate or train_candidate
        base = api.load(cfg.spec_path, cfg.overrides, root=cfg.root)
        self.space = {k: d for k, d in base.space.items() if k not in cfg.overrides}
        if not self.space:
            raise StudyMismatch(f"{cfg.spec_path} has no search space left to search"
                                + (" (--set fixes every searched parameter)" if base.space else
                                   ": give a parameter `choice:`, `range:` or `one_of:` under `params:`"))
        self.base = base
        from ..lang.space import SearchSpace
        from ..pricing import Pricer

        self.pricer = Pricer(cfg.spec_path, root=cfg.root)      # reads and validates the spec once
        self.summary = SearchSpace(self.space).summary()
        self.study, self.url = open_study(cfg, self.summary, base.name, self.space)
        self.progress = Progress()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    # ---- one trial ---------------------------------------------------------------------------
    def objective(self, trial):
        import optuna

        p = self.progress
        p.drawn += 1
        t0 = time.perf_counter()
        point = {k: d.suggest(trial) for k, d in self.space.items()}
        t1 = time.perf_counter()
        priced = self.pricer.price({**self.cfg.overrides, **point})
        if not priced.ok:
            d = priced.errors[0]
            trial.set_user_attr("kind", INVALID)
            trial.set_user_attr("reason", f"{d.loc}: {d.message}" if d.loc else d.message)
            trial.set_constraint("valid", 1.0)
            self._rejected(t0)
            raise optuna.TrialPruned("the point does not check")
        values = self.cfg.budget.measure(priced)
        cost = {"params": priced.params, "macs": priced.macs, **values,
                "price_ms": round((time.perf_counter() - t1) * 1000, 2)}
        trial.set_user_attr("cost", cost)
        for key, v in self.cfg.budget.violations(values).items():
            trial.set_constraint(key, v)
        over = self.cfg.budget.over(values)
        if over:
            trial.set_user_attr("kind", REJECTED)
            trial.set_user_attr("reason", "; ".join(over))
            self._rejected(t0)
            raise optuna.TrialPruned("over budget: " + "; ".join(over))
        twin = self._twin(trial, point)
        if twin is not None:
            return self._copy(trial, twin)
        spec = priced.spec                      # the full expansion: only for what will be built
        trial.set_user_attr("kind", CANDIDATE)
        # (a FAIL without `error` or `interrupted`, e.g. killed right here, does not count as trained)
        try:
            trial.set_user_attr("worker", self.worker)
            p.trained += 1
            desc = ", ".join(f"{k}={v}" for k, v in point.items())
            self.log(f"trial {trial.number}: {desc} ({priced.macs:,} MACs): training")
            value = self.evaluate(spec, trial, self.cfg)
        except optuna.TrialPruned:
            self.log(f"trial {trial.number}: pruned after epoch {max(trial.user_attrs.get('epochs', 0), 1)}")
            raise
        except KeyboardInterrupt:
            # the mark gives the slot back; a storage that cannot take it (locked, gone) must not turn the
            # Ctrl-C into an error Optuna catches and goes on from (a FAIL without `error` is not counted either)
            with contextlib.suppress(Exception):
                trial.set_user_attr("interrupted", True)
            raise
        except Exception as exc:
            msg = _error_text(exc)
            trial.set_user_attr("error", msg)
            self.log(f"trial {trial.number}: FAILED: {msg}")
            raise
        self.log(f"trial {trial.number}: {self.cfg.metric} {value:.4f}")
        return value

    def _rejected(self, t0):
        self.progress.rejected += 1
        self.progress.reject_seconds += time.perf_counter() - t0

    def _twin(self, trial, point):
        """A trained (or training) trial with the same point, if any: its result is reused."""
        from optuna.trial import TrialState

        live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        for t in self.study.get_trials(deepcopy=False, states=live):
            if t.number != trial.number and t.user_attrs.get("kind") == CANDIDATE and t.params == trial.params:
                return t
        return None

    def _copy(self, trial, twin):
        import optuna
        from optuna.trial import TrialState

        trial.set_user_attr("kind", DUPLICATE)
        trial.set_user_attr("reason", f"same point as trial {twin.number}")
        if twin.state == TrialState.COMPLETE:
            for step, v in twin.intermediate_values.items():
                trial.report(v, step)
            return twin.value
        for step, v in twin.intermediate_values.items():
            trial.report(v, step)
        raise optuna.TrialPruned(f"same point as trial {twin.number} ({twin.state.name.lower()})")

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> Progress:
        from optuna.trial import TrialState

        cfg, p = self.cfg, self.progress
        limit = cfg.max_candidates or 50 * cfg.trials
        since_new, errors = [0], []
        self.reap_dead_local_workers()

        def stop_when_done(study, frozen):
            kind = frozen.user_attrs.get("kind")
            since_new[0] = 0 if kind == CANDIDATE else since_new[0] + 1
            if kind == CANDIDATE:
                errors.append(frozen.user_attrs.get("error") if frozen.state == TrialState.FAIL else None)
            if len(errors) == 3 and errors[0] and errors == [errors[0]] * 3:
                p.stopped = f"the first three trainings failed with the same error: {errors[0]}"
                study.stop()
            elif trained_count(study) >= cfg.trials and not _waiting(study):
                p.stopped = "done"
                study.stop()
            elif p.drawn >= limit:
                p.stopped = f"drew {p.drawn} candidates in this process without reaching {cfg.trials} trainings"
                study.stop()
            elif since_new[0] >= 200:
                p.stopped = "200 draws in a row gave no new candidate within the budget (the feasible space is spent?)"
                study.stop()

        if trained_count(self.study) >= cfg.trials and not _waiting(self.study):
            p.stopped = "done"
            return p
        # (no full gc after every trial, a walk over the whole heap: train_candidate collects after each training)
        self.study.optimize(self.objective, n_trials=None, catch=(Exception,), callbacks=[stop_when_done],
                            gc_after_trial=False)
        return p

    def reap_dead_local_workers(self):
        """Trials left RUNNING by a process of this machine that no longer exists (a killed search) fail
        now and are queued again, instead of after the heartbeat's grace period."""
        from optuna.storages import RetryHeartbeatStaleTrialCallback
        from optuna.trial import TrialState

        from ..files import _alive

        host = socket.gethostname()
        storage = self.study._storage
        trials = self.study.get_trials(deepcopy=False)          # in number order: trials[n].number == n
        for t in trials:
            if t.state != TrialState.RUNNING:
                continue
            who = str(t.user_attrs.get("worker", ""))
            parent = t.system_attrs.get("failed_trial")
            if parent is not None and parent < len(trials) and str(trials[parent].user_attrs.get("worker", "")) == who:
                continue    # a retry just claimed by a live worker: its worker is still the dead one's, copied
            h, _, pid = who.rpartition(":")
            if h == host and pid.isdigit() and not _alive(int(pid)):
                if storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                    self.log(f"trial {t.number}: its worker ({who}) is gone; queued again")
                    if t.user_attrs.get("kind") == CANDIDATE:
                        RetryHeartbeatStaleTrialCallback(max_retry=1)(self.study, storage.get_trial(t._trial_id))


def _waiting(study) -> bool:
    from optuna.trial import TrialState

    return any(t.state == TrialState.WAITING for t in study.get_trials(deepcopy=False))


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, SpecError):
        d = exc.diagnostics[0]
        return f"{type(exc).__name__}: {d.loc}: {d.message}" if d.loc else f"{type(exc).__name__}: {d.message}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


# ---- training a candidate --------------------------------------------------------------------------
def train_candidate(spec, trial, cfg: SearchConfig) -> float:
    """Train with archspec train's loop into OUT/trials/NNNN; report each epoch's metric to the trial;
    returns the best epoch's value of the metric (validation accuracy by default)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import optuna

    from ..train.config import resolve
    from ..train.loop import RunError, run_training

    keras.backend.clear_session()
    gc.collect()
    settings = resolve(spec, {"data": cfg.data, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                              "seed": (cfg.seed or 0) + trial.number})
    report = ReportToTrial(trial, cfg.metric)
    out = Path(cfg.out) / "trials" / f"{trial.number:04d}"
    tracker = _trial_tracker(spec, trial, cfg, settings)
    try:
        result = run_training(spec, settings, out, restart=True, verbose=0,
                              callbacks=[report] + ([tracker.callback()] if tracker else []))
    except BaseException as exc:
        if tracker:
            tracker.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        if isinstance(exc, RunError):
            raise RuntimeError(str(exc)) from None
        raise
    if tracker:
        tracker.log_result(result, out, settings)
        tracker.end("KILLED" if report.pruned_at is not None else "FINISHED")
    trial.set_user_attr("epochs", result.epochs_done)
    trial.set_user_attr("train_seconds", round(result.seconds, 2))
    trial.set_user_attr("run", str(out))
    if result.test:
        for k, v in result.test.items():
            trial.set_user_attr(k, v)
    if report.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned after epoch {report.pruned_at + 1}")
    if not report.values:
        raise RuntimeError(f"training reported no '{cfg.metric}' (metrics seen: {', '.join(report.seen) or 'none'}); "
                           "pass --metric, or give the spec a validation_split")
    best = min(report.values) if "loss" in cfg.metric else max(report.values)
    return float(best)


def _trial_tracker(spec, trial, cfg: SearchConfig, settings):
    """The MLflow child run of a trained trial, or None without --mlflow."""
    if not cfg.mlflow:
        return None
    from ..train.tracking import Tracker

    t = Tracker(cfg.mlflow, cfg.mlflow_experiment or spec.name, f"trial {trial.number}", parent=cfg.mlflow_parent,
                tags={"archspec.kind": "trial", "optuna.trial": str(trial.number)})
    t.log_spec(spec, settings)
    trial.set_user_attr("mlflow_run", t.run_id)
    return t


def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class ReportToTrial:
    """A Keras callback (built lazily so that this module does not import Keras): each epoch's metric
    goes to `trial.report`; when the pruner says so, training stops after that epoch."""

    def __new__(cls, trial, metric):
        base = _keras_callback_base()

        class _Report(base):
            def __init__(self):
                super().__init__()
                self.values, self.seen, self.pruned_at = [], [], None

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                self.seen = list(logs)
                if metric not in logs:
                    return
                v = float(logs[metric])
                self.values.append(v)
                trial.report(v, epoch)
                trial.set_user_attr("epochs", epoch + 1)
                trial.set_user_attr("last", v)
                if trial.should_prune():
                    self.pruned_at = epoch
                    self.model.stop_training = True

        return _Report()
