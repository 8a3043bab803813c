"""Per-op-family step time on this machine's CPU against archspec's roofline: the calibration behind the
`cpu` device's efficiencies (archspec/devices.py, docs/training-estimates.md).

For each family, two specs — the layer repeated R and 3R times between the same input and head — are
compiled as Keras's JAX Adam training step (archspec/train/measure.py) and timed; the difference divided
by 2R is one layer's forward + backward time, free of the step's fixed costs (input, loss, optimizer).
Against it: the same difference of archspec's estimates with efficiencies off (`--raw`, the bare roofline:
what the calibration divides by) or on (the default: how well the calibrated model does).

The machine may be shared: every timing is the minimum over repeated steps, wall and CPU time (process_time,
all threads); the comparison uses the CPU time turned into an idle machine's wall time
(archspec.train.measure.idle_step_s: over the cores), since on a loaded machine the wall clock measures the
other processes.

Usage: python bench/op_time_bench.py [FAMILY ...] [--raw] [--steps N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# family -> (batch, input shape, the layer(s) repeated, repeats R)
CASES = {
    "conv3x3": (8, [56, 56, 64], "- conv2d: {filters: 64, kernel: 3, padding: same, use_bias: false}", 2),
    "conv1x1": (8, [28, 28, 256], "- conv2d: {filters: 256, kernel: 1, use_bias: false}", 2),
    "conv_small": (64, [28, 28, 32], "- conv2d: {filters: 32, kernel: 3, padding: same, use_bias: false}", 2),
    "depthwise3x3": (8, [56, 56, 144], "- depthwise_conv2d: {kernel: 3, padding: same, use_bias: false}", 2),
    "depthwise7x7": (8, [28, 28, 192], "- conv2d: {filters: 192, kernel: 7, padding: same, groups: 192, use_bias: false}", 2),
    "batchnorm_relu": (8, [56, 56, 128], "- batch_norm: {}\n  - activation: relu", 2),
    "swish": (8, [56, 56, 128], "- batch_norm: {}\n  - activation: swish", 2),
    "dense_tokens": (8, [197, 768], "- dense: {units: 768}", 2),
    "dense_small": (64, [256], "- dense: {units: 256, activation: relu}", 4),
    "layer_norm": (8, [197, 768], "- layer_norm: {}", 2),
    "gelu": (8, [197, 3072], "- activation: gelu", 2),
    "attention": (8, [197, 768], "- attention: {heads: 12, key_dim: 64}", 2),
}


def spec_text(batch_shape, layer: str, repeats: int) -> str:
    body = "\n".join(f"  {layer}" for _ in range(repeats))
    head = "  - global_avg_pool: {}\n" if len(batch_shape) == 3 else ("  - global_avg_pool_1d: {}\n" if len(batch_shape) == 2 else "")
    return (f"archspec: 1\nname: block\ninputs: {{x: {list(batch_shape)}}}\nmodel:\n{body}\n{head}"
            "  - dense: {units: 10, activation: softmax}\n")


def timed(spec, batch: int, steps: int) -> tuple[float, float]:
    """(minimum wall time, minimum CPU time) of one compiled training step."""
    from archspec.train import measure

    run = measure.compiled_step(spec, batch)
    run()
    run()
    wall, cpu = [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("families", nargs="*", default=list(CASES))
    p.add_argument("--raw", action="store_true", help="compare with the bare roofline (efficiencies of 1)")
    p.add_argument("--steps", type=int, default=15)
    args = p.parse_args()
    os.environ["KERAS_BACKEND"] = "jax"
    sys.path.insert(0, str(ROOT))
    import archspec
    from archspec.devices import cpu_device

    cpu = cpu_device()
    if args.raw:
        cpu = cpu.bare()
    print(f"device: {cpu.title}: {cpu.fp32 / 1e9:.1f} GFLOP/s, {cpu.bandwidth / 1e9:.1f} GB/s; "
          f"{'bare roofline' if args.raw else 'calibrated'}")
    from archspec.train.measure import idle_step_s

    print(f"{'family':<16} {'batch':>5} {'layer (min wall)':>16} {'(min cpu)':>10} {'idle wall':>10} {'estimate':>10} "
          f"{'idle/est':>9}")
    for fam in args.families:
        batch, shape, layer, r = CASES[fam]
        specs = [archspec.load_text(spec_text(shape, layer, n)) for n in (r, 3 * r)]
        (w1, c1), (w2, c2) = (timed(s, batch, args.steps) for s in specs)
        e1, e2 = (s.training_estimate(batch, device=cpu).step_time_s for s in specs)
        per, cper, eper = (w2 - w1) / (2 * r), (c2 - c1) / (2 * r), (e2 - e1) / (2 * r)
        idle = idle_step_s(cper)
        print(f"{fam:<16} {batch:>5} {per * 1e3:>13.2f} ms {cper * 1e3:>7.2f} ms {idle * 1e3:>7.2f} ms {eper * 1e3:>7.2f} ms "
              f"{idle / eper:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
