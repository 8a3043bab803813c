"""Re-pricing speed: archspec.Pricer against a plain load + analysis of each candidate, side by side.

A search draws candidates (here: ResNet-50's blocks per stage, each 1–8, and MobileNet-v2's width)
and needs each one's parameters, MACs, FLOPs and peak memory. The baseline does what a script
without the pricing API would do: `archspec.load_text(text, overrides=...)` and `.analysis()`.
The Pricer reuses the parsed spec, the validated document and blocks, and its block-call memo.

Target (issue #16): ≥ 1,000 ResNet-50-sized re-pricings per second on one core. Rates are per CPU
second of this (single-threaded) process, so other jobs on a shared machine do not count against it.

Usage: python bench/price_bench.py [--candidates N] [--repeat R]
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


CLOCK = time.process_time       # CPU seconds of this process: one core's work, whatever else runs on the machine


def rate(fn, cands, repeat) -> float:
    """Median candidates per CPU second over `repeat` passes."""
    rates = []
    for _ in range(repeat):
        t = CLOCK()
        for c in cands:
            fn(c)
        rates.append(len(cands) / (CLOCK() - t))
    return statistics.median(rates)


def case(title, path, draw, n, repeat) -> None:
    import archspec

    text = (ROOT / path).read_text()
    rng = random.Random(16)
    cands = [draw(rng) for _ in range(n)]
    pricer = archspec.Pricer(ROOT / path)

    def baseline(c):
        archspec.load_text(text, path, overrides=c).analysis()

    def priced(c):
        p = pricer.price(c)
        assert p.ok, p.diagnostics

    first = CLOCK()
    for c in cands:
        priced(c)                                    # first sight of each candidate: the memo fills
    first = n / (CLOCK() - first)
    base = rate(baseline, cands[: max(20, n // 10)], repeat)
    warm = rate(priced, cands, repeat)
    p = pricer.price(cands[0])
    ref = archspec.load_text(text, path, overrides=cands[0]).analysis()
    assert (p.params, p.macs, p.flops, p.peak_bytes) == (ref.total.params, ref.total.macs, ref.total.flops,
                                                        ref.peak_bytes)
    print(f"{title}  ({p.layers} layers for {cands[0]})")
    print(f"  load + analysis per candidate:  {base:8,.0f} /s   {1e3 / base:6.2f} ms")
    print(f"  Pricer, first sight:            {first:8,.0f} /s   {1e3 / first:6.2f} ms   {first / base:5.1f}×")
    print(f"  Pricer, re-pricing:             {warm:8,.0f} /s   {1e3 / warm:6.2f} ms   {warm / base:5.1f}×")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    gc.collect()
    case("ResNet-50, stages drawn from 1–8 each (target ≥ 1,000 re-pricings/s)", "specs/resnet50.yaml",
         lambda r: {"stages": [r.randint(1, 8) for _ in range(4)]}, args.candidates, args.repeat)
    case("MobileNet-v2, width multiplier from 5 values", "specs/mobilenet_v2.yaml",
         lambda r: {"alpha": r.choice([0.35, 0.5, 0.75, 1.0, 1.4])}, args.candidates, args.repeat)
    case("DenseNet-121, blocks per stage 1–24, growth 12/24/32", "specs/densenet121.yaml",
         lambda r: {"block_layers": [r.randint(1, 24) for _ in range(4)], "growth_rate": r.choice([12, 24, 32])},
         args.candidates // 4, args.repeat)


if __name__ == "__main__":
    main()
