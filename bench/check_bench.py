"""Speed of the fast path, as ratios against baselines run side by side in the same process tree.

1. Start-up: a cold `archspec check specs/inception_resnet_v2.yaml` (new interpreter each time) against
   a cold `python -c "import tensorflow"`, `python -c "import archspec"` and `python -c pass`, runs
   interleaved. Target: check ≤ 0.02 × import tensorflow.
2. Linear growth: a chain (conv → batch norm → relu, every entry written out) and a residual stack
   (inline `residual:` entries of conv → bn → relu → conv → bn, add) of 1,000, 10,000 and 100,000
   layers, each checked in a fresh process that reports per-phase times (imports, parse, expand+infer,
   costs, warnings), the time left to the caller's garbage collector, and its peak RSS. Targets:
   100,000 layers ≤ 1.5 s and ≤ 150 MiB; growth per 10× between 9× and 11×. Sizes run interleaved.
3. The same work as ten checks of a tenth of the largest size in one process, every result kept: what
   the largest check would cost if its growth were exactly linear on this machine's memory.

Usage: python bench/check_bench.py [--repeat N] [--sizes 1000,10000,100000] [--skip-startup]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)   # measure what an installed package does: cached bytecode


def chain_spec(layers: int) -> str:
    """conv → batch norm → relu, repeated, each entry written out."""
    cycle = ["conv2d: {filters: 16, kernel: 3, padding: same, use_bias: false}", "batch_norm: {}", "relu: {}"]
    body = "".join(f"  - {cycle[k % 3]}\n" for k in range(layers))
    return f"archspec: 1\nname: chain{layers}\ninputs: {{x: [32, 32, 16]}}\nmodel:\n{body}"


def residual_spec(layers: int) -> str:
    """Residual entries of 6 layers each (conv, bn, relu, conv, bn, add), written out inline."""
    entry = ("  - residual:\n      body:\n        - conv2d: {filters: 16, kernel: 3, padding: same, use_bias: false}\n"
             "        - batch_norm: {}\n        - relu: {}\n"
             "        - conv2d: {filters: 16, kernel: 3, padding: same, use_bias: false}\n        - batch_norm: {}\n")
    return f"archspec: 1\nname: res{layers}\ninputs: {{x: [32, 32, 16]}}\nmodel:\n" + entry * max(1, layers // 6)


# Runs in a fresh interpreter: phase times, GC time left behind, peak RSS.
CHILD = r"""
import gc, json, resource, sys, time
cpu, wall = time.process_time, time.perf_counter
t0, w0 = cpu(), wall()
import archspec
from archspec import api
from archspec.lang.source import Limits, parse
api.load_text("archspec: 1\nname: w\ninputs: {x: [4, 4, 2]}\nmodel: [{conv2d: {filters: 2, kernel: 1}}]\n").warnings
t_import = cpu() - t0                 # imports and first-use set-up (validators), on a tiny spec
text = sys.stdin.read()
limits = Limits(max_bytes=1 << 30, max_nodes=100_000_000, max_layers=10_000_000, max_repeat=10_000_000)
gc_time, start = [0.0], [0.0]
def cb(phase, info):
    if phase == "start":
        start[0] = wall()
    else:
        gc_time[0] += wall() - start[0]
gc.callbacks.append(cb)
w1 = wall()
t = cpu()
with api._no_gc():                    # what archspec.load does
    src = parse(text, "bench.yaml", None, limits)
    t_parse = cpu() - t
    t = cpu()
    spec = api._load(src, None, limits, None)
    t_expand = cpu() - t
t = cpu()
a = spec.analysis()
t_costs = cpu() - t
t = cpu()
w = spec.warnings
t_warn = cpu() - t
total = t_parse + t_expand + t_costs + t_warn
total_wall = wall() - w1
young = len(gc.get_objects(0)) + len(gc.get_objects(1))   # what the next young collections would walk
gc_in_check = gc_time[0]
t = cpu()
gc.collect()
t_full = cpu() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(layers=len(spec.graph) - 1, imports=t_import, parse=t_parse, expand=t_expand, costs=t_costs,
                      warnings=t_warn, total=total, wall=total_wall, gc=gc_in_check, young=young, full=t_full,
                      rss=rss)))
"""


def measure(text: str) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD], input=text, capture_output=True, text=True, env=ENV, cwd=ROOT)
    if r.returncode:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout)


def cold(cmds: dict[str, list[str]], repeat: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each command in a fresh process, runs interleaved so that load
    changes hit all alike. CPU = user + system time of the child: on a shared machine the wall time
    mostly measures the other processes."""
    times = {k: [] for k in cmds}
    for _ in range(repeat):
        for k, cmd in cmds.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            times[k].append((wall, cpu))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}


def startup(repeat: int) -> None:
    py = sys.executable
    t = cold({"python -c pass": [py, "-c", "pass"],
              "import archspec": [py, "-c", "import archspec"],
              "check mnist_cnn": [py, "-m", "archspec", "check", "specs/mnist_cnn.yaml"],
              "check inception_resnet_v2": [py, "-m", "archspec", "check", "specs/inception_resnet_v2.yaml"],
              "import tensorflow": [py, "-c", "import tensorflow"]}, repeat)
    tf_wall, tf_cpu = t["import tensorflow"]
    print(f"start-up, cold processes, median of {repeat} interleaved runs (wall and CPU seconds):")
    print(f"  {'':<28}{'wall':>8}{'× tf':>8}{'CPU':>8}{'× tf':>8}{'× python':>10}")
    for k, (w, c) in t.items():
        print(f"  {k:<28}{w:8.3f}{w / tf_wall:8.3f}{c:8.3f}{c / tf_cpu:8.3f}{c / t['python -c pass'][1]:10.1f}")
    w, c = t["check inception_resnet_v2"]
    print(f"  ratio check inception_resnet_v2 / import tensorflow: wall {w / tf_wall:.3f}, CPU {c / tf_cpu:.3f}"
          "   (target ≤ 0.020)")


def growth(sizes: list[int], repeat: int) -> None:
    print(f"\nin-process check, CPU seconds per phase (parse → expand+infer → costs → warnings), a fresh process "
          f"per run, median of {repeat} runs interleaved across sizes:")
    print(f"  {'spec':<9}{'layers':>8}{'import':>7}{'parse':>7}{'expand':>7}{'costs':>7}{'warn':>6}{'total':>7}"
          f"{'growth':>7}{'wall':>7}{'µs/layer':>9}{'gc':>6}{'young':>7}{'fullgc':>7}{'RSS MiB':>8}")
    for kind, make in (("chain", chain_spec), ("residual", residual_spec)):
        prev = None
        texts = {n: make(n) for n in sizes}
        runs: dict[int, list] = {n: [] for n in sizes}
        for _ in range(repeat):               # sizes interleaved: a machine that speeds up or slows down
            for n in sizes:                   # over the minutes shifts every size alike, not the growth
                runs[n].append(measure(texts[n]))
        for n in sizes:
            m = {k: statistics.median(r[k] for r in runs[n]) for k in runs[n][0]}
            g = f"{m['total'] / prev:6.1f}×" if prev else f"{'':>7}"
            prev = m["total"]
            print(f"  {kind:<9}{int(m['layers']):>8,}{m['imports']:7.3f}{m['parse']:7.3f}{m['expand']:7.3f}"
                  f"{m['costs']:7.3f}{m['warnings']:6.2f}{m['total']:7.3f}{g}{m['wall']:7.2f}"
                  f"{m['total'] / m['layers'] * 1e6:9.1f}{m['gc']:6.2f}{int(m['young']):>7,}{m['full']:7.2f}{m['rss']:8.0f}")
    print("  targets: 100,000 layers ≤ 1.5 s and ≤ 150 MiB peak RSS; growth per 10× between 9× and 11×.\n"
          "  wall: the same total in wall-clock seconds; gc: collector time inside the check; young: objects left in\n"
          "  the young generations (what the caller's next collections would walk; the debt); fullgc: one full\n"
          "  gc.collect() afterwards (a full collection walks every live object, spec or not).")


# Ten checks of a tenth of the size in one fresh process, every result kept: the same work and the same
# heap as one big check. When this costs what the big check costs, the growth above 10× between the
# last two sizes is the machine (caches, memory), not the algorithm.
PIECES = r"""
import gc, json, sys, time
from archspec import api
from archspec.lang.source import Limits, parse
api.load_text("archspec: 1\nname: w\ninputs: {x: [4, 4, 2]}\nmodel: [{conv2d: {filters: 2, kernel: 1}}]\n").warnings
text, pieces = sys.stdin.read(), int(sys.argv[1])
limits = Limits(max_bytes=1 << 30, max_nodes=100_000_000, max_layers=10_000_000, max_repeat=10_000_000)
keep, t = [], time.process_time()
for _ in range(pieces):
    with api._no_gc():
        spec = api._load(parse(text, "bench.yaml", None, limits), None, limits, None)
    spec.analysis(), spec.warnings
    keep.append(spec)
print(json.dumps(dict(total=time.process_time() - t)))
"""


def pieces(sizes: list[int], repeat: int) -> None:
    big = sizes[-1]
    small = big // 10
    if small < 1000:
        return
    print(f"\nthe same {big:,} layers as ten checks of {small:,} in one process, results kept (median of {repeat}):")
    for kind, make in (("chain", chain_spec), ("residual", residual_spec)):
        text = make(small)
        runs = []
        for _ in range(repeat):
            r = subprocess.run([sys.executable, "-c", PIECES, "10"], input=text, capture_output=True, text=True,
                               env=ENV, cwd=ROOT)
            if r.returncode:
                raise SystemExit(r.stderr)
            runs.append(json.loads(r.stdout)["total"])
        print(f"  {kind:<9}10 × {small:,}: {statistics.median(runs):.3f} s CPU")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--skip-startup", action="store_true")
    args = ap.parse_args()
    if not args.skip_startup:
        startup(args.repeat)
    sizes = [int(s) for s in args.sizes.split(",")]
    growth(sizes, args.repeat)
    pieces(sizes, args.repeat)


if __name__ == "__main__":
    main()
