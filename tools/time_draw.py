"""How long Graphviz takes to lay out archspec's diagrams: a Markdown table for docs/draw.md.

    python tools/time_draw.py [SPEC ...]          (default: the biggest specs in specs/)

For each spec and depth it builds the DOT text once (timed: archspec's own share), then runs
`dot -Tsvg` and `dot -Tpng -Gdpi=144` three times each and reports the median wall time and the
output sizes. Numbers depend on the machine; the docs say which one.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archspec import api  # noqa: E402
from archspec.render import dot, image  # noqa: E402

BIGGEST = ["inception_resnet_v2", "densenet121", "resnet50", "inception_resnet_cifar10"]


def timed(cmd: list[str], data: bytes, runs: int = 3) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
        times.append(time.perf_counter() - t0)
        size = len(out)
    return statistics.median(times), size


def kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB"


def main(names: list[str]) -> None:
    print("| spec | layers | depth | boxes | DOT text | dot → SVG | SVG size | dot → PNG (144 dpi) | PNG size |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        path = Path(name) if name.endswith((".yaml", ".json")) else ROOT / "specs" / f"{name}.yaml"
        spec = api.load(path)
        g = spec.graph
        auto = dot.auto_depth(g)
        for depth in dict.fromkeys([1, auto, None]):
            t0 = time.perf_counter()
            text = image.dot_text(spec, depth=depth if depth is not None else "all").encode()
            gen = time.perf_counter() - t0
            svg_t, svg_n = timed(["dot", "-Tsvg"], text)
            png_t, png_n = timed(["dot", "-Tpng", "-Gdpi=144"], text)
            label = "all" if depth is None else str(depth)
            if depth == auto:
                label += " (auto)"
            print(f"| {path.stem} | {len(g) - len(g.inputs)} | {label} | {dot.count_boxes(g, depth)} | "
                  f"{gen * 1000:.0f} ms | {svg_t:.2f} s | {kib(svg_n)} | {png_t:.2f} s | {kib(png_n)} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or BIGGEST)
