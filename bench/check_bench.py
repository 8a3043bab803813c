"""Speed of the fast path, as ratios against baselines run side by side in the same process tree.

1. A cold `archspec check specs/inception_resnet_v2.yaml` (new interpreter each time) against a cold
   `python -c "import tensorflow"`. Target: under a tenth.
2. Load + expand + infer + costs + warnings of generated chain specs of 1,000 and 10,000 layers
   (written out entry by entry, so parsing is included). Target: linear growth; 10,000 layers well
   under a second.

Usage: python bench/check_bench.py [--repeat N]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cold(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def chain_spec(layers: int) -> str:
    """A spec of `layers` layers: conv → batch norm → relu, repeated, each entry written out."""
    cycle = ["conv2d: {filters: 16, kernel: 3, padding: same, use_bias: false}", "batch_norm: {}", "relu: {}"]
    body = "".join(f"  - {cycle[k % 3]}\n" for k in range(layers))
    return f"archspec: 1\nname: chain{layers}\ninputs: {{x: [32, 32, 16]}}\nmodel:\n{body}"


def in_process(layers: int, repeat: int) -> float:
    import archspec
    from archspec.lang.source import Limits

    text = chain_spec(layers)
    limits = Limits(max_nodes=10_000_000, max_layers=1_000_000)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        spec = archspec.load_text(text, f"chain{layers}.yaml", limits=limits)
        spec.analysis()
        spec.warnings
        times.append(time.perf_counter() - t)
    assert len(spec.graph) == layers + 1
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    check = cold([py, "-m", "archspec", "check", "specs/inception_resnet_v2.yaml"], args.repeat)
    tf = cold([py, "-c", "import tensorflow"], max(2, args.repeat // 2))
    print(f"cold archspec check inception_resnet_v2: {check:.3f} s")
    print(f"cold import tensorflow:                  {tf:.3f} s")
    print(f"ratio check / import tensorflow:         {check / tf:.3f}   (target < 0.100)")
    in_process(100, 1)                                   # warm up (imports, lazy validators)
    t1 = in_process(1_000, args.repeat)
    t10 = in_process(10_000, max(2, args.repeat // 2))
    print(f"load+expand+infer+costs, 1,000 layers:   {t1:.3f} s  ({t1 / 1_000 * 1e6:.0f} µs/layer)")
    print(f"load+expand+infer+costs, 10,000 layers:  {t10:.3f} s  ({t10 / 10_000 * 1e6:.0f} µs/layer)")
    print(f"growth 10,000 / 1,000 layers:            {t10 / t1:.1f}×   (linear = 10×; target: 10,000 layers < 1 s)")


if __name__ == "__main__":
    main()
