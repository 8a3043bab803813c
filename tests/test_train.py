"""archspec train and inspect: the training section, every data source, data/spec mismatches before
training, the run folder, kill-and-resume, NaN stop, precision/XLA switches, two workers.

Grouped by what they need: the first tests read data and check specs without Keras; `keras` tests
train tiny models for an epoch or a few in this process; the subprocess tests (kill, two workers)
run the command line as a user does.
"""
from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys

import pytest
from conftest import ROOT, SPECS, kill_at_first_checkpoint

import archspec
from archspec.codes import ALL

np = pytest.importorskip("numpy")  # the training extras; the core tier runs without them
pytestmark = pytest.mark.extras  # numpy, scikit-learn, Pillow: the training extras

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

DIGITS = str(SPECS / "digits_cnn.yaml")
TINY = """\
archspec: 1
name: tiny
inputs: {{image: [{h}, {w}, {c}]}}
model:
  - conv2d: {{filters: 4, kernel: 3, activation: relu}}
  - global_avg_pool: {{}}
  - dense: {{units: {units}, activation: {act}, name: out}}
training:
  epochs: {epochs}
  batch_size: 16
  rescale: 1/255
{extra}"""


def tiny(tmp_path, h=12, w=12, c=1, units=3, act="softmax", epochs=1, extra="", name="tiny.yaml"):
    p = tmp_path / name
    p.write_text(TINY.format(h=h, w=w, c=c, units=units, act=act, epochs=epochs, extra=extra), encoding="utf-8")
    return archspec.load(p)


def cli(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "archspec", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}, timeout=timeout)


def diags(fn):
    with pytest.raises(archspec.SpecError) as e:
        fn()
    assert all(d.code in ALL for d in e.value.diagnostics)
    return e.value.diagnostics



# ---- data files made on the spot ------------------------------------------------------------------
def write_npz(path, n=96, size=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = (rng.random((n, size, size)) * 60 + y[:, None, None] * 60).astype(np.uint8)  # learnable: brightness
    np.savez(path, x_train=x, y_train=y, x_test=x[: n // 4], y_test=y[: n // 4])
    return path


def write_cifar(folder, per_batch=20, batches=2):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i + 1}" for i in range(batches)] + ["test_batch"]:
        labels = rng.integers(0, 10, per_batch).tolist()
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data}, f, protocol=2)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_vis": 3072}, f, protocol=2)
    return folder


def write_images(root, splits=("train", "validation", "test"), classes=("cat", "dog"), per_class=6, size=20):
    from PIL import Image

    rng = np.random.default_rng(2)
    for split in splits:
        for k, cls in enumerate(classes):
            d = root / split / cls if split else root / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                img = rng.integers(0, 80, (size + i, size, 3), dtype=np.uint8)   # sizes differ: resized
                img[..., k] += 150                                              # cats red, dogs green
                Image.fromarray(img).save(d / f"{cls}{i}.{'png' if i % 2 else 'jpg'}")
    return root


# ---- the training section -------------------------------------------------------------------------
def test_training_section_mistakes_are_located_with_did_you_mean():
    from archspec.train.config import resolve

    text = open(DIGITS, encoding="utf-8").read()
    bad = (text.replace("optimizer: adam", "optimizer: adamm").replace("patience: 5", "patiens: 5")
           .replace("epochs: 30", "epochs: 0\n  learnig_rate_schedule: {type: cosine}")
           .replace("validation_split: 0.1", "validation_split: 0.1\n  lr_schedule: {type: cosine, warmup: 1}"))
    spec = archspec.load_text(bad, "d.yaml")
    found = {(d.loc.line, d.code): d for d in diags(lambda: resolve(spec))}
    lines = bad.splitlines()

    def line_of(s):
        return next(i for i, t in enumerate(lines, 1) if s in t)

    assert found[(line_of("adamm"), "schema")].hint == "did you mean 'adam'?"
    assert "patiens" in found[(line_of("patiens"), "unknown-field")].message
    assert found[(line_of("patiens"), "unknown-field")].hint == "did you mean 'patience'?"
    assert found[(line_of("warmup"), "unknown-field")].hint == "did you mean 'warmup_epochs'?"
    d = found[(line_of("epochs: 0"), "schema")]                 # (pydantic words the message; the place is ours)
    assert lines[d.loc.line - 1][d.loc.col - 1:].startswith("0")
    assert (line_of("learnig_rate_schedule"), "unknown-field") in found


def test_every_training_key_the_specs_use_is_accepted():
    from archspec.train.config import resolve

    for path in sorted(SPECS.glob("*.yaml")):
        spec = archspec.load(path)
        if spec.training:
            resolve(spec)


def test_flags_override_the_spec_and_data_syntax():
    from archspec.train.config import parse_data_arg, resolve

    s = resolve(archspec.load(DIGITS), {"epochs": 2, "batch_size": 8, "data": "synthetic:64", "precision": None})
    assert (s.epochs, s.batch_size, s.data.source, s.data.path, s.precision) == (2, 8, "synthetic", "64", "float32")
    assert s.rescale == 0.0625 and s.early_stopping["restore_best_weights"] is True
    assert parse_data_arg("cifar10:/x/cifar-10-batches-py") == ("cifar10", "/x/cifar-10-batches-py")
    assert parse_data_arg("folder:imgs") == ("folder", "imgs")
    with pytest.raises(ValueError, match="KIND:PATH"):
        parse_data_arg("no/such/thing")


# ---- data sources (no Keras) ----------------------------------------------------------------------
def load_data(spec, flags):
    from archspec.train import data
    from archspec.train.config import resolve

    settings = resolve(spec, flags)
    return settings, data.load(settings, spec)


def test_digits_is_the_embedded_default():
    _, ds = load_data(archspec.load(DIGITS), {})
    assert ds.kind == "digits" and ds.sample_shape == (8, 8, 1) and ds.num_classes == 10
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (1295, 142, 360)


def test_npz_source(tmp_path):
    spec = tiny(tmp_path)
    _, ds = load_data(spec, {"data": f"npz:{write_npz(tmp_path / 'm.npz')}"})
    assert ds.sample_shape == (12, 12, 1) and ds.num_classes == 3 and len(ds.test) == 24
    assert len(ds.train) + len(ds.validation) == 96
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 4, 4)))
    (d,) = diags(lambda: load_data(spec, {"data": str(tmp_path / "bad.npz")}))
    assert d.code == "data-format" and "x_train" in d.message
    (d,) = diags(lambda: load_data(spec, {"data": f"npz:{tmp_path / 'none' / 'mnist.npz'}"}))
    assert d.code == "data-missing" and str(tmp_path / "none" / "mnist.npz") in d.message
    assert "copy the file there" in d.hint and "mnist.npz" in d.hint


def test_cifar10_python_batches(tmp_path):
    folder = write_cifar(tmp_path / "cifar-10-batches-py")
    _, ds = load_data(tiny(tmp_path, 32, 32, 3, units=10), {"data": str(folder)})     # kind found from the folder
    assert ds.kind == "cifar10" and ds.sample_shape == (32, 32, 3) and ds.train.x.dtype == np.uint8
    assert len(ds.train) + len(ds.validation) == 40 and len(ds.test) == 20
    assert ds.class_names[3] == "cat"
    (d,) = diags(lambda: load_data(tiny(tmp_path, 32, 32, 3, units=10), {"data": f"cifar10:{tmp_path / 'nope'}"}))
    assert d.code == "data-missing" and "data_batch_1" in d.hint


def test_cifar_loader_refuses_code_in_a_pickle(tmp_path):
    folder = tmp_path / "evil"
    folder.mkdir()

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Boom(), b"labels": [0]}, f)
    (d,) = diags(lambda: load_data(tiny(tmp_path, 32, 32, 3, units=10), {"data": f"cifar10:{folder}"}))
    assert d.code == "data-format" and "refusing" in d.message
    assert not (tmp_path / "pwned").exists()


def test_image_folders_with_and_without_splits(tmp_path):
    pytest.importorskip("PIL")
    spec = tiny(tmp_path, 16, 16, 3, units=1, act="sigmoid")
    _, ds = load_data(spec, {"data": f"folder:{write_images(tmp_path / 'cvd')}"})
    assert ds.class_names == ["cat", "dog"] and (len(ds.train), len(ds.validation), len(ds.test)) == (12, 12, 12)
    assert ds.train.files[0].endswith("cat0.jpg") and ds.train.y.tolist() == [0] * 6 + [1] * 6
    _, flat = load_data(spec, {"data": str(write_images(tmp_path / "flat", splits=("",), per_class=10))})
    assert (len(flat.train), len(flat.validation), len(flat.test)) == (14, 2, 4)     # test 20%, validation 10%
    assert sorted(set(flat.test.y.tolist())) == [0, 1]                       # every class held out
    write_images(tmp_path / "one", splits=("",), classes=("cat",))
    (d,) = diags(lambda: load_data(spec, {"data": f"folder:{tmp_path / 'one'}"}))
    assert d.code == "data-format" and "at least 2" in d.message
    (d,) = diags(lambda: load_data(spec, {"data": f"folder:{tmp_path / 'missing'}"}))
    assert d.code == "data-missing" and "one sub-folder per class" in d.hint


# ---- data vs spec, before training ------------------------------------------------------------------
def plan(spec, flags):
    from archspec.train import planning

    settings, ds = load_data(spec, flags)
    return planning.plan(spec, settings, ds)


@pytest.mark.parametrize("h,w,c,units,act,extra,code,words", [
    (28, 28, 1, 10, "softmax", "", "data-mismatch", ["is 28×28×1 but the data's images are 8×8×1", "resize: true"]),
    (8, 8, 3, 10, "softmax", "", "data-mismatch", ["8×8×3 but the data's images are 8×8×1", "[8, 8, 1]"]),
    (8, 8, 1, 12, "softmax", "", "data-mismatch", ["has 12 units but the data has 10 classes", "units: 10"]),
    (8, 8, 1, 1, "softmax", "", "data-mismatch", ["softmax over a single unit", "sigmoid"]),
    (8, 8, 1, 10, "sigmoid", "", "data-mismatch", ["uses sigmoid", "softmax"]),
    (8, 8, 1, 10, "softmax", "  loss: binary_crossentropy\n", "data-mismatch", ["binary_crossentropy", "sparse"]),
    (8, 8, 1, 10, "softmax", "  validation_split: 0\n  early_stopping: {monitor: val_loss}\n", "schema",
     ["not log", "validation"]),
])
def test_mismatches_are_explained_before_training(tmp_path, h, w, c, units, act, extra, code, words):
    spec = tiny(tmp_path, h, w, c, units, act, extra=extra)
    found = diags(lambda: plan(spec, {"data": "digits"}))
    text = " ".join(f"{d.message} {d.hint}" for d in found)
    assert code in {d.code for d in found}
    for word in words:
        assert word in text
    assert all(d.loc and d.loc.line > 0 for d in found)                # located in the spec


def test_resize_and_logits_are_settled_in_the_plan(tmp_path):
    p = plan(tiny(tmp_path, 16, 16, 1, 10, "linear", extra="  resize: true\n"), {"data": "digits"})
    assert (p.resize, p.from_logits, p.loss, p.labels) == (True, True, "sparse_categorical_crossentropy", "int")
    p = plan(tiny(tmp_path, 8, 8, 1, 10, "softmax", extra="  loss: categorical_crossentropy\n"), {"data": "digits"})
    assert p.labels == "onehot"


def test_cli_mismatch_message_without_traceback():
    r = cli("train", str(SPECS / "mnist_cnn_dropout.yaml"), "--data", "digits")
    assert r.returncode == 1, r.stderr
    assert "mnist_cnn_dropout.yaml:7:3: error: the input 'image' is 28×28×1 but the data's images are 8×8×1" \
           "  [data-mismatch]" in r.stderr
    assert "hint: add `resize: true`" in r.stderr and "Traceback" not in r.stderr
    r = cli("train", DIGITS, "--data", "npz:/nowhere/mnist.npz")
    assert r.returncode == 1 and "no npz file at '/nowhere/mnist.npz'" in r.stderr and "Traceback" not in r.stderr
    assert cli("train", DIGITS, "--epochs", "0").returncode == 2
    assert cli("train", DIGITS, "--data", "bogus/path").returncode == 2


# ---- training (Keras, in this process) ------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    pytest.importorskip("keras")
    from archspec.train import train

    out = tmp_path_factory.mktemp("runs") / "digits"
    result = train(archspec.load(DIGITS), {"epochs": 3, "seed": 7}, out=out, verbose=0)
    return out, result


@pytest.mark.keras
def test_digits_end_to_end_run_folder(digits_run):
    out, r = digits_run
    for name in ("best.keras", "last.keras", "checkpoint.npz", "history.csv", "curves.png", "metrics.json",
                 "summary.txt", "settings.json", "graph.txt", "spec/digits_cnn.yaml"):
        assert (out / name).exists(), name
    assert list((out / "tensorboard" / "train").iterdir()) and list((out / "tensorboard" / "validation").iterdir())
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].split(",")[:1] == ["epoch"] and "images_per_s" in rows[0] and "val_accuracy" in rows[0]
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["test_accuracy"] > 0.5 and metrics["epochs"] == 3
    meta = json.loads((out / "settings.json").read_text())
    assert meta["settings"]["seed"] == 7 and meta["command"][:2] == ["archspec", "train"]
    assert archspec.load(out / meta["spec"]).graph.dump() + "\n" == (out / "graph.txt").read_text()
    assert r.epochs_done == 3 and r.images_per_s > 0 and "test_accuracy" in r.summary
    from archspec.compile import load_model

    model = load_model(out / "last.keras")
    assert model.predict(np.zeros((2, 8, 8, 1)), verbose=0).shape == (2, 10)


@pytest.mark.keras
def test_rerun_is_a_no_op_and_more_epochs_continue(digits_run, tmp_path):
    from archspec.train import train
    from archspec.train.loop import RunError

    out, _ = digits_run
    spec = archspec.load(DIGITS)
    assert train(spec, {"epochs": 3}, out=out, verbose=0).already_done
    with pytest.raises(RunError, match="different spec or different settings"):
        train(spec, {"epochs": 3, "batch_size": 64}, out=out, verbose=0)
    with pytest.raises(RunError, match="seed 7"):
        train(spec, {"epochs": 3, "seed": 8}, out=out, verbose=0)
    with pytest.raises(RunError, match="nothing to resume"):
        train(spec, {"epochs": 3}, out=tmp_path / "fresh", resume=True, verbose=0)
    r = train(spec, {"epochs": 4}, out=out, verbose=0)
    assert (r.resumed_from, r.epochs_done, len(r.history)) == (3, 4, 4)


@pytest.mark.keras
def test_inspect_kernels_and_neighbours(digits_run, capsys):
    from archspec.cli import main

    out, _ = digits_run
    assert main(["inspect", str(out), "--kernels"]) == 0
    assert (out / "kernels.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["inspect", str(out), "--neighbours", "3", "--layer", "dense", "--sample", "5"]) == 0
    text = capsys.readouterr().out
    assert "dense (128 values): nearest 3 of test image #5" in text and (out / "neighbours.png").exists()
    assert main(["inspect", str(out), "--neighbours", "3", "--layer", "dens"]) == 2
    assert "did you mean 'dense'" in capsys.readouterr().err
    assert main(["inspect", str(out)]) == 0 and "conv2d_2" in capsys.readouterr().out


@pytest.mark.keras
def test_npz_cifar_and_folder_sources_train(tmp_path):
    pytest.importorskip("PIL")
    from archspec.train import train

    r = train(tiny(tmp_path), {"data": f"npz:{write_npz(tmp_path / 'm.npz')}", "epochs": 2}, out=tmp_path / "n",
              verbose=0)
    assert r.epochs_done == 2 and set(r.test) == {"test_loss", "test_accuracy"}
    r = train(tiny(tmp_path, 32, 32, 3, units=10, extra="  loss: categorical_crossentropy\n"),
              {"data": f"cifar10:{write_cifar(tmp_path / 'c')}"}, out=tmp_path / "c-run", verbose=0)
    assert r.epochs_done == 1 and r.test is not None
    spec = tiny(tmp_path, 16, 16, 3, units=1, act="sigmoid", epochs=2,
                extra="  augment: {flip: horizontal, zoom: 0.1}\n")
    r = train(spec, {"data": f"folder:{write_images(tmp_path / 'cvd')}"}, out=tmp_path / "f", verbose=0)
    assert r.epochs_done == 2 and 0 <= r.test["test_accuracy"] <= 1
    assert "binary_crossentropy" in r.settings_line


@pytest.mark.keras
def test_nan_loss_stops_with_a_clear_message(tmp_path):
    from archspec.train import train
    from archspec.train.loop import TrainingDiverged

    spec = tiny(tmp_path, 8, 8, 1, 10, extra="  learning_rate: 0.01\n").source.text.replace("1/255", "1.0e38")
    (tmp_path / "nan.yaml").write_text(spec)
    with pytest.raises(TrainingDiverged) as e:
        train(archspec.load(tmp_path / "nan.yaml"), {"data": "digits", "epochs": 3}, out=tmp_path / "run", verbose=0)
    (d,) = e.value.diagnostics
    assert d.code == "training-diverged" and "the loss became nan in epoch 1, batch 1" in d.message
    assert "lower the learning rate (now 0.01)" in d.hint and d.loc.line == spec.splitlines().index(
        "  learning_rate: 0.01") + 1
    assert not (tmp_path / "run" / "last.keras").exists() and not (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.keras
def test_mixed_precision_and_xla_take_effect(tmp_path):
    import keras

    from archspec.train import planning, train
    from archspec.train.config import resolve
    from archspec.train.loop import build_and_compile

    spec = archspec.load(DIGITS)
    settings = resolve(spec, {"precision": "mixed_float16", "jit_compile": True})
    from archspec.train import data

    p = planning.plan(spec, settings, data.load(settings, spec))
    before = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(settings.precision)
    try:
        model = build_and_compile(spec, settings, p, steps_per_epoch=10)
    finally:
        keras.config.set_dtype_policy(before)
    assert model.get_layer("conv2d").dtype_policy.name == "mixed_float16"
    assert model.get_layer("conv2d").compute_dtype == "float16" and model.get_layer("conv2d").variable_dtype == \
        "float32"
    assert model.get_layer("digit").compute_dtype == "float32"          # the softmax stays in float32
    assert model.jit_compile is True
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"

    r = train(tiny(tmp_path, 8, 8, 1, 10), {"data": "digits", "precision": "mixed_bfloat16", "jit_compile": False},
              out=tmp_path / "bf16", verbose=0)
    assert keras.config.dtype_policy().name == before                   # restored after the run
    from archspec.compile import load_model

    saved = load_model(tmp_path / "bf16" / "last.keras")
    assert saved.layers[1].dtype_policy.name == "mixed_bfloat16" and r.jit_compile is False


@pytest.mark.keras
def test_optimizer_arguments_and_schedules(tmp_path):
    import keras

    from archspec.train import data, planning
    from archspec.train.config import resolve
    from archspec.train.loop import build_and_compile

    def build(extra):
        spec = tiny(tmp_path, 8, 8, 1, 10, extra=extra)
        settings = resolve(spec, {"data": "digits"})
        return spec, build_and_compile(spec, settings, planning.plan(spec, settings, data.load(settings, spec)), 10)

    _, model = build("  optimizer: {name: sgd, momentum: 0.9, nesterov: true}\n  learning_rate: 0.05\n"
                     "  lr_schedule: {type: cosine, warmup_epochs: 1}\n")
    opt = model.optimizer
    assert type(opt).__name__ == "SGD" and opt.momentum == 0.9 and opt.nesterov is True
    assert isinstance(opt._learning_rate, keras.optimizers.schedules.CosineDecay)
    assert opt._learning_rate.warmup_steps == 10 and opt._learning_rate.warmup_target == 0.05
    _, model = build("  lr_schedule: {type: step, boundaries: [2, 4], factor: 0.5}\n  learning_rate: 0.01\n")
    assert [float(v) for v in model.optimizer._learning_rate.values] == [0.01, 0.005, 0.0025]
    spec = tiny(tmp_path, 8, 8, 1, 10, extra="  optimizer: {name: sgd, momentun: 0.9}\n")
    (d,) = diags(lambda: build("  optimizer: {name: sgd, momentun: 0.9}\n"))
    assert d.code == "unknown-field" and d.hint == "did you mean 'momentum'?"
    assert d.loc.line == spec.source.text.splitlines().index("  optimizer: {name: sgd, momentun: 0.9}") + 1
    (d,) = diags(lambda: build("  metrics: [accuracy, acuracy]\n"))
    assert "unknown metric 'acuracy'" in d.message


# ---- the command line as a user runs it (subprocesses) ----------------------------------------------
@pytest.mark.slow       # several training processes: among the longest default tests (docs/design.md)
@pytest.mark.keras
def test_survives_sigkill_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["train", DIGITS, "--out", str(out), "--epochs", "12", "--seed", "3", "-q"]
    proc = subprocess.Popen([sys.executable, "-m", "archspec", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    from archspec.train.callbacks import read_state

    kill_at_first_checkpoint(proc, out, 300)
    state = read_state(out / "checkpoint.npz")
    assert state is not None and 1 <= state["epoch"] < 12, state and state["epoch"]
    assert not (out / "metrics.json").exists()
    killed_at = state["epoch"]

    r = cli(*args)                                   # the same command again: it continues
    assert r.returncode == 0, r.stderr
    assert f"resumed after epoch {killed_at}" in r.stdout
    rows = (out / "history.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == list(range(1, 13))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 12 and metrics["test"]["test_accuracy"] > 0.8
    for name in ("best.keras", "last.keras", "curves.png", "summary.txt"):
        assert (out / name).exists()
    assert not list(out.glob(".*.tmp")) and not list(out.glob(".*.keras"))   # no torn temporary files left


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow       # several training processes: among the longest default tests (docs/design.md)
@pytest.mark.keras
def test_two_workers_train_one_model(tmp_path):
    pytest.importorskip("tensorflow")
    out = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        procs.append(subprocess.Popen([sys.executable, "-m", "archspec", "train", DIGITS, "--out", str(out),
                                       "--epochs", "2", "--distribute", "multi-worker", "-q"], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    from archspec.compile import load_model

    chief, other = load_model(out / "last.keras"), load_model(out / "worker-1" / "last.keras")
    assert len(chief.trainable_weights) == 10
    for a, b in zip(chief.trainable_weights, other.trainable_weights):     # gradients are all-reduced
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(chief.non_trainable_weights, other.non_trainable_weights):
        # batch-norm moving statistics are each worker's own (tf.distribute does not sync them)
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=0.05, rtol=0.05)
    h0, h1 = (out / "history.csv").read_text(), (out / "worker-1" / "history.csv").read_text()
    assert h0.splitlines()[0] == h1.splitlines()[0] and len(h0.splitlines()) == 3
    # both saw the same global metrics, though each read only its own half of every batch
    col = h0.splitlines()[0].split(",").index("loss")
    assert [r.split(",")[col] for r in h0.splitlines()[1:]] == [r.split(",")[col] for r in h1.splitlines()[1:]]
    assert "multi-worker" in results[0][0]
