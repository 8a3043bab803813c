"""What the stand-ins in archspec/fast/ save a cold `archspec check`: the costs of the libraries they
replace, each measured in fresh processes, in CPU seconds (user + system of the child, so the other
processes of a shared machine do not count), median of --repeat runs interleaved.

1. a cold `check specs/inception_resnet_v2.yaml` (in-process through archspec.cli.main), and the
   same check after `import pydantic` / `import dataclasses` — what the check would pay for them;
2. building the pydantic twins (`Model.pydantic()`) of the document model and every op's
   attributes — what declaring them as real pydantic models would add on top of the import;
3. reading a 10,000-layer chain (bench/check_bench.py's): PyYAML's event stream on libyaml alone, the
   data and positions archspec builds from it (`source._walk_yaml`), and `fast.yaml_lite.read`, per
   layer — the reader a large spec would pay for.

docs/design.md quotes a run of this script. Usage: python bench/stand_ins_bench.py [--repeat N]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from check_bench import ENV, ROOT, chain_spec, cold

CHECK = "from archspec.cli import main; main(['check', 'specs/inception_resnet_v2.yaml'])"
TWINS = """
import time
from archspec import ops
from archspec.lang.document import BlockDef, Document, Library
from archspec.lang.training import TrainingDef
import pydantic
t = time.process_time()
for m in (Document, BlockDef, Library, TrainingDef, *(op.Attrs for op in ops.REGISTRY.values() if not op.summary)):
    m.pydantic()
print(time.process_time() - t)
"""
READERS = """
import sys, time
sys.path.insert(0, "bench")
from check_bench import chain_spec
from archspec.fast.yaml_lite import read
from archspec.lang.source import Limits, Source, _loader_class, _walk_yaml
text, n = chain_spec(10_000), 10_000
loader = _loader_class()
t = time.process_time()
ld = loader(text)
while ld.get_event() is not None:
    pass
ld.dispose()
events = time.process_time() - t
t = time.process_time()
_walk_yaml(text, Source("c.yaml", None, text, None), Limits(max_bytes=1 << 30, max_nodes=10**8), True)
walk = time.process_time() - t
t = time.process_time()
assert read(text, 10**8, 1000) is not None
lite = time.process_time() - t
print(events / n * 1e6, walk / n * 1e6, lite / n * 1e6)
"""


def in_process(code: str, repeat: int) -> list[float]:
    """Median of each number `code` prints, a fresh process per run."""
    runs = []
    for _ in range(repeat):
        r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True)
        runs.append([float(x) for x in r.stdout.split()])
    return [statistics.median(col) for col in zip(*runs)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    print(f"cold processes, CPU seconds, median of {args.repeat} interleaved runs:")
    t = cold({"python -c pass": [py, "-c", "pass"],
              "check inception_resnet_v2": [py, "-c", CHECK],
              "import pydantic; check": [py, "-c", "import pydantic; " + CHECK],
              "import dataclasses; check": [py, "-c", "import dataclasses; " + CHECK]}, args.repeat)
    base = t["check inception_resnet_v2"][1]
    for k, (_, cpu) in t.items():
        extra = f"  {cpu / base - 1:+.0%} over the check" if "import" in k else ""
        print(f"  {k:<28}{cpu:7.3f}{extra}")
    (twins,) = in_process(TWINS, args.repeat)
    print(f"  pydantic twins of the document and every op's attributes: {twins:.3f} s to build, after the import")
    events, walk, lite = in_process(READERS, args.repeat)
    print(f"reading a 10,000-layer chain ({len(chain_spec(10_000)):,} characters), CPU µs per layer: PyYAML's events "
          f"alone (libyaml) {events:.1f}, data and positions from them (source._walk_yaml) {walk:.1f}, "
          f"fast.yaml_lite {lite:.1f}")


if __name__ == "__main__":
    main()
