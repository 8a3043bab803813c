"""Prepare the offline wheel folder that `tools/gpu_check.sh` installs archspec from on a machine
without network (one with JAX — and perhaps PyTorch — with CUDA, but no TensorFlow).

Run it where PyPI is reachable (this repository's machines). It puts into WHEELS_DIR (default
`wheels/`, ignored by git):

* archspec's own wheel, built from this checkout;
* the pure-Python wheels archspec and Keras need beyond what a JAX machine has (JAX brings NumPy and
  ml-dtypes): keras, absl-py, rich (+ markdown-it-py, mdurl, pygments), namex, packaging, pydantic,
  annotated-types, typing-extensions, typing-inspection, networkx;
* the compiled ones — pydantic-core, PyYAML, optree — for CPython 3.10–3.13 on manylinux x86_64 and
  aarch64, so that the folder fits the GPU machine's Python whichever it is;
* `requirements.txt`: every name pinned to the version installed here (the versions the test suite
  ran with), which gpu_check.sh installs with `pip --no-index --no-deps`.

h5py (a Keras dependency used only for legacy `.h5` files), scikit-learn, matplotlib and TensorBoard
are left out: the benchmark needs none of them. The folder must stay under 64 MiB (checked).

Usage: python tools/prepare_wheels.py [WHEELS_DIR] [--python 3.10 3.11 3.12 3.13]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE = ["keras", "absl-py", "rich", "markdown-it-py", "mdurl", "pygments", "namex", "packaging", "pydantic",
        "annotated-types", "typing-extensions", "typing-inspection", "networkx"]
COMPILED = ["pydantic-core", "pyyaml", "optree"]
PLATFORMS = {"x86_64": ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64"],
             "aarch64": ["manylinux_2_17_aarch64", "manylinux2014_aarch64", "manylinux_2_28_aarch64"]}
LIMIT = 64 << 20


def pinned(name: str) -> str:
    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:
        sys.exit(f"{name} is not installed here; install archspec's dependencies first (tools/setup.sh)")


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=str(ROOT / "wheels"))
    ap.add_argument("--python", nargs="+", default=["3.10", "3.11", "3.12", "3.13"])
    ap.add_argument("--arch", nargs="+", default=["x86_64", "aarch64"], choices=sorted(PLATFORMS))
    args = ap.parse_args(argv)
    out = Path(args.folder)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT))
    pure = [pinned(n) for n in PURE]
    pip("download", "--no-deps", "--only-binary=:all:", "--quiet", "--dest", str(out), *pure)
    compiled = [pinned(n) for n in COMPILED]
    for py in args.python:
        for arch in args.arch:
            plats = [a for p in PLATFORMS[arch] for a in ("--platform", p)]
            pip("download", "--no-deps", "--only-binary=:all:", "--quiet", "--dest", str(out), "--python-version", py,
                "--implementation", "cp", *plats, *compiled)
    from archspec import __version__

    reqs = [f"archspec=={__version__}", *pure, *compiled]
    (out / "requirements.txt").write_text("\n".join(reqs) + "\n", encoding="utf-8")
    files = sorted(out.glob("*.whl"))
    size = sum(f.stat().st_size for f in files)
    print(f"{out}: {len(files)} wheels, {size / 2 ** 20:.1f} MiB (Python {', '.join(args.python)}; "
          f"{', '.join(args.arch)}); requirements.txt pins {len(reqs)} packages")
    if size > LIMIT:
        print(f"error: the folder is over {LIMIT >> 20} MiB; pass fewer --python versions or --arch", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
