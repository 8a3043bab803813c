"""Training throughput on the JAX and TensorFlow backends side by side, of a compiled spec and of the
same network written by hand in Keras.

For each backend (a process of its own: Keras fixes its backend at import) both models train on the same
synthetic images through archspec's input pipeline for that backend (tf.data on TensorFlow, the
PyDataset on JAX), with the same optimizer, loss, metrics and batch size. Rounds alternate between the
backends and, inside a round, between the two models, so that a noisy, shared machine slows all alike.
Throughput is images/s of the best epoch over all rounds, leaving out each round's first epoch (tracing
and compilation): on a machine shared with other work, contention only ever slows an epoch down, so the
fastest epoch is the least disturbed estimate (timeit's rule); medians are printed beside it.
Target: the ratio compiled / hand-written within 3% of 1 on each backend.

A last line per backend runs the whole `archspec train` loop (checkpoint, best model, history CSV and
TensorBoard scalars every epoch) on the same data, to show what the run folder costs.

Usage: python bench/train_bench.py [--spec mnist_cnn_dropout] [--images 8192] [--batch 128]
                                   [--epochs 5] [--rounds 3] [--backends jax tensorflow] [--jit | --no-jit]
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
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def hand_mnist_cnn_dropout(keras):
    """Seed notebook 001's MNIST CNN with dropout, as the notebook writes it."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(8, 3, activation="relu"),
        layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        layers.MaxPooling2D(2, padding="same"),
        layers.Flatten(),
        layers.Dropout(0.25),
        layers.Dense(64, activation="relu", name="FC1"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax", name="output"),
    ])


def hand_digits_cnn(keras):
    layers = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(32, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.Activation("relu"),
        layers.Conv2D(64, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.Activation("relu"),
        layers.MaxPooling2D(2), layers.Dropout(0.25), layers.Flatten(),
        layers.Dense(128, activation="relu"), layers.Dropout(0.5), layers.Dense(10, activation="softmax"),
    ])


HAND = {"mnist_cnn_dropout": hand_mnist_cnn_dropout, "digits_cnn": hand_digits_cnn}


def worker(args) -> dict:
    """One round on one backend (this process's): epochs of images/s for each model, and the loop's."""
    from archspec.train.backend import activate

    activate(args.backend)
    import keras

    import archspec
    from archspec.train import data, planning
    from archspec.train.callbacks import EpochTimer
    from archspec.train.config import resolve
    from archspec.train.pipeline import make_inputs

    spec = archspec.load(ROOT / "specs" / f"{args.spec}.yaml")
    flags = {"data": f"synthetic:{args.images}", "batch_size": args.batch, "epochs": args.epochs, "seed": 0,
             "jit_compile": args.jit}
    settings = resolve(spec, flags)
    settings.early_stopping = None
    settings.rescale = 1 / 255
    ds = data.load(settings, spec)
    plan = planning.plan(spec, settings, ds)
    inputs = make_inputs(ds, plan, settings, seed=0)
    jit = "auto" if args.jit is None else args.jit

    def measure(build) -> list:
        keras.utils.set_random_seed(0)
        model = build()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit)
        speeds = []

        class Keep(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                speeds.append(logs["images_per_s"])

        model.fit(inputs.train, epochs=args.epochs, callbacks=[EpochTimer(len(ds.train)), Keep()], verbose=0,
                  shuffle=False)
        return speeds[1:]

    out = {}
    pair = [("compiled", spec.to_keras), ("hand", lambda: HAND[args.spec](keras))]
    for name, build in (pair if args.round % 2 == 0 else pair[::-1]):
        out[name] = measure(build)
    if args.loop:
        from archspec.train.loop import run_training

        with tempfile.TemporaryDirectory() as tmp:
            full = resolve(spec, flags)
            full.early_stopping, full.rescale = None, 1 / 255
            result = run_training(spec, full, Path(tmp) / "run", verbose=0)
            out["loop"] = [h["images_per_s"] for h in result.history[1:]]
    out["backend"] = keras.backend.backend()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", choices=sorted(HAND), default="mnist_cnn_dropout")
    ap.add_argument("--images", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backends", nargs="+", default=["jax", "tensorflow"], choices=["jax", "tensorflow", "torch"])
    ap.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    ap.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    common = ["--spec", args.spec, "--images", str(args.images), "--batch", str(args.batch), "--epochs",
              str(args.epochs)] + ([] if args.jit is None else ["--jit" if args.jit else "--no-jit"])
    got = {b: {"compiled": [], "hand": [], "loop": []} for b in args.backends}
    for r in range(args.rounds):
        order = args.backends if r % 2 == 0 else args.backends[::-1]
        for b in order:
            cmd = [sys.executable, __file__, "--worker", "--backend", b, "--round", str(r), *common]
            if r == args.rounds - 1:
                cmd.append("--loop")
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode:
                print(f"{b}: failed\n{p.stderr[-3000:]}", file=sys.stderr)
                return 1
            res = json.loads(p.stdout.strip().splitlines()[-1])
            for k in ("compiled", "hand", "loop"):
                got[b][k] += res.get(k, [])
            print(f"round {r + 1} {b:<10} compiled best {max(res['compiled']):>8,.0f}  hand best "
                  f"{max(res['hand']):>8,.0f} images/s", file=sys.stderr)

    jit = "auto" if args.jit is None else args.jit
    print(f"spec {args.spec}: {args.images:,} synthetic images, batch {args.batch}, {args.epochs} epochs × "
          f"{args.rounds} rounds per backend, jit_compile={jit}; images/s of the best epoch (median)")
    print(f"{'backend':<11}{'compiled spec':>22}{'hand-written':>22}{'ratio':>8}{'archspec train loop':>24}")
    best = {}
    for b in args.backends:
        c, h, lp = got[b]["compiled"], got[b]["hand"], got[b]["loop"]
        best[b] = max(c)
        print(f"{b:<11}{max(c):>11,.0f} ({statistics.median(c):>7,.0f}){max(h):>11,.0f} ({statistics.median(h):>7,.0f})"
              f"{max(c) / max(h):>8.3f}{max(lp):>13,.0f} ({max(lp) / max(h):.2f}×)")
    if len(best) == 2:
        (a, x), (b, y) = best.items()
        print(f"{a} / {b}: {x / y:.2f} (compiled spec, best epochs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
