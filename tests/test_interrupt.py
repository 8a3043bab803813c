"""Commands that write files write them atomically: interrupted with SIGINT or SIGKILL at any moment,
they leave either no output or the complete output, and never touch their inputs."""
import hashlib
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from archspec.files import _stale_temps, atomic_path, atomic_write


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_stale_temp_of_a_dead_process_is_cleaned(tmp_path):
    target = tmp_path / "r.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".r.json.{dead.stdout.strip()}-abcd.tmp.json"
    stale.write_text("{partial")
    atomic_write(target, b"{}")
    assert not stale.exists() and target.read_text() == "{}"


def interrupt_runs(args, outputs, complete, sig, delays):
    """Run `archspec ARGS` and send `sig` after each delay; after every run each output is either
    absent or complete, and the spec is unchanged."""
    spec = ROOT / args[1]
    before = digest(spec)
    for delay in delays:
        for o in outputs:
            o.unlink(missing_ok=True)
        p = subprocess.Popen([sys.executable, "-m", "archspec", *args], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(sig)
        p.wait(timeout=120)
        for o in outputs:
            assert not o.exists() or complete(o), f"partial {o.name} after {sig!r} at {delay}s"
            leftovers = [x.name for x in o.parent.glob(f".{o.name}.*")]
            if sig == signal.SIGINT:
                assert not leftovers, leftovers
        assert digest(spec) == before


DELAYS = [0.05, 0.2, 0.3, 0.4, 0.6]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_report_output_is_atomic(tmp_path, sig):
    out = tmp_path / "report.json"
    import json

    def complete(p):
        json.loads(p.read_text())
        return True

    interrupt_runs(["report", "specs/inception_resnet_v2.yaml", "--format", "json", "--depth", "all",
                    "-o", str(out)], [out], complete, sig, DELAYS)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_draw_output_is_atomic(tmp_path, sig):
    out = tmp_path / "irv2.svg"

    def complete(p):
        return p.read_text().rstrip().endswith("</svg>")

    interrupt_runs(["draw", "specs/inception_resnet_v2.yaml", "--depth", "2", "-o", str(out)], [out], complete, sig,
                   [0.3, 0.8, 1.5])


def temporaries(folder):
    """The files archspec.files.atomic_path is writing in `folder` (named `.TARGET.PID-XXXX.tmp…`)."""
    return [f for f in folder.rglob(".*") if ".tmp" in f.name and "tensorboard" not in f.parts]


def signal_while_writing(p, folder, sig, timeout=300) -> bool:
    """Send `sig` to the process `p` the moment a temporary file of its appears in `folder` — a write in
    progress (saving mnist_cnn's .keras file keeps one there for ~60 ms; this looks every 2 ms). Returns
    whether the signal landed during a write (False: the process ended first)."""
    deadline = time.time() + timeout
    while p.poll() is None and time.time() < deadline:
        if temporaries(folder):
            p.send_signal(sig)
            p.wait(timeout=120)
            return True
        time.sleep(0.002)
    p.kill()
    p.wait()
    return False


@pytest.mark.keras
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_compile_output_is_atomic(tmp_path, sig):
    """The signal lands while the .keras file is being written (Keras has built the model; its zip is
    part-written), not at guessed delays that mostly fell in TensorFlow's import: no file, or a complete
    one; after SIGINT no temporary file, after SIGKILL only one that the next write removes."""
    import zipfile

    out = tmp_path / "m.keras"
    spec = ROOT / "specs" / "mnist_cnn.yaml"
    before = digest(spec)
    for attempt in range(3):        # a process that finished before the poll saw its write is run again
        p = subprocess.Popen([sys.executable, "-m", "archspec", "compile", str(spec), "-o", str(out)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if signal_while_writing(p, tmp_path, sig):
            break
        out.unlink(missing_ok=True)
    else:
        pytest.fail("three compile runs ended before their .keras write was seen")
    if out.exists():                # the signal came after the rename
        with zipfile.ZipFile(out) as z:
            assert z.testzip() is None and "config.json" in z.namelist()
    left = temporaries(tmp_path)
    if sig == signal.SIGINT:
        assert not left, left
    else:
        assert set(left) <= set(_stale_temps(out)), f"{left} would not be cleaned by the next write"
        atomic_write(out, b"next")
        assert not temporaries(tmp_path)
    assert digest(spec) == before


@pytest.mark.keras
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_train_run_folder_has_no_partial_files(tmp_path, sig):
    """Interrupted training leaves only complete artifacts (each file written atomically); the signal lands
    while an artifact of a later epoch is being written. The resume/checkpoint behaviour itself is tested
    in test_train.py."""
    import json
    import zipfile

    run = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "archspec", "train", "specs/digits_cnn.yaml", "--epochs", "40",
                          "--out", str(run), "--seed", "1"], cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (run / "history.csv").exists() and p.poll() is None:
        time.sleep(0.2)
    assert p.poll() is None, "the run ended before its first epoch was written"
    assert signal_while_writing(p, run, sig), "the run ended before the signal"     # 40 epochs: it cannot
    for f in run.rglob("*"):
        if not f.is_file() or "tensorboard" in f.parts:
            continue
        if f.name.startswith("."):
            # SIGINT cleans its temporary files at once; after SIGKILL one may remain, but then it
            # must be one that the next write of its target recognises as stale and removes
            assert sig == signal.SIGKILL, f"temporary file left: {f.name}"
            target = f.parent / f.name[1:].split(".tmp")[0].rsplit(".", 1)[0]
            assert f in set(_stale_temps(target)), f"{f.name} would not be cleaned by the next write of {target.name}"
            continue
        if f.suffix == ".json":
            json.loads(f.read_text())
        elif f.suffix in (".keras", ".npz"):
            with zipfile.ZipFile(f) as z:
                assert z.testzip() is None
        elif f.suffix == ".csv":
            lines = f.read_text().splitlines()
            assert lines and all(line.count(",") == lines[0].count(",") for line in lines)
