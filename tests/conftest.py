import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def spec_files():
    return sorted(p for p in SPECS.glob("*.yaml")) + sorted(SPECS.glob("*.json"))


@pytest.fixture
def load():
    import archspec

    def _load(text: str, **kw):
        return archspec.load_text(text, "t.yaml", **kw)

    return _load


class CliResult:
    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


@pytest.fixture
def cli(capsys):
    """The command line in this process (Keras loads once per worker, not per command): `cli(*args)` gives
    returncode, stdout and stderr, and fails the test on an internal error or a traceback."""
    from archspec.cli import main

    def run(*args):
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:           # argparse's own usage errors
            code = exc.code
        out, err = capsys.readouterr()
        assert "internal error" not in err and "Traceback" not in err, err
        return CliResult(code, out, err)

    return run


@pytest.fixture(scope="session")
def jax_child():
    """One process with Keras on JAX and TensorFlow blocked, shared by the tests of a worker that ask for
    it (tests/jax_child.py): `jax_child.cli(*args)` is `python -m archspec ARGS`, `jax_child.run(code,
    *argv)` is `python -c CODE ARGV`; each gives returncode, stdout and stderr. One per pytest-xdist worker,
    started by the worker's first such test (pytest-xdist's `--dist loadgroup` would keep them on one
    worker, but with pytest 9.2 it no longer groups: it renames `item._nodeid`, which pytest stopped reading)."""
    pytest.importorskip("jax")
    from jax_child import JaxChild

    child = JaxChild()
    yield child
    child.close()


FRAMEWORKS = ("tensorflow", "keras", "jax", "torch")


def imported_by(code: str, packages=FRAMEWORKS) -> list[str]:
    """Which of `packages` the Python `code` imports, run in a fresh interpreter in the repository
    (a failing `code` fails the calling test)."""
    import json
    import subprocess
    import sys

    probe = (f"{code}\nimport json as _j, sys as _s\n"
             f"print(_j.dumps(sorted({{m.split('.')[0] for m in _s.modules}} & {set(packages)!r})))")
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def kill_at_first_checkpoint(proc, out: Path, timeout: float) -> None:
    """Wait until the training `proc` has written out/checkpoint.npz (or ended, or `timeout` s passed),
    then SIGKILL it, as a power cut would."""
    import signal
    import time

    deadline = time.time() + timeout
    while not (out / "checkpoint.npz").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
