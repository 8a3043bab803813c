"""archspec's training estimates (report --train --device cpu) against what JAX really does on this machine.

For each spec and batch size: the estimated peak training memory against XLA's memory analysis of the
compiled Adam training step (arguments + outputs + temporaries − donated aliases), and the estimated
step time on the measured CPU (its calibrated efficiencies, archspec/devices.py) against the measured
step: the minimum CPU time of the timed steps over the cores (archspec.train.measure.idle_step_s — on a
shared machine the wall clock, printed beside it, measures the other processes).
Prints the ratios, with the batch and the precision as columns; the numbers in docs/training-estimates.md
come from it.

With `--target GPU` (a GPU of `archspec report --device`'s table, e.g. h200) the step is compiled for that
GPU without one (XLA:GPU's deviceless compile; needs `pip install "jax[cuda12]"`, no GPU) and the estimate
for that device is set against XLA:GPU's memory plan; nothing runs, so there is no time column.

Usage: python bench/train_estimate_bench.py [SPEC:BATCH[:NAME=VALUE,...] ...] [--families] [--steps N]
                                            [--precision float32|mixed_bfloat16|mixed_float16 ...]
                                            [--target GPU]
(default: the small specs and the families at small batches, float32; --families: the bundled families at
batch 8, 32 and 64 (with --target: 32 and 128) and the token models; --precision, repeatable: each case in
each precision, as Keras's global dtype policy; expect minutes: every step is compiled)
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
FAMILIES = ["resnet50", "mobilenet_v2", "densenet121", "efficientnet_b0", "convnext_tiny", "vit_b16"]
TOKENS = ["specs/gpt2_small.yaml:4:num_layers=2,length=256", "specs/bert_base.yaml:4:num_layers=2,length=256",
          "specs/llama.yaml:4:num_layers=2,length=256,hidden_dim=256,num_query_heads=8,num_key_value_heads=2,"
          "intermediate_dim=512", "specs/whisper_encoder.yaml:2"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", metavar="SPEC:BATCH[:NAME=VALUE,...]")
    p.add_argument("--families", action="store_true", help="the bundled families at batch 8, 32 and 64 and the "
                   "token models (memory: compiling only; add --steps for time, minutes per case)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per case after 2 warm-up steps (default 5, "
                   "0 with --families: memory only)")
    p.add_argument("--precision", action="append", choices=("float32", "mixed_bfloat16", "mixed_float16"),
                   help="the dtype policy of the step and the estimate (repeat for several; default float32)")
    p.add_argument("--target", metavar="GPU", help="compile each step for this GPU without one (memory only)")
    args = p.parse_args()
    precisions = args.precision or ["float32"]
    batches = (32, 128) if args.target else (8, 32, 64)
    cases = args.cases or ([f"specs/{f}.yaml:{b}" for f in FAMILIES for b in batches] + TOKENS
                           if args.families else DEFAULT)
    steps = args.steps if args.steps is not None else (0 if args.families or args.target else 5)
    if args.target and steps:
        p.error("--target compiles for a GPU that is not there: nothing runs, so no --steps")
    os.environ["KERAS_BACKEND"] = "jax"
    sys.path.insert(0, str(ROOT))
    from archspec.devices import cpu_device, get_device
    from archspec.render.tables import human_bytes
    from archspec.render.training import seconds
    from archspec.train.measure import idle_step_s, load_case, measure_step

    if args.target:
        import jax

        from archspec.train.measure import NoGpuCompiler, gpu_sharding

        jax.config.update("jax_platforms", "cpu")     # the host runs nothing; the plugin only compiles
        try:
            gpu = get_device(args.target)
            gpu_sharding(gpu)                          # the CUDA plugin is there and takes the device
        except (ValueError, NoGpuCompiler) as exc:
            p.error(str(exc))
        print(f"device: {gpu.title}, compiled for without one (XLA:GPU, jax {jax.__version__})")
        print(f"{'spec':<28} {'batch':>5} {'precision':<14} {'XLA:GPU plan':>12} {'estimate':>10} {'ratio':>6}")
        for case, precision in ((c, p) for c in cases for p in precisions):
            spec, batch = load_case(case, root=ROOT)
            est = spec.training_estimate(batch, "adam", precision, device=gpu)
            m = measure_step(spec, batch, "adam", precision, target=gpu)
            print(f"{spec.title[:28]:<28} {batch:>5} {precision:<14} {human_bytes(m['total_bytes']):>12} "
                  f"{human_bytes(est.peak_bytes):>10} {est.peak_bytes / m['total_bytes']:>6.2f}", flush=True)
        return
    cpu = cpu_device()
    print(f"device: {cpu.title}: {cpu.fp32 / 1e9:.1f} GFLOP/s float32 matmul, {cpu.bandwidth / 1e9:.1f} GB/s copy"
          + (f"; {cpu.calibration}" if cpu.calibration else ""))
    head = (f"{'spec':<28} {'batch':>5} {'precision':<14} {'XLA memory':>11} {'estimate':>10} {'ratio':>6}   {'wall (min)':>10} "
            f"{'cpu/cores':>10} {'estimate':>9} {'measured/est':>12}")
    print(head)
    print("─" * len(head))
    for case, precision in ((c, p) for c in cases for p in precisions):
        spec, batch = load_case(case, root=ROOT)
        est = spec.training_estimate(batch, "adam", precision, device=cpu)
        m = measure_step(spec, batch, "adam", precision, steps=steps)
        if steps:       # measured: the steps' CPU time over the cores (idle_step_s), beside the wall clock
            idle = idle_step_s(m["step_cpu_s"])
            time_cells = (f"{seconds(m['step_min_s']):>10} {seconds(idle):>10} {seconds(est.step_time_s):>9} "
                          f"{idle / est.step_time_s:>12.2f}")
        else:
            time_cells = f"{'-':>10} {'-':>10} {seconds(est.step_time_s):>9} {'-':>12}"
        print(f"{spec.title[:28]:<28} {batch:>5} {precision:<14} {human_bytes(m['total_bytes']):>11} {human_bytes(est.peak_bytes):>10} "
              f"{est.peak_bytes / m['total_bytes']:>6.2f}   {time_cells}", flush=True)


if __name__ == "__main__":
    main()
