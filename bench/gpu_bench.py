"""Training throughput of a spec on this machine's accelerators: images/s per device, step time and
model FLOP utilization (MFU). What `tools/gpu_check.sh` runs on a GPU machine (JAX, no TensorFlow).

The spec (default: ResNet-50 at 224×224) is compiled by archspec into a Keras model and trained with
`model.fit` for a fixed number of steps on synthetic images that already sit on the devices (so the
host input pipeline is not what is measured), under a precision policy (default `mixed_bfloat16`)
and XLA. With several local devices the batch is split over all of them with
`keras.distribution.DataParallel` (JAX backend).

MFU = achieved model FLOP/s ÷ the devices' peak FLOP/s, where the model FLOPs of one training step are
3 × archspec's forward FLOP count (`archspec report`) × the global batch — the usual convention (the
backward pass costs about twice the forward one). The peak is the datasheet dense bf16/fp16 figure for
known accelerators; for others (CPUs included) the rate of a large matrix product measured here, in
the same precision, stands in and the line says so. `--peak-tflops` overrides both.

Usage: python bench/gpu_bench.py [--spec specs/resnet50.yaml] [--batch-per-device 256] [--steps 50]
         [--warmup 5] [--repeats 3] [--precision mixed_bfloat16] [--no-jit] [--backend jax]
         [--peak-tflops X] [--json FILE]
CPU smoke test (what docs/train.md shows): --batch-per-device 2 --steps 3 --warmup 1 --repeats 1

Then (unless --no-estimate, on the JAX backend) it sets archspec's estimate beside what XLA does for the
same spec, batch per device and precision, on one device (`report --train` against the compiled step):
the peak training memory archspec estimates against XLA's memory analysis of the jitted Adam step
(arguments + outputs + temporaries − donated aliases; archspec.train.measure), and the roofline step
time against that step's measured median time. The device is archspec's entry for the accelerator's
name (`archspec report --device`), or this CPU measured.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:                                   # an installed archspec first (gpu_check.sh installs the wheel)
    import archspec  # noqa: F401
except ImportError:
    sys.path.insert(0, str(ROOT))

# dense (no sparsity) bf16/fp16 tensor-core peaks per device, NVIDIA datasheets, TFLOP/s
PEAK_TFLOPS = [
    ("H200", 989.4), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("GH200", 989.4),
    ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.05), ("L40", 181.0), ("L4", 121.0),
    ("A10G", 70.0), ("A10", 125.0), ("A30", 165.0), ("V100", 125.0), ("T4", 65.0),
]


def datasheet_peak(kind: str) -> float | None:
    for name, tflops in PEAK_TFLOPS:          # the more specific names come first
        if name.lower() in kind.lower():
            return tflops
    return None


def measured_matmul_tflops(dtype: str, n: int) -> float:
    """FLOP/s of an n×n matrix product in `dtype` on the first device: a stand-in peak."""
    import keras

    ops = keras.ops
    a = keras.random.normal((n, n), dtype=dtype, seed=1)
    b = keras.random.normal((n, n), dtype=dtype, seed=2)
    if keras.backend.backend() == "jax":
        import jax

        f = jax.jit(lambda x, y: x @ y)
        f(a, b).block_until_ready()
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(4):
                c = f(a, b)
            c.block_until_ready()
            best = min(best, (time.perf_counter() - t0) / 4)
    else:
        ops.convert_to_numpy(ops.matmul(a, b))
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            ops.convert_to_numpy(ops.matmul(a, b))
            best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e12


def num(x: float) -> str:
    """3 significant digits, thousands separated: 7,006 · 312 · 1.25 · 0.0042."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "specs" / "resnet50.yaml"))
    ap.add_argument("--batch-per-device", type=int, default=256)
    ap.add_argument("--steps", type=int, default=50, help="timed training steps per repeat")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing, XLA compilation)")
    ap.add_argument("--repeats", type=int, default=3, help="timed windows; the best is reported, the median beside")
    ap.add_argument("--precision", default="mixed_bfloat16", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    ap.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True, help="XLA (jit_compile)")
    ap.add_argument("--backend", default="jax", choices=["jax", "tensorflow", "torch", "auto"])
    ap.add_argument("--peak-tflops", type=float, help="peak per device, TFLOP/s (default: datasheet, else measured)")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    ap.add_argument("--estimate", action=argparse.BooleanOptionalAction, default=True,
                    help="also compare archspec's training estimate with XLA's compiled Adam step (JAX)")
    ap.add_argument("--estimate-steps", type=int, default=10, help="timed steps of the compiled Adam step")
    ap.add_argument("--compare", nargs="*", default=[], metavar="SPEC:BATCH[:NAME=VALUE,...]",
                    help="more models for the estimate-vs-XLA table (memory and step time, one row each; specs "
                         "relative to the checkout), after the benchmark of --spec")
    args = ap.parse_args(argv)

    from archspec.train.backend import activate

    backend = activate(args.backend)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import archspec

    try:
        spec = archspec.load(args.spec)
    except archspec.SpecError as e:
        print(e, file=sys.stderr)
        return 1
    g = spec.graph
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        print(f"{args.spec}: the benchmark feeds one input and one class output", file=sys.stderr)
        return 2
    in_shape = tuple(g[g.inputs[0]].shape)
    out_node = g[next(iter(g.outputs.values()))]
    classes = out_node.shape[-1]
    total = spec.analysis().total
    fwd_flops = total.flops                           # per image, archspec's count

    import keras
    import numpy as np

    # Keras logs a whole traceback each time cuDNN's fused attention declines a shape (ViT's 197 tokens)
    # and it falls back to XLA's attention; the fallback is what is measured, the traceback is noise.
    logging.getLogger("absl").setLevel(logging.CRITICAL)
    if backend == "jax":
        import jax

        devices = jax.local_devices()
        kind = devices[0].device_kind
        platform = devices[0].platform
        version = f"jax {jax.__version__}"
    else:
        devices, kind, platform, version = [None], "default device", "?", backend
    n_dev = len(devices)
    batch = args.batch_per_device * n_dev
    compute = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[args.precision]

    distribution = None
    if backend == "jax" and n_dev > 1:
        distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
        keras.distribution.set_distribution(distribution)
    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(0)
    model = spec.to_keras()
    from archspec.compile import keras_name
    from archspec.ops import REGISTRY

    model.get_layer(keras_name(out_node.id)).dtype_policy = keras.DTypePolicy("float32")
    logits = REGISTRY[out_node.op].activation_of(out_node.attrs) is None
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=logits), jit_compile=args.jit)

    rng = np.random.default_rng(0)
    x = rng.random((batch, *in_shape), dtype=np.float32)
    y = rng.integers(0, classes, batch).astype(np.int32)
    if backend == "jax":                              # on the devices once, split as DataParallel splits it
        if distribution is not None:
            x = jax.device_put(x, distribution.get_data_layout(x.shape).backend_layout)
            y = jax.device_put(y, distribution.get_data_layout(y.shape).backend_layout)
        else:
            x, y = jax.device_put(x, devices[0]), jax.device_put(y, devices[0])

    def batches():
        while True:
            yield x, y

    def window(steps) -> float:
        t0 = time.perf_counter()
        model.fit(batches(), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)  # returns after the last step
        return time.perf_counter() - t0

    compile_s = window(args.warmup)
    times = [window(args.steps) / args.steps for _ in range(args.repeats)]
    step = min(times)
    images_s = batch / step

    peak, peak_src = args.peak_tflops, "--peak-tflops"
    if peak is None and platform == "gpu" and args.precision != "float32":
        peak = datasheet_peak(kind)
        peak_src = f"datasheet dense {compute}" if peak else None
    matmul = measured_matmul_tflops(compute, 8192 if platform == "gpu" else 1024)
    if peak is None:
        peak, peak_src = matmul, f"measured {compute} matmul here (no datasheet peak for '{kind}')"
    model_tflops = 3 * fwd_flops * images_s / 1e12
    mfu = model_tflops / (peak * n_dev)

    gflops = f"{fwd_flops / 1e9:.3f}" if fwd_flops >= 1e9 else num(fwd_flops / 1e9)
    print(f"device      {n_dev} × {kind} ({platform}; {version}, keras {keras.__version__}, backend {backend})")
    print(f"model       {spec.name}: {total.params:,} params, {gflops} GFLOPs per image forward "
          f"(archspec), × 3 per training step")
    print(f"run         batch {args.batch_per_device} per device ({batch} global), {args.precision}, "
          f"jit_compile={args.jit}, {args.steps} steps × {args.repeats} after {args.warmup} warm-up "
          f"({compile_s:.1f} s with compilation)")
    print(f"step time   {num(step * 1e3)} ms (best of {args.repeats}; median {num(statistics.median(times) * 1e3)} ms)")
    print(f"images/s    {num(images_s / n_dev)} per device, {num(images_s)} in all")
    print(f"MFU         {mfu * 100:.3g}%  ({num(model_tflops / n_dev)} model TFLOP/s per device of {num(peak)} peak: "
          f"{peak_src}); a {compute} matmul reaches {num(matmul)} TFLOP/s here")
    versus = None
    if args.estimate and backend == "jax":
        keras.distribution.set_distribution(None)
        versus = estimate_vs_xla(spec, args.batch_per_device, args.precision, kind, platform, args.estimate_steps)
        rows = [dict(versus, model=spec.name)]
        for case in args.compare:
            from archspec.train.measure import load_case

            other, b = load_case(case, root=ROOT)
            rows.append(dict(estimate_vs_xla(other, b, args.precision, kind, platform, args.estimate_steps),
                             model=other.title))
        versus = dict(versus, table=rows)
        print_table(rows, kind)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": kind, "platform": platform, "devices": n_dev, "backend": backend, "spec": spec.name,
            "forward_flops_per_image": fwd_flops, "batch_per_device": args.batch_per_device,
            "precision": args.precision, "jit_compile": args.jit, "steps": args.steps, "repeats": args.repeats,
            "step_seconds": step, "step_seconds_all": times, "images_per_s": images_s,
            "images_per_s_per_device": images_s / n_dev, "model_tflops_per_device": model_tflops / n_dev,
            "peak_tflops_per_device": peak, "peak_source": peak_src, "matmul_tflops": matmul, "mfu": mfu,
            "compile_seconds": compile_s, "estimate_vs_xla": versus}, indent=2) + "\n")
    return 0


def print_table(rows: list[dict], kind: str) -> None:
    """The estimate-vs-XLA rows as one table: what confirms or corrects docs/training-estimates.md (memory)
    and the device's efficiencies in archspec/devices.py (step time: measured / estimate, with the bare
    roofline's ratio beside it, whose inverse is the efficiency the whole step reaches)."""
    from archspec.render.tables import human_bytes

    print(f"\nestimate vs XLA on 1 × {kind}, Adam:")
    head = (f"{'model':<34} {'batch':>5} {'XLA memory':>11} {'estimate':>10} {'ratio':>6}  {'measured':>9} "
            f"{'estimate':>9} {'meas/est':>8} {'roofline':>9} {'meas/roof':>9}")
    print(head)
    for r in rows:
        est, roof, meas = r.get("estimated_step_s"), r.get("roofline_step_s"), r.get("measured_step_s")
        cells = [f"{num(x * 1e3)} ms" if x else "-" for x in (meas, est, roof)]
        print(f"{r['model'][:34]:<34} {r['batch']:>5} {human_bytes(r['xla_bytes']):>11} {human_bytes(r['estimate_bytes']):>10} "
              f"{r['memory_ratio']:>6.2f}  {cells[0]:>9} {cells[1]:>9} {meas / est if est and meas else 0:>8.2f} "
              f"{cells[2]:>9} {meas / roof if roof and meas else 0:>9.2f}")


def archspec_device(kind: str, platform: str):
    """archspec's device entry for an accelerator named `kind` (JAX's device_kind), else None; the
    measured CPU on a CPU."""
    from archspec.devices import DEVICES, cpu_device

    if platform == "cpu":
        return cpu_device()
    k = kind.lower()
    for name in sorted(DEVICES, key=len, reverse=True):      # 'h100-pcie' before 'h100'
        if all(re.search(rf"\b{w}\b", k) for w in name.split("-")):      # 'l4' is not 'L40S'
            return DEVICES[name]
    return None


def estimate_vs_xla(spec, batch: int, precision: str, kind: str, platform: str, steps: int) -> dict:
    """archspec's training estimate (Adam) beside XLA's memory analysis and the measured time of the
    jitted Adam step on one device; prints both and returns them."""
    from archspec.render.tables import human_bytes
    from archspec.train.measure import measure_step

    device = archspec_device(kind, platform)
    est = spec.training_estimate(batch, optimizer="adam", precision=precision, device=device)
    m = measure_step(spec, batch, optimizer="adam", precision=precision, steps=steps)
    mem_ratio = est.peak_bytes / m["total_bytes"]
    print(f"estimate    archspec's report --train (Adam, batch {batch}, {precision}) vs XLA's compiled step "
          f"on 1 × {kind}:")
    print(f"  memory    XLA {human_bytes(m['total_bytes'])} (arguments {human_bytes(m['argument_bytes'])} + "
          f"outputs {human_bytes(m['output_bytes'])} + temporaries {human_bytes(m['temp_bytes'])} − aliased "
          f"{human_bytes(m['alias_bytes'])}); archspec {human_bytes(est.peak_bytes)}: estimate/XLA {mem_ratio:.2f}")
    out = {"device_entry": device.name if device else None, "batch": batch, "precision": precision,
           "xla_bytes": m["total_bytes"], "xla_temp_bytes": m["temp_bytes"], "estimate_bytes": est.peak_bytes,
           "memory_ratio": mem_ratio, "measured_step_s": m["step_s"], "estimated_step_s": None}
    if device is None:
        print(f"  time      measured {num(m['step_s'] * 1e3)} ms; archspec has no device entry for '{kind}' "
              f"(archspec report --device lists them)")
        return out
    out["estimated_step_s"] = est.step_time_s
    bare = device.bare()
    out["roofline_step_s"] = spec.training_estimate(batch, optimizer="adam", precision=precision, device=bare).step_time_s
    print(f"  time      measured {num(m['step_s'] * 1e3)} ms (median of {steps}); archspec's roofline on "
          f"'{device.name}' {num(est.step_time_s * 1e3)} ms: measured/estimate {m['step_s'] / est.step_time_s:.2f}")
    return out


if __name__ == "__main__":
    sys.exit(main())
