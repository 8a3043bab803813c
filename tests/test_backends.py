"""archspec train on every Keras backend: JAX with TensorFlow blocked (tests/fixtures/no_tensorflow),
compared with the TensorFlow run at the same seed; kill and resume under JAX; the two input pipelines
(tf.data, PyDataset) give the same batches; keras.distribution.DataParallel over two virtual CPU
devices gives the weights one device gives; backend choice and its errors.

The training tests run the command line in subprocesses: the backend is fixed when Keras is imported,
and XLA_FLAGS when JAX starts. The single-device JAX runs share one such process (the `jax_child`
fixture, tests/jax_child.py); the multi-device and multi-process ones start their own.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT, SPECS, kill_at_first_checkpoint

np = pytest.importorskip("numpy")  # the training extras; the core tier runs without them
pytestmark = pytest.mark.extras  # numpy, scikit-learn, Pillow: the training extras

DIGITS = str(SPECS / "digits_cnn.yaml")
NO_TF = str(FIXTURES / "no_tensorflow")


def cli(*args, no_tf=False, env=None, timeout=900, popen=False):
    path = os.pathsep.join(([NO_TF] if no_tf else []) + [str(ROOT)])
    full = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path, **(env or {})}
    cmd = [sys.executable, "-m", "archspec", *args]
    if popen:
        return subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=full, timeout=timeout)


def history(folder) -> list[dict]:
    lines = (folder / "history.csv").read_text().splitlines()
    keys = lines[0].split(",")
    return [dict(zip(keys, map(float, row.split(",")))) for row in lines[1:]]


def scalars(folder) -> dict:
    """tag → [(step, value)] from the TensorBoard event files, read with the tensorboard package."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


# ---- choosing the backend (no Keras) -----------------------------------------------------------------
def test_blocker_really_blocks_tensorflow():
    r = subprocess.run([sys.executable, "-c", "import importlib.util, sys\n"
                        "from archspec.train.backend import installed, choose\n"
                        "print(installed('tensorflow'), choose('auto'), choose(None))\n"
                        "import tensorflow"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join([NO_TF, str(ROOT)]), "KERAS_BACKEND": ""})
    assert r.returncode == 1 and "No module named 'tensorflow'" in r.stderr
    assert r.stdout.split()[:3] == ["False", "jax", "jax"], r.stdout


def test_backend_errors_are_usage_errors(tmp_path):
    from archspec.train.backend import installed

    r = cli("train", DIGITS, "--backend", "tensorflow", "--out", str(tmp_path / "x"), no_tf=True)
    assert r.returncode == 2 and "--backend tensorflow: TensorFlow is not installed here" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x").exists()
    r = cli("train", DIGITS, "--out", str(tmp_path / "x"), no_tf=True, env={"KERAS_BACKEND": "tensorflow"})
    assert r.returncode == 2 and "KERAS_BACKEND=tensorflow: TensorFlow is not installed here" in r.stderr
    if not installed("torch"):
        r = cli("train", DIGITS, "--backend", "torch", "--out", str(tmp_path / "x"))
        assert r.returncode == 2 and "PyTorch is not installed here (pip install torch)" in r.stderr
    assert cli("train", DIGITS, "--backend", "jaxx").returncode == 2


# ---- the input pipelines ---------------------------------------------------------------------------------
@pytest.mark.keras
def test_pyDataset_and_tf_data_give_the_same_batches(tmp_path):
    """Same images, same preprocessing (resize, rescale, one-hot), every image once per epoch."""
    pytest.importorskip("tensorflow")
    import archspec
    from archspec.train import data, planning
    from archspec.train.config import resolve
    from archspec.train.pipeline import make_py_inputs, make_tf_inputs

    text = open(DIGITS, encoding="utf-8").read().replace("image: [8, 8, 1]", "image: [12, 12, 1]").replace(
        "loss: sparse_categorical_crossentropy", "loss: categorical_crossentropy\n  resize: true")
    spec = archspec.load_text(text, "d.yaml")
    settings = resolve(spec, {"batch_size": 64, "seed": 3})
    ds = data.load(settings, spec)
    plan = planning.plan(spec, settings, ds)
    assert plan.resize and plan.labels == "onehot"
    tf_in, py_in = make_tf_inputs(ds, plan, settings, 3), make_py_inputs(ds, plan, settings, 3)

    def epoch(d):
        xs, ys = zip(*[(np.asarray(x), np.asarray(y)) for x, y in (d if not hasattr(d, "__getitem__") else
                                                                 (d[i] for i in range(len(d))))])
        x, y = np.concatenate(xs), np.concatenate(ys)
        order = np.lexsort(x.reshape(len(x), -1).T)
        return x[order], y[order]

    for split in ("train", "test"):
        (xa, ya), (xb, yb) = epoch(getattr(tf_in, split)), epoch(getattr(py_in, split))
        assert xa.shape == xb.shape == (len(getattr(ds, split)), 12, 12, 1)
        np.testing.assert_allclose(xa, xb, atol=1e-5)
        np.testing.assert_array_equal(ya, yb)
    first = py_in.train.indices(0)
    py_in.train.on_epoch_end()
    assert not np.array_equal(first, py_in.train.indices(0))              # reshuffled each epoch
    assert len(py_in.train) == len(tf_in.train) == -(-len(ds.train) // 64)


@pytest.mark.keras
def test_image_files_decode_alike(tmp_path):
    """Image folders: the PyDataset decodes with Pillow, tf.data with tf.io; both resize with
    tf.image.resize's arithmetic. PNG images come out identical; JPEG within 4 of 255 levels (the two
    JPEG decoders round their inverse DCT and chroma upsampling differently; seen: at most 4)."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("PIL")
    from test_train import tiny, write_images

    from archspec.train import data, planning
    from archspec.train.config import resolve
    from archspec.train.pipeline import make_py_inputs, make_tf_inputs

    spec = tiny(tmp_path, 16, 16, 3, units=1, act="sigmoid")
    settings = resolve(spec, {"data": f"folder:{write_images(tmp_path / 'cvd')}", "seed": 1})
    ds = data.load(settings, spec)
    plan = planning.plan(spec, settings, ds)
    a, b = make_tf_inputs(ds, plan, settings, 1).test, make_py_inputs(ds, plan, settings, 1).test
    xa = np.concatenate([np.asarray(x) for x, _ in a])
    xb = np.concatenate([b[i][0] for i in range(len(b))])
    np.testing.assert_array_equal(np.concatenate([np.asarray(y) for _, y in a]),
                                  np.concatenate([b[i][1] for i in range(len(b))]))
    for f, ia, ib in zip(ds.test.files, xa, xb):
        diff = np.abs(ia - ib).max() / settings.rescale
        assert diff == 0 if f.endswith(".png") else diff <= 4.01, (f, diff)


# ---- JAX without TensorFlow ------------------------------------------------------------------------------
@pytest.mark.keras
def test_jax_without_tensorflow_trains_like_tensorflow(tmp_path, jax_child):
    """4 epochs of digits at seed 1 on each backend. The runs cannot be bit-equal (each backend has its own
    random streams for initial weights and dropout, each pipeline its own shuffle), so the check is a
    tolerance: training loss within 0.1 and training accuracy within 0.05 of each other from epoch 2 on,
    test accuracy within 0.05, and both ≥ 0.9. Measured: losses 0.53/0.36/0.26 (JAX) vs 0.53/0.32/0.24.
    The JAX run is the command in a child where TensorFlow cannot be imported; the TensorFlow run is
    the same training in this process, whose Keras already runs on TensorFlow (no second import)."""
    pytest.importorskip("jax")
    pytest.importorskip("tensorflow")
    import archspec
    from archspec.train import train

    rj = jax_child.cli("train", DIGITS, "--epochs", "4", "--seed", "1", "-q", "--backend", "jax", "--out", tmp_path / "jax")
    assert rj.returncode == 0, rj.stderr[-3000:]
    train(archspec.load(DIGITS), {"epochs": 4, "seed": 1}, out=tmp_path / "tf", backend="tensorflow", verbose=0)
    hj, ht = history(tmp_path / "jax"), history(tmp_path / "tf")
    assert len(hj) == len(ht) == 4
    for a, b in zip(hj[1:], ht[1:]):
        assert abs(a["loss"] - b["loss"]) < 0.1 and abs(a["accuracy"] - b["accuracy"]) < 0.05, (a, b)
    mj, mt = (json.loads((tmp_path / k / "metrics.json").read_text())["test"] for k in ("jax", "tf"))
    assert min(mj["test_accuracy"], mt["test_accuracy"]) >= 0.9
    assert abs(mj["test_accuracy"] - mt["test_accuracy"]) <= 0.05
    meta = json.loads((tmp_path / "jax" / "settings.json").read_text())
    assert meta["versions"]["backend"] == "jax" and "tensorflow" not in meta["versions"]
    assert meta["command"][meta["command"].index("--backend") + 1] == "jax"
    assert "backend jax" in rj.stdout
    # TensorBoard scalars written without TensorFlow, read back by TensorBoard's own reader
    board = scalars(tmp_path / "jax" / "tensorboard" / "train")
    assert [s for s, _ in board["epoch_loss"]] == [0, 1, 2, 3]
    np.testing.assert_allclose([v for _, v in board["epoch_loss"]], [h["loss"] for h in hj], rtol=1e-5)
    assert "epoch_accuracy" in scalars(tmp_path / "jax" / "tensorboard" / "validation")
    for name in ("best.keras", "last.keras", "curves.png", "checkpoint.npz", "summary.txt"):
        assert (tmp_path / "jax" / name).exists()


@pytest.mark.slow       # several training processes: among the longest default tests (docs/design.md)
@pytest.mark.keras
def test_jax_without_tensorflow_survives_sigkill_and_resumes(tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "run"
    args = ["train", DIGITS, "--backend", "jax", "--out", str(out), "--epochs", "5", "--seed", "3", "-q"]
    proc = cli(*args, no_tf=True, popen=True)
    from archspec.train.callbacks import read_state

    kill_at_first_checkpoint(proc, out, 600)
    state = read_state(out / "checkpoint.npz")
    assert state is not None and 1 <= state["epoch"] < 5, (state and state["epoch"], proc.stderr.read()[-2000:])
    killed_at = state["epoch"]
    assert not (out / "metrics.json").exists()
    r = cli(*args, no_tf=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resumed after epoch {killed_at}" in r.stdout
    assert [int(h["epoch"]) for h in history(out)] == [1, 2, 3, 4, 5]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 5 and metrics["test"]["test_accuracy"] > 0.85
    # the run looked at without TensorFlow: with no backend configured, auto picks JAX
    r = cli("inspect", str(out), "--kernels", no_tf=True, env={"KERAS_BACKEND": ""})
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "kernels.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.keras
def test_image_folder_with_augmentation_under_jax(tmp_path, jax_child):
    """Files decoded by the PyDataset's worker threads, random flips and zooms from Keras's layers."""
    pytest.importorskip("jax")
    pytest.importorskip("PIL")
    from test_train import TINY, write_images

    spec = tmp_path / "cvd.yaml"
    spec.write_text(TINY.format(h=16, w=16, c=3, units=1, act="sigmoid", epochs=2,
                                extra="  augment: {flip: horizontal, zoom: 0.1}\n"), encoding="utf-8")
    r = jax_child.cli("train", spec, "--backend", "jax", "--data", f"folder:{write_images(tmp_path / 'img')}",
                      "--out", tmp_path / "run", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and 0 <= metrics["test"]["test_accuracy"] <= 1
    assert "binary_crossentropy" in r.stdout and "backend jax" in r.stdout


@pytest.mark.keras
def test_nan_stop_under_jax(tmp_path, jax_child):
    pytest.importorskip("jax")
    text = open(DIGITS, encoding="utf-8").read().replace("rescale: 0.0625", "rescale: 1.0e38")
    (tmp_path / "nan.yaml").write_text(text, encoding="utf-8")
    r = jax_child.cli("train", tmp_path / "nan.yaml", "--backend", "jax", "--out", tmp_path / "run", "-q")
    assert r.returncode == 1 and "[training-diverged]" in r.stderr and "Traceback" not in r.stderr
    assert "epoch 1, batch 1" in r.stderr and not (tmp_path / "run" / "checkpoint.npz").exists()


BF16_XLA = """
import sys
import jax, keras, numpy as np
import archspec
from archspec.train import data, planning
from archspec.train.config import resolve
from archspec.train.loop import build_and_compile

spec = archspec.load(sys.argv[1])
s = resolve(spec, {"precision": "mixed_bfloat16", "jit_compile": True})
p = planning.plan(spec, s, data.load(s, spec))
keras.config.set_dtype_policy(s.precision)
m = build_and_compile(spec, s, p, 10)
m.train_on_batch(np.zeros((4, 8, 8, 1), "float32"), np.zeros(4, "int32"))
tv, ntv = [v.value for v in m.trainable_variables], [v.value for v in m.non_trainable_variables]
hlo = jax.jit(lambda a, b, x: m.stateless_call(a, b, x, training=True)[0]).lower(
    tv, ntv, np.zeros((4, 8, 8, 1), "float32")).as_text()
convs = [line for line in hlo.splitlines() if "stablehlo.convolution" in line]
print(keras.backend.backend(), m.jit_compile, m.get_layer("conv2d").compute_dtype,
      m.get_layer("conv2d").kernel.dtype, m.get_layer("digit").compute_dtype,
      len(convs), all("xbf16>" in line for line in convs), "tensorflow" in sys.modules)
s16 = resolve(spec, {"precision": "mixed_float16", "jit_compile": True})
keras.config.set_dtype_policy(s16.precision)
m16 = build_and_compile(spec, s16, p, 10)
m16.train_on_batch(np.zeros((4, 8, 8, 1), "float32"), np.zeros(4, "int32"))
print(type(m16.optimizer).__name__, m16.get_layer("conv2d").compute_dtype, "tensorflow" in sys.modules)
"""


@pytest.mark.keras
def test_bf16_and_xla_on_jax(jax_child):
    """mixed_bfloat16 + jit_compile on JAX without TensorFlow: the step is jitted and the program handed to
    XLA convolves bf16 tensors (read from its StableHLO; XLA's CPU backend may widen them, GPUs do not),
    variables stay float32, the output float32; mixed_float16 gets Keras's loss-scale optimizer."""
    pytest.importorskip("jax")
    r = jax_child.run(BF16_XLA, DIGITS)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["jax", "True", "bfloat16", "float32", "float32", "2", "True", "False",
                                "LossScaleOptimizer", "float16", "False"], r.stdout


# ---- data parallel -----------------------------------------------------------------------------------------
@pytest.mark.slow       # several training processes: among the longest default tests (docs/design.md)
@pytest.mark.keras
def test_data_parallel_on_two_devices_gives_the_one_device_weights(tmp_path):
    """keras.distribution.DataParallel over two virtual CPU devices vs. one device, same seed and data:
    each device computes half of every batch (batch norm statistics and the loss over the whole batch),
    the gradients are averaged, so the weights after 2 epochs agree to float rounding (measured: ≤ 2e-6)."""
    pytest.importorskip("jax")
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    args = ["train", DIGITS, "--backend", "jax", "--data", "synthetic:256", "--epochs", "2", "--seed", "5", "-q"]
    one = cli(*args, "--out", str(tmp_path / "one"), no_tf=True, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    two = cli(*args, "--out", str(tmp_path / "two"), "--distribute", "mirrored", no_tf=True, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "mirrored over 2 replicas (16 images each, DataParallel), backend jax" in two.stdout
    a, b = np.load(tmp_path / "one" / "checkpoint.npz"), np.load(tmp_path / "two" / "checkpoint.npz")
    keys = [k for k in a.files if k.startswith("model/")]
    assert len(keys) == 16 and sorted(keys) == sorted(k for k in b.files if k.startswith("model/"))
    for k in keys:
        np.testing.assert_allclose(a[k], b[k], atol=2e-5, rtol=1e-4, err_msg=k)
    first = json.loads(a["state"].tobytes())["history"]
    assert first[0]["loss"] != first[1]["loss"]                     # it trained
    r = cli(*args, "--out", str(tmp_path / "odd"), "--distribute", "mirrored", "--batch-size", "33", no_tf=True,
            env=env)
    assert r.returncode == 2 and "does not split evenly over 2 devices" in r.stderr and "--batch-size 34" in r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TINY = """\
archspec: 1
name: tiny
inputs: {image: [8, 8, 1]}
model:
  - conv2d: {filters: 8, kernel: 3, padding: same, use_bias: false}
  - batch_norm: {}
  - activation: relu
  - global_avg_pool: {}
  - dropout: 0.2
  - dense: {units: 10, activation: softmax, name: out}
training: {rescale: 1/255, batch_size: 16}
"""


@pytest.mark.slow       # several training processes: among the longest default tests (docs/design.md)
@pytest.mark.keras
def test_two_jax_processes_on_loopback_train_the_one_device_model(tmp_path):
    """Multi-host JAX as Keras supports it: keras.distribution.initialize (jax.distributed, a coordinator at
    the first address; gloo all-reduce between CPU processes), then DataParallel over every process's
    devices. Two processes on 127.0.0.1, each feeding its half of every batch, end with the same weights
    as each other (bit for bit) and as one process alone (to float rounding)."""
    pytest.importorskip("jax")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY, encoding="utf-8")
    args = ["train", str(spec), "--backend", "jax", "--data", "synthetic:128", "--epochs", "2", "--seed", "2", "-q"]
    one = cli(*args, "--out", str(tmp_path / "one"), no_tf=True)
    assert one.returncode == 0, one.stderr[-3000:]
    addr = f"127.0.0.1:{_free_port()}"
    procs = [cli(*args, "--out", str(tmp_path / "mw"), "--distribute", "multi-worker", no_tf=True, popen=True,
                 env={"KERAS_DISTRIBUTION_JOB_ADDRESSES": addr, "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                      "KERAS_DISTRIBUTION_PROCESS_ID": str(i)}) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    assert "multi-worker over 2 replicas (8 images each, DataParallel), backend jax" in outs[0][0]
    a, b, c = (np.load(tmp_path / p / "checkpoint.npz") for p in ("one", "mw", "mw/worker-1"))
    keys = [k for k in a.files if k.startswith("model/")]
    assert len(keys) >= 6
    for k in keys:
        np.testing.assert_array_equal(b[k], c[k], err_msg=k)
        np.testing.assert_allclose(a[k], b[k], atol=2e-5, rtol=1e-4, err_msg=k)
    assert not (tmp_path / "mw" / "worker-1" / "tensorboard").exists()     # only process 0 writes TensorBoard
    r = cli(*args, "--out", str(tmp_path / "bad"), "--distribute", "multi-worker", no_tf=True,
            env={"KERAS_DISTRIBUTION_JOB_ADDRESSES": addr, "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                 "KERAS_DISTRIBUTION_PROCESS_ID": "2"})
    assert r.returncode == 2 and "KERAS_DISTRIBUTION_PROCESS_ID=2 is not in 0…1" in r.stderr


# ---- the offline GPU check, run on this CPU ---------------------------------------------------------------
@pytest.mark.slow
def test_gpu_check_installs_offline_and_reports_mfu(tmp_path):
    """tools/gpu_check.sh end to end with TensorFlow blocked: the wheel folder (made by prepare_wheels.py,
    which needs PyPI, unless wheels/ is already there), an offline install that is the archspec that runs,
    and the benchmark's lines — on the small digits CNN so that it takes seconds on a CPU."""
    pytest.importorskip("jax")
    wheels = ROOT / "wheels"
    if not (wheels / "requirements.txt").exists():
        wheels = tmp_path / "wheels"
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "prepare_wheels.py"), str(wheels), "--python",
                            f"{sys.version_info.major}.{sys.version_info.minor}", "--arch", os.uname().machine],
                           capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, r.stderr[-3000:]
    js = tmp_path / "gpu.json"
    r = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--wheels", str(wheels), "--spec",
                        "specs/digits_cnn.yaml", "--batch-per-device", "16", "--steps", "3", "--warmup", "1",
                        "--repeats", "1", "--estimate-steps", "2", "--json", str(js)], capture_output=True, text=True,
                       timeout=1200, cwd=ROOT, env={**os.environ, "PYTHON": sys.executable, "PYTHONPATH": NO_TF})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("gpu_check: archspec ")]
    assert line.split(" from ")[1].split(";")[0].endswith("/site/archspec") and str(ROOT) not in line
    for head in ("device ", "model ", "step time ", "images/s ", "MFU "):
        assert any(line.startswith(head) for line in r.stdout.splitlines()), head
    out = json.loads(js.read_text())
    assert out["precision"] == "mixed_bfloat16" and out["jit_compile"] is True and out["images_per_s"] > 0
    assert 0 < out["mfu"] < 1.5 and out["forward_flops_per_image"] > 2e6
    # archspec's estimate beside XLA's compiled step: the same numbers the JSON keeps
    versus = out["estimate_vs_xla"]
    assert versus["device_entry"] == "cpu" and versus["batch"] == 16 and versus["precision"] == "mixed_bfloat16"
    assert versus["memory_ratio"] == pytest.approx(versus["estimate_bytes"] / versus["xla_bytes"])
    assert f"estimate/XLA {versus['memory_ratio']:.2f}" in r.stdout and "measured/estimate" in r.stdout
    r = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--wheels", str(tmp_path / "none")],
                       capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable})
    assert r.returncode == 2 and "prepare_wheels.py" in r.stderr


@pytest.mark.slow
def test_digits_on_jax_without_tensorflow_reaches_the_target(tmp_path):
    """The issue's bar: the spec's own 30-epoch training (early stopping, best weights) on JAX with
    TensorFlow blocked reaches the TensorFlow run's band, ≥ 97% test accuracy (seen: 98.9% at seed 0)."""
    pytest.importorskip("jax")
    r = cli("train", DIGITS, "--backend", "jax", "--seed", "0", "--out", str(tmp_path / "run"), "-q", no_tf=True)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["test_accuracy"] >= 0.97 and metrics["targets"]["test_accuracy"]["met"]
