"""archspec's training estimates (report --train --device cpu) against what JAX really does on this machine.

For each spec and batch size: the estimated peak training memory against XLA's memory analysis of the
compiled Adam training step (arguments + outputs + temporaries − donated aliases), and the estimated
roofline step time on the measured CPU against the median measured step time. Prints the ratios; the
numbers in docs/training-estimates.md come from this script.

Usage: python bench/train_estimate_bench.py [SPEC:BATCH ...] [--steps N]
(default: the small specs and the families at small batches; expect minutes: every step is compiled)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["specs/digits_cnn.yaml:64", "specs/mnist_cnn.yaml:64", "specs/resnet_blocks.yaml:8",
           "specs/inception_resnet_cifar10_fixed.yaml:16", "specs/mobilenet_v2.yaml:4", "specs/resnet50.yaml:4",
           "specs/densenet121.yaml:2", "specs/vgg16.yaml:2"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", default=DEFAULT, metavar="SPEC:BATCH")
    p.add_argument("--steps", type=int, default=5, help="timed steps per case (after 2 warm-up steps)")
    args = p.parse_args()
    os.environ["KERAS_BACKEND"] = "jax"
    sys.path.insert(0, str(ROOT))
    import archspec
    from archspec.devices import cpu_device
    from archspec.render.tables import human_bytes
    from archspec.render.training import seconds
    from archspec.train.measure import measure_step

    cpu = cpu_device()
    print(f"device: {cpu.title}: {cpu.fp32 / 1e9:.1f} GFLOP/s float32 matmul, {cpu.bandwidth / 1e9:.1f} GB/s copy")
    head = f"{'spec':<40} {'batch':>5} {'XLA memory':>11} {'estimate':>10} {'ratio':>6}   {'step':>9} {'roofline':>9} {'measured/est':>12}"
    print(head)
    print("─" * len(head))
    for case in args.cases:
        path, batch = case.rsplit(":", 1)
        spec = archspec.load(ROOT / path)
        est = spec.training_estimate(int(batch), device=cpu)
        m = measure_step(spec, int(batch), steps=args.steps)
        print(f"{Path(path).stem:<40} {batch:>5} {human_bytes(m['total_bytes']):>11} {human_bytes(est.peak_bytes):>10} "
              f"{est.peak_bytes / m['total_bytes']:>6.2f}   {seconds(m['step_s']):>9} {seconds(est.step_time_s):>9} "
              f"{m['step_s'] / est.step_time_s:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
