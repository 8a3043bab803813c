"""Cost of compiling a spec into a Keras model, as ratios against Keras building the same model by hand.

1. specs/inception_resnet_v2.yaml → keras.Model, split into archspec's own work (read, expand, infer
   shapes) and the Keras build (`build_model`: one layer per node, the functional constructor), against
   `keras.applications.InceptionResNetV2(weights=None)` built in the same process, alternating, median
   of --repeat runs. Target: archspec's own work adds < 10 % to Keras's build time.
2. A generated 10,000-layer chain (conv → batch norm → relu, bench/check_bench.py's), compiled once:
   load, build (on archspec's big-stack thread, since Keras recurses once per layer), and a forward pass.

Usage: python bench/compile_bench.py [--repeat N] [--no-deep]
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def fresh():
    import keras

    keras.backend.clear_session()
    gc.collect()


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def inception_resnet_v2(repeat: int) -> None:
    import keras

    import archspec
    from archspec.compile.build import build_model

    path = ROOT / "specs" / "inception_resnet_v2.yaml"
    own, build, ref = [], [], []
    def ours():
        fresh()
        spec, t_own = timed(lambda: archspec.load(path))
        model, t_build = timed(lambda: build_model(spec))
        return (len(model.layers), model.count_params()), t_own, t_build

    def by_hand():
        fresh()
        model, t_ref = timed(lambda: keras.applications.InceptionResNetV2(weights=None))
        return (len(model.layers), model.count_params()), t_ref

    for k in range(repeat + 1):          # round 0 warms up TensorFlow and the caches; the order alternates,
        if k % 2:                        # because the second build of a pair runs measurably slower
            n_ours, t_own, t_build = ours()
            n_ref, t_ref = by_hand()
        else:
            n_ref, t_ref = by_hand()
            n_ours, t_own, t_build = ours()
        assert n_ours == n_ref, (n_ours, n_ref)
        if k:
            own.append(t_own), build.append(t_build), ref.append(t_ref)
    o, b, r = statistics.median(own), statistics.median(build), statistics.median(ref)
    print(f"InceptionResNetV2 ({n_ref[0]} layers, {n_ref[1]:,} params), median of {repeat}:")
    print(f"  archspec load+expand+infer:            {o:.3f} s")
    print(f"  archspec build_model (Keras layers):   {b:.3f} s")
    print(f"  keras.applications.InceptionResNetV2:  {r:.3f} s")
    print(f"  own work / Keras build:                {o / r:.3f}   (target < 0.100)")
    print(f"  spec → model / by hand:                {(o + b) / r:.3f}")


def deep_chain(layers: int) -> None:
    import numpy as np
    from check_bench import chain_spec

    import archspec
    from archspec.compile.build import build_model
    from archspec.compile.deep import graph_depth
    from archspec.lang.source import Limits

    fresh()
    text = chain_spec(layers)
    spec, t_load = timed(lambda: archspec.load_text(text, f"chain{layers}.yaml",
                                                    limits=Limits(max_nodes=10_000_000, max_layers=1_000_000)))
    model, t_build = timed(lambda: build_model(spec))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 16)).astype("float32")
    y, t_call = timed(lambda: np.asarray(model(x)))
    assert len(model.layers) == layers + 1 and np.isfinite(y).all()
    print(f"{layers:,}-layer chain (depth {graph_depth(spec.graph):,}):")
    print(f"  archspec load+expand+infer:            {t_load:.3f} s")
    print(f"  build_model:                           {t_build:.3f} s  ({t_build / layers * 1e3:.2f} ms/layer)")
    print(f"  first forward pass (eager):            {t_call:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--deep", type=int, default=10_000, help="layers of the deep chain (0: skip)")
    args = ap.parse_args()
    import keras

    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, {os.cpu_count()} CPUs")
    inception_resnet_v2(args.repeat)
    if args.deep:
        deep_chain(args.deep)


if __name__ == "__main__":
    main()
