"""archspec train SPEC: train the spec's network on images, text or token ids into a run folder (see docs/train.md).

Flags override the spec's `training:` section. Re-running into a folder that holds a checkpoint
continues after its last completed epoch (what `--resume` asks for explicitly).
"""
from __future__ import annotations

import argparse
import sys

from .shared import (
    EXIT_OK,
    EXIT_SPEC,
    UsageError,
    check_data_arg,
    common,
    load_spec,
    positive_int,
    print_warnings,
    quiet_tensorflow,
    verbose_option,
)


def _rate(v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{v}'") from None
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return x


def configure(p):
    common(p)
    p.add_argument("--data", metavar="SOURCE",
                   help="digits | synthetic[:N] | npz:FILE | cifar10:FOLDER | folder:FOLDER | mnist | text[:FILE|FOLDER] "
                        "| a path (default: the spec's training.data, else chosen by the input: archspec's own docs "
                        "as text for token ids; see docs/train.md)")
    p.add_argument("--epochs", type=positive_int, help="train up to this many epochs in all")
    p.add_argument("--batch-size", type=positive_int, help="global batch size (all devices together)")
    p.add_argument("--learning-rate", type=_rate, help="the optimizer's (initial) learning rate")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs/<spec name>, with --set overrides runs/<name>_<overrides>)")
    p.add_argument("--precision", choices=["float32", "mixed_float16", "mixed_bfloat16"],
                   help="Keras dtype policy (mixed_float16 for NVIDIA GPUs, mixed_bfloat16 for TPUs and recent CPUs/GPUs)")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="compile the train step with XLA (default: Keras's 'auto')")
    p.add_argument("--seed", type=int, help="random seed (default: drawn once and recorded in settings.json)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in RUN_DIR after its last completed epoch (an error if there is none)")
    p.add_argument("--restart", action="store_true", help="discard what RUN_DIR holds and start over")
    p.add_argument("--distribute", choices=["none", "mirrored", "multi-worker"],
                   help="data parallel over all local devices (mirrored) or several machines (multi-worker): "
                        "tf.distribute on TensorFlow (TF_CONFIG), keras.distribution.DataParallel on JAX "
                        "(KERAS_DISTRIBUTION_* or TF_CONFIG)")
    p.add_argument("--backend", choices=["jax", "tensorflow", "torch", "auto"],
                   help="Keras backend (default: KERAS_BACKEND, else ~/.keras/keras.json's if installed, else auto; "
                        "auto: TensorFlow if installed, else JAX, else PyTorch)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_mlflow_options(p)
    verbose_option(p)


def add_mlflow_options(p) -> None:
    p.add_argument("--mlflow", metavar="URI",
                   help="also record the run in MLflow: a tracking URI (http://host:5000, sqlite:///mlflow.db, "
                        "a .db file or a folder); params, per-epoch metrics, spec, report, diagram and model "
                        "(pip install 'archspec[mlflow]')")
    p.add_argument("--mlflow-experiment", metavar="NAME", help="MLflow experiment (default: the spec's name)")


def mlflow_uri(args) -> str | None:
    """The checked --mlflow URI, or None; a missing mlflow package is a usage error (exit 2) said at once."""
    if not getattr(args, "mlflow", None):
        return None
    from ..extras import MissingExtra
    from ..train.tracking import check_uri

    try:
        return check_uri(args.mlflow)
    except MissingExtra as exc:
        raise UsageError(str(exc)) from None


def run(args) -> int:
    if args.resume and args.restart:
        raise UsageError("--resume and --restart contradict each other")
    check_data_arg(args.data)
    uri = mlflow_uri(args)
    spec, sources = load_spec(args.spec, args)
    warnings = [w.as_error() for w in spec.warnings] if args.strict else spec.warnings
    print_warnings(warnings, sources, args)
    if args.strict and warnings:
        return EXIT_SPEC
    from ..train.config import resolve

    settings = resolve(spec, {"data": args.data, "epochs": args.epochs, "batch_size": args.batch_size,
                              "learning_rate": args.learning_rate, "precision": args.precision,
                              "jit_compile": args.jit, "seed": args.seed, "distribute": args.distribute})
    from ..train.backend import activate
    from ..train.config import RunError

    try:
        activate(args.backend)        # sets KERAS_BACKEND: nothing has imported Keras yet
    except RunError as exc:
        raise UsageError(str(exc)) from None
    from ..train.config import check_save

    check_save(spec, settings)        # save: against the backend just chosen
    from ..train.loop import run_folder, run_training

    if not args.restart and settings.distribute != "multi-worker":     # said before TensorFlow loads (seconds)
        clash = run_folder(spec, args.out).spec_clash(spec)
        if clash:
            raise UsageError(clash)
    quiet_tensorflow(args.verbose)      # before TensorFlow loads: no start-up chatter

    def warn(diags):
        print_warnings(diags, sources, args)

    tracker = None
    if uri:
        from ..train.tracking import Tracker

        tracker = Tracker(uri, args.mlflow_experiment or spec.name, run_folder(spec, args.out).path.name)
        tracker.log_spec(spec, settings)
        print(f"mlflow: run {tracker.run_id} in experiment '{args.mlflow_experiment or spec.name}' at {uri}",
              file=sys.stderr)
    try:
        result = run_training(spec, settings, args.out, resume=args.resume or None, restart=args.restart,
                              verbose=0 if args.quiet else None, warn=warn, command=["archspec", *sys.argv[1:]],
                              callbacks=[tracker.callback()] if tracker else ())
    except RunError as exc:
        if tracker:
            tracker.end("FAILED")
        raise UsageError(str(exc)) from None
    except BaseException as exc:
        if tracker:
            tracker.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    if tracker:
        tracker.log_result(result, result.out, settings)
        tracker.end()
    if result.already_done:
        print(f"{result.out}: this run already finished after {result.epochs_done} epoch{'s' * (result.epochs_done != 1)}"
              f"{' (early stopping)' if result.stopped_early else ''}; pass --epochs N to train further, "
              "--restart to train again, or --out for a new run", file=sys.stderr)
    sys.stdout.write(result.summary)
    if result.exported is not None:
        from ..train.export import describe

        sys.stdout.write("saved     " + describe(result.exported))
    return EXIT_OK
