"""Training throughput of a compiled spec against the same network written by hand in Keras.

Both models train on the same synthetic images through the same tf.data pipeline (archspec's), with
the same optimizer, loss, metrics and batch size; rounds alternate between them so that a noisy,
shared machine slows both alike. Throughput is images/s of the best epoch over all rounds, leaving
out each round's first epoch (tracing and compilation): on a machine shared with other work, contention
only ever slows an epoch down, so the fastest epoch is the least disturbed estimate (timeit's rule);
medians are printed beside it.
Target: the ratio compiled / hand-written within 3% of 1.

A third line runs the whole `archspec train` loop (checkpoint, best model, history CSV and
TensorBoard scalars every epoch) on the same data, to show what the run folder costs.

Usage: python bench/train_bench.py [--spec mnist_cnn_dropout] [--images 8192] [--batch 128]
                                   [--epochs 5] [--rounds 5] [--jit | --no-jit]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", choices=sorted(HAND), default="mnist_cnn_dropout")
    ap.add_argument("--images", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None)
    args = ap.parse_args()

    import keras

    import archspec
    from archspec.train import compat, data
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
    plan = compat.plan(spec, settings, ds)
    inputs = make_inputs(ds, plan, settings, seed=0)
    jit = "auto" if args.jit is None else args.jit

    def measure(build) -> float:
        keras.utils.set_random_seed(0)
        model = build()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit)
        timer = EpochTimer(len(ds.train))
        speeds = []

        class Keep(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                speeds.append(logs["images_per_s"])

        model.fit(inputs.train, epochs=args.epochs, callbacks=[timer, Keep()], verbose=0, shuffle=False)
        return speeds[1:]

    compiled, hand = [], []
    for r in range(args.rounds):
        pair = [("compiled", spec.to_keras, compiled), ("hand", lambda: HAND[args.spec](keras), hand)]
        for name, build, out in (pair if r % 2 == 0 else pair[::-1]):
            out.extend(speeds := measure(build))
            print(f"round {r + 1}: {name:<9} best {max(speeds):>8,.0f}  median {statistics.median(speeds):>8,.0f} "
                  "images/s", file=sys.stderr)

    from archspec.train.loop import run_training

    with tempfile.TemporaryDirectory() as tmp:
        full = resolve(spec, flags)
        full.early_stopping, full.rescale = None, 1 / 255
        result = run_training(spec, full, Path(tmp) / "run", verbose=0)
        loop = max(h["images_per_s"] for h in result.history[1:])

    c, h = max(compiled), max(hand)
    print(f"spec {args.spec}: {args.images:,} synthetic images, batch {args.batch}, {args.epochs} epochs × "
          f"{args.rounds} rounds, jit_compile={jit}, backend {keras.backend.backend()}")
    print(f"compiled spec      {c:>10,.0f} images/s best epoch  (median {statistics.median(compiled):,.0f})")
    print(f"hand-written Keras {h:>10,.0f} images/s best epoch  (median {statistics.median(hand):,.0f})")
    print(f"ratio compiled/hand {c / h:.3f}  ({'within' if abs(c / h - 1) <= 0.03 else 'OUTSIDE'} the 3% target)")
    print(f"archspec train loop {loop:>9,.0f} images/s best epoch (checkpoint + history + TensorBoard each epoch; "
          f"{loop / h:.3f} of hand-written)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
