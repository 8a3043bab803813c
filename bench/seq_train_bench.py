"""Training throughput of a token spec (tokens/s) against the same network written by hand in Keras and
trained with `model.fit` — in one process, on the same windows of text, back to back.

Both models are fed by archspec's input pipeline for the backend (tf.data on TensorFlow, the PyDataset on
JAX) with the spec's windows of the bundled text, and compiled alike (Adam, sparse cross-entropy from
logits averaged over the targets, the same batch size and XLA setting). Rounds alternate which model goes
first, so that a shared, noisy machine slows both alike. Throughput is tokens/s of the best epoch leaving
out each model's first (tracing and compilation); contention only ever slows an epoch down, so the
fastest epoch is the least disturbed estimate. The process's CPU seconds per epoch are printed beside it
(`time.process_time`), which other work on the machine does not inflate.

The hand-written model is specs/tiny_gpt.yaml in plain Keras layers: Embedding + a learned position
table, pre-norm decoder layers (LayerNormalization, MultiHeadAttention with use_causal_mask, GELU MLP),
a final LayerNormalization and the logits tied to the token table (ReversibleEmbedding).

A last line runs the whole `archspec train` loop (validation, checkpoint, best model, history,
TensorBoard each epoch, the test set at the end) on the same data, to show what the run folder costs.

Usage: python bench/seq_train_bench.py [--backend tensorflow|jax] [--windows 1024] [--batch 16]
                                       [--epochs 3] [--rounds 2] [--no-loop]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def hand_tiny_gpt(keras, p: dict):
    """specs/tiny_gpt.yaml written by hand (its params in `p`)."""
    from keras import layers

    d, L = p["hidden_dim"], p["length"]
    ids = keras.Input((L,), dtype="int32")
    table = layers.ReversibleEmbedding(p["vocabulary_size"], d)
    x = table(ids)

    class Positions(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(L, d), initializer=keras.initializers.RandomNormal(stddev=0.02))

        def call(self, x):
            return x + self.w

    x = Positions()(x)
    for _ in range(p["num_layers"]):
        h = layers.LayerNormalization(epsilon=1e-5)(x)
        h = layers.MultiHeadAttention(p["num_heads"], d // p["num_heads"])(h, h, use_causal_mask=True)
        x = layers.Add()([x, h])
        h = layers.LayerNormalization(epsilon=1e-5)(x)
        h = layers.Dense(p["intermediate_dim"], activation=lambda t: keras.activations.gelu(t, approximate=True))(h)
        h = layers.Dense(d)(h)
        x = layers.Add()([x, h])
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    return keras.Model(ids, table(x, reverse=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax"])
    ap.add_argument("--windows", type=int, default=1024, help="training windows per epoch")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-loop", action="store_true", help="skip the `archspec train` loop line")
    args = ap.parse_args()

    from archspec.train.backend import activate

    activate(args.backend)
    import keras

    import archspec
    from archspec.train import data, planning
    from archspec.train.callbacks import EpochTimer
    from archspec.train.config import resolve
    from archspec.train.loop import build_and_compile
    from archspec.train.pipeline import make_inputs

    spec = archspec.load(ROOT / "specs" / "tiny_gpt.yaml")
    flags = {"batch_size": args.batch, "epochs": args.epochs, "seed": 0, "steps_per_epoch": args.windows // args.batch}
    settings = resolve(spec, flags)
    settings.lr_schedule, settings.metrics = None, []
    ds = data.load(settings, spec)
    plan = planning.plan(spec, settings, ds)
    inputs = make_inputs(ds, plan, settings, seed=0)
    tokens = inputs.steps_per_epoch * args.batch * plan.input_shape[0]

    class Keep(keras.callbacks.Callback):
        """tokens/s (EpochTimer's, wall clock) and the process's CPU seconds of each epoch's training part."""

        def __init__(self):
            super().__init__()
            self.speeds, self.cpu = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.t, self.t1 = time.process_time(), None

        def on_test_begin(self, logs=None):
            self.t1 = self.t1 or time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.speeds.append(logs["tokens_per_s"])
            self.cpu.append((self.t1 or time.process_time()) - self.t)

    def measure(build) -> tuple[list, list]:
        keras.utils.set_random_seed(0)
        model = build()
        keep = Keep()
        model.fit(inputs.train, epochs=args.epochs, steps_per_epoch=inputs.steps_per_epoch, verbose=0, shuffle=False,
                  callbacks=[EpochTimer(tokens, "tokens"), keep])
        return keep.speeds[1:], keep.cpu[1:]

    def compiled():
        return build_and_compile(spec, settings, plan, inputs.steps_per_epoch)

    def hand():
        model = hand_tiny_gpt(keras, spec.data["params"])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
        model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate), loss=loss, jit_compile="auto")
        return model

    c_params, h_params = compiled().count_params(), hand().count_params()
    assert c_params == h_params, (c_params, h_params)
    got = {"compiled": ([], []), "hand": ([], [])}
    for r in range(args.rounds):
        pair = [("compiled", compiled), ("hand", hand)]
        for name, build in (pair if r % 2 == 0 else pair[::-1]):
            s, c = measure(build)
            got[name][0].extend(s)
            got[name][1].extend(c)
            print(f"round {r + 1} {name:<9} best {max(s):>9,.0f} tokens/s, {min(c):.2f} CPU s per epoch", file=sys.stderr)
    print(f"tiny_gpt ({c_params:,} params, both), backend {keras.backend.backend()}: {tokens:,} tokens per epoch "
          f"(batch {args.batch} × {plan.input_shape[0]}), {args.epochs} epochs × {args.rounds} rounds, first epoch "
          "of each left out")
    print(f"{'model':<14}{'tokens/s best':>15}{'(median)':>11}{'CPU s/epoch':>13}{'tokens/CPU-s':>14}")
    for name, (s, c) in got.items():
        print(f"{name:<14}{max(s):>15,.0f}{statistics.median(s):>11,.0f}{min(c):>13.2f}{tokens / min(c):>14,.0f}")
    (cs, cc), (hs, hc) = got["compiled"], got["hand"]
    print(f"ratio compiled / hand-written: {max(cs) / max(hs):.3f} (tokens/s, best epochs), "
          f"{min(hc) / min(cc):.3f} (CPU time per epoch)")
    if not args.no_loop:
        from archspec.train.loop import run_training

        with tempfile.TemporaryDirectory() as tmp:
            full = resolve(spec, flags)
            full.lr_schedule = None
            keep = Keep()
            t0 = time.process_time()
            run_training(spec, full, Path(tmp) / "run", verbose=0, callbacks=[keep])
            total = time.process_time() - t0
        loop, cpu = keep.speeds[1:], keep.cpu[1:]
        print(f"archspec train loop (validation, checkpoint, best model, history, TensorBoard each epoch): best "
              f"{max(loop):,.0f} tokens/s, {min(cpu):.2f} CPU s per epoch's training part ({min(hc) / min(cpu):.3f}× "
              f"the hand-written model.fit's tokens per CPU second); {total:.1f} CPU s for the whole run of "
              f"{args.epochs} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
