"""The GPUs' kernel efficiencies (archspec/devices.py, GPU_EFFICIENCY) fitted to measured training steps, and
every measurement set against the calibrated and the bare-roofline estimate.

The measurements, the only inputs (MEASURED below, each with its source):
- one NVIDIA H200, Keras 3.15.1 on JAX 0.11.2 (CUDA), `tools/gpu_check.sh` on 2026-12-04: the median of 10
  compiled Adam steps of six bundled families under mixed_bfloat16 (docs/training-estimates.md, "On a GPU");
- published: NVIDIA DeepLearningExamples, TensorFlow/Classification/ConvNets/resnet50v1.5/README.md,
  "Training performance results" (TensorFlow 20.06 NGC container, XLA, one GPU, images/s over an epoch):
  A100 40GB TF32 909 and mixed precision 2,375 at batch 256; V100 16GB FP32 412 at batch 128 and mixed
  precision 1,270 at batch 256. (ResNet-50 v1.5 moves the stride of the bottlenecks' first 1×1 to the 3×3:
  4.1 against keras.applications' 3.9 GFLOPs per image; the bundled resnet50 stands in.)

The fit: the roofline per layer is max(Σ FLOPs_family / (peak × efficiency_family), bytes / (bandwidth ×
memory efficiency)) + a per-layer overhead (passes/training.py `_time_layer`). The H200's matmul, depthwise
and memory efficiencies and the overhead are the grid point with the smallest largest |log(measured /
estimate)| over its six families. Another GPU's efficiencies are the H200's times one factor, the one that
centres its published ResNet-50 steps (the geometric mean of measured / estimate is 1), capped at 1: one
network cannot tell the kernel families apart, and the H200's set says how Keras's XLA kernels divide the
time. The H100s take the H200's (the same Hopper kernels; the fractions are of each device's own peaks);
the L4 and the T4 have no measurement and keep the bare roofline.

Usage: python bench/gpu_calibration.py            (pure Python, about a minute; prints the fit and the table)
"""
from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (device, spec, batch, precision, measured step seconds, source)
H200 = "Keras 3.15.1 / JAX 0.11.2 on one H200, tools/gpu_check.sh, 2026-12-04"
DLE = "NVIDIA DeepLearningExamples resnet50v1.5 (TF 20.06 + XLA), 1 GPU"
MEASURED = [
    ("h200", "resnet50", 256, "mixed_bfloat16", 43.5e-3, H200),
    ("h200", "mobilenet_v2", 256, "mixed_bfloat16", 26.3e-3, H200),
    ("h200", "efficientnet_b0", 128, "mixed_bfloat16", 24.2e-3, H200),
    ("h200", "densenet121", 128, "mixed_bfloat16", 47.2e-3, H200),
    ("h200", "vit_b16", 128, "mixed_bfloat16", 54.6e-3, H200),
    ("h200", "convnext_tiny", 128, "mixed_bfloat16", 36.2e-3, H200),
    ("a100-40gb", "resnet50", 256, "float32", 256 / 909, DLE),
    ("a100-40gb", "resnet50", 256, "mixed_bfloat16", 256 / 2375, DLE),
    ("v100", "resnet50", 128, "float32", 128 / 412, DLE),
    ("v100", "resnet50", 256, "mixed_float16", 256 / 1270, DLE),
]
GRID = {"matmul": [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6],
        "depthwise": [0.005, 0.01, 0.02, 0.05, 0.1, 0.2],
        "memory": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        "overhead": [0.0, 1e-5, 2e-5, 3e-5, 4e-5, 5e-5, 6e-5, 8e-5]}


def layer_times(device_name: str, spec_name: str, batch: int, precision: str):
    """The step's layers' roofline parts on the bare device (passes/training.LayerWork: what the efficiencies
    divide) and the optimizer update's bare seconds."""
    import archspec
    from archspec.devices import get_device

    est = archspec.load(ROOT / "specs" / f"{spec_name}.yaml").training_estimate(
        batch, precision=precision, device=get_device(device_name).bare())
    return [c.work for c in est.nodes.values() if c.work is not None], est.optimizer_time_s


def step_time(parts, eff: dict, overhead: float) -> float:
    """The step's seconds with these efficiencies and per-layer overhead, as `report --device` computes them."""
    work, update = parts
    return sum(w.time(eff, overhead)[0] for w in work) + update / eff.get("memory", 1.0)


def fit_h200(parts: dict) -> tuple[dict, float]:
    best = None
    for em, ed, emem, ov in itertools.product(*GRID.values()):
        eff = {"matmul": em, "depthwise": ed, "elementwise": 1.0, "memory": emem}
        worst = max(abs(math.log(t / step_time(p, eff, ov))) for p, t in parts.values())
        if best is None or worst < best[0]:
            best = (worst, eff, ov)
    return best[1], best[2]


def calibrate():
    """(the H200's efficiencies, the per-layer overhead, {device: factor}, {measurement: (parts, seconds)})."""
    parts = {m: (layer_times(*m[:4]), m[4]) for m in MEASURED}
    eff, overhead = fit_h200({m: v for m, v in parts.items() if m[0] == "h200"})
    factors = {"h200": 1.0}
    for dev in sorted({m[0] for m in MEASURED} - {"h200"}):
        logs = [math.log(t / step_time(p, eff, overhead)) for m, (p, t) in parts.items() if m[0] == dev]
        factors[dev] = 1 / math.exp(sum(logs) / len(logs))
    return eff, overhead, factors, parts


def main() -> None:
    from archspec.devices import get_device

    eff, overhead, factors, parts = calibrate()
    print(f"h200 fit: {eff}, per-layer overhead {overhead * 1e6:.0f} µs")
    for dev, factor in factors.items():
        if dev != "h200":
            print(f"{dev}: the h200's × {factor:.2f}")
    print(f"\n{'device':<10} {'spec':<16} {'batch':>5} {'precision':<15} {'measured':>9} {'estimate':>9} "
          f"{'meas/est':>8} {'bare':>9} {'meas/bare':>9}  source")
    for m, (p, t) in parts.items():
        dev = get_device(m[0])             # the estimate as `report --device` gives it (devices.py's values)
        est = step_time(p, dev.efficiency, dev.layer_overhead_s)
        bare = step_time(p, {"memory": 1.0}, 0.0)
        print(f"{m[0]:<10} {m[1]:<16} {m[2]:>5} {m[3]:<15} {t * 1e3:>7.1f}ms {est * 1e3:>7.1f}ms {t / est:>8.2f} "
              f"{bare * 1e3:>7.1f}ms {t / bare:>9.2f}  {m[5]}")


if __name__ == "__main__":
    main()
