"""Bad training data is found before training and reported with the file or array named (exit 1),
never as an internal error: damaged, mistyped or misnamed .npz files, corrupt or foreign image files,
files of other types in class folders, a folder given one level too deep.

These run the command line as a user does; none of them reaches Keras (the data is read first)."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT

import archspec

np = pytest.importorskip("numpy")  # the training extras; the core tier runs without them
pytestmark = pytest.mark.extras  # numpy, scikit-learn, Pillow: the training extras

SPEC = """\
archspec: 1
name: tiny
inputs: {image: [12, 12, 1]}
model:
  - conv2d: {filters: 4, kernel: 3, activation: relu}
  - global_avg_pool: {}
  - dense: {units: 2, activation: softmax, name: out}
training: {epochs: 1, batch_size: 8, rescale: 1/255}
"""


def train(tmp_path, data, *extra):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "archspec", "train", str(spec), "--data", str(data),
                        "--out", str(tmp_path / "run"), "-q", *extra], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    return r


def npz(path, **arrays):
    rng = np.random.default_rng(0)
    base = {"x_train": rng.integers(0, 255, (16, 12, 12), dtype=np.uint8), "y_train": np.arange(16) % 2,
            "x_test": rng.integers(0, 255, (4, 12, 12), dtype=np.uint8), "y_test": np.arange(4) % 2}
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


def images(root, per_class=4, classes=("cat", "dog")):
    from PIL import Image

    rng = np.random.default_rng(1)
    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(root / cls / f"{cls}{i}.png")
    return root


# ---- .npz files ------------------------------------------------------------------------------------
def test_damaged_array_is_named(tmp_path):
    p = npz(tmp_path / "d.npz")
    raw = bytearray(p.read_bytes())
    with zipfile.ZipFile(p) as z:
        info = z.getinfo("x_train.npy")
    raw[info.header_offset + 30 + len("x_train.npy") + 200] ^= 0xFF      # a pixel inside the stored member
    p.write_bytes(bytes(raw))
    r = train(tmp_path, f"npz:{p}")
    assert r.returncode == 1, r.stderr
    assert "'x_train' in 'd.npz' is damaged" in r.stderr and "CRC" in r.stderr


@pytest.mark.parametrize("labels,words", [
    (np.array(["cat", "dog"] * 8), "'y_train' in 'l.npz' holds strings ('cat', 'dog', 'cat'…)"),
    (np.array([0, "dog"] * 8, dtype=object), "'y_train' in 'l.npz' holds Python objects"),
    (np.array([0.0, 1.5] * 8), "non-integer labels"),
    (np.array([0.0, np.nan] * 8), "NaN or infinite labels"),
    (np.array([0, -1] * 8), "negative labels"),
])
def test_labels_that_are_not_class_indices(tmp_path, labels, words):
    r = train(tmp_path, f"npz:{npz(tmp_path / 'l.npz', y_train=labels)}")
    assert r.returncode == 1, r.stderr
    assert words in r.stderr and "allow_pickle" not in r.stderr


def test_images_that_are_not_pixels(tmp_path):
    r = train(tmp_path, f"npz:{npz(tmp_path / 'x.npz', x_test=np.full((4, 12, 12), 'a'))}")
    assert r.returncode == 1 and "'x_test' in 'x.npz' holds strings" in r.stderr
    r = train(tmp_path, f"npz:{npz(tmp_path / 'c.npz', x_train=np.zeros((16, 1, 12, 12), np.uint8))}")
    assert r.returncode == 1 and "channels first" in r.stderr and "transpose" in r.stderr
    bad = np.zeros((16, 12, 12), np.float32)
    bad[3, 2, 2] = np.nan
    r = train(tmp_path, f"npz:{npz(tmp_path / 'n.npz', x_train=bad)}")
    assert r.returncode == 1 and "'x_train' in 'n.npz' holds NaN" in r.stderr and "image 3" in r.stderr


@pytest.mark.parametrize("content,words", [
    (b"x_train,y_train\n1,2\n", "'t.npz' is text ('x_train,y_train…')"),
    (b"", "'t.npz' is empty"),
    (None, "'t.npz' is a single .npy array"),
    (b"PK\x03\x04 not really a zip", "cannot read 't.npz' as an .npz archive"),
])
def test_a_file_that_is_not_an_npz_archive(tmp_path, content, words):
    p = tmp_path / "t.npz"
    if content is None:
        with open(p, "wb") as f:
            np.save(f, np.zeros(3))
    else:
        p.write_bytes(content)
    r = train(tmp_path, f"npz:{p}")
    assert r.returncode == 1, r.stderr
    assert words in r.stderr and "numpy.savez" in r.stderr and "allow_pickle" not in r.stderr


# ---- image folders ---------------------------------------------------------------------------------
def test_corrupt_png_is_named_before_training(tmp_path):
    root = images(tmp_path / "imgs")
    bad = root / "dog" / "dog2.png"
    raw = bytearray(bad.read_bytes())
    i = raw.index(b"IDAT") + 10
    raw[i:i + 8] = b"\x00" * 8                                  # damaged pixel data (and CRC)
    bad.write_bytes(bytes(raw))
    trunc = root / "cat" / "cat1.png"
    trunc.write_bytes(trunc.read_bytes()[:60])
    r = train(tmp_path, f"folder:{root}")
    assert r.returncode == 1, r.stderr
    assert f"{bad}: error: cannot decode image 'dog2.png'" in r.stderr
    assert f"{trunc}: error: cannot decode image 'cat1.png'" in r.stderr
    assert "tf." not in r.stderr and "Iterator" not in r.stderr


def test_an_image_training_cannot_decode_is_named(tmp_path):
    from PIL import Image

    root = images(tmp_path / "imgs")
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(root / "cat" / "odd.png", format="TIFF")
    (root / "dog" / "notes.png").write_text("not an image")
    r = train(tmp_path, f"folder:{root}")
    assert r.returncode == 1, r.stderr
    assert "cannot decode image 'odd.png': it is a TIFF image" in r.stderr
    assert "cannot decode image 'notes.png': it is not an image file" in r.stderr


def test_other_file_types_in_class_folders_are_reported(tmp_path):
    from archspec.train import data
    from archspec.train.config import resolve

    root = images(tmp_path / "imgs")
    (root / "cat" / "a.webp").write_bytes(b"RIFF")
    (root / "cat" / "b.webp").write_bytes(b"RIFF")
    (root / "dog" / "readme.txt").write_text("x")
    (root / "dog" / ".DS_Store").write_bytes(b"x")              # system files are not worth a word
    spec = archspec.load_text(SPEC)
    ds = data.load(resolve(spec, {"data": f"folder:{root}"}), spec)
    (w,) = ds.warnings
    assert w.code == "data-skipped" and w.severity == "warning"
    assert w.message.startswith("3 files in the class folders are not an image type") and ".webp ×2, .txt" in w.message
    assert "cat/a.webp" in w.message


def test_pointing_at_the_train_folder_itself(tmp_path):
    root = tmp_path / "pets"
    for split in ("train", "validation"):
        images(root / split)
    text = SPEC.replace("training: {", "training: {data: {source: folder, train: train, validation: validation}, ")
    spec = tmp_path / "s.yaml"
    spec.write_text(text, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "archspec", "train", str(spec), "--data", f"folder:{root / 'train'}",
                        "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1, r.stderr
    assert "looks like the 'train' split itself" in r.stderr and f"--data folder:{root}" in r.stderr


# ---- settings checked before the first epoch ---------------------------------------------------------
@pytest.mark.parametrize("save,env,args,words", [
    ("model.pt", {}, [], "save: 'model.pt': unknown model format '.pt'"),
    ("model.tflite", {"KERAS_BACKEND": "jax"}, [], "save: Keras cannot export tflite from the jax backend"),
    ("model.tflite", {}, ["--backend", "jax"], "save: Keras cannot export tflite from the jax backend"),
])
def test_save_is_checked_before_training(tmp_path, save, env, args, words):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("training: {", f"training: {{save: {save}, "), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "archspec", "train", str(spec), "--data", "synthetic:32",
                        "--out", str(tmp_path / "run"), *args], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, **env}, timeout=300)
    assert r.returncode == 1, r.stderr
    assert f"{spec}:8:" in r.stderr and words in r.stderr and "[export-unsupported]" in r.stderr
    assert not (tmp_path / "run").exists()


# ---- training settings from the command line ---------------------------------------------------------
def test_set_training_keys_merge_into_the_section():
    from archspec.train.config import resolve

    spec = archspec.load(ROOT / "specs" / "digits_cnn.yaml", {
        "training.optimizer.momentum": 0.9, "training.optimizer": "sgd", "training.early_stopping.patience": 7,
        "training.data.test_size": 0.3, "training.rescale": "1/16", "training.resize": True})
    s = resolve(spec)
    assert (s.optimizer, s.optimizer_options) == ("sgd", {})       # set whole after the momentum: replaces it
    assert s.early_stopping["patience"] == 7 and s.early_stopping["restore_best_weights"] is True
    assert s.data.source == "digits" and s.data.options["test_size"] == 0.3
    assert s.rescale == 1 / 16 and s.resize is True
    assert spec.overrides["training.resize"] is True                # repeated by the run's command
    s = resolve(archspec.load(ROOT / "specs" / "digits_cnn.yaml", {"training.optimizer.momentum": 0.9}))
    assert (s.optimizer, s.optimizer_options) == ("adam", {"momentum": 0.9})    # checked against Adam later


def test_set_training_mistakes_point_at_the_command_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "archspec", "train", str(ROOT / "specs" / "digits_cnn.yaml"),
                        "--set", "training.optimizer=sgdd", "--set", "training.epochs=0", "--set",
                        "training.early_stopping.patiense=3", "--set", "training.batch_size.x=1",
                        "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1, r.stderr
    err = r.stderr
    assert "--set training.batch_size.x=1: error: --set training.batch_size.x: training.batch_size is 32, not a " \
           "section" in err
    r = subprocess.run([sys.executable, "-m", "archspec", "train", str(ROOT / "specs" / "digits_cnn.yaml"),
                        "--set", "training.optimizer=sgdd", "--set", "training.epochs=0", "--set",
                        "training.early_stopping.patiense=3", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and not (tmp_path / "run").exists()
    assert "--set training.optimizer=sgdd: error: unknown optimizer 'sgdd'  [schema]\n  hint: did you mean 'sgd'?" \
        in r.stderr
    doc = (ROOT / "docs" / "train.md").read_text(encoding="utf-8")
    block = doc.split("located at the command line:\n\n```\n")[1].split("```")[0]
    assert block.strip() and block in r.stderr                      # the docs show this very output
    assert "--set training.epochs=0: error: 'epochs' should be greater than or equal to 1; got 0" in r.stderr
    assert "--set training.early_stopping.patiense=3: error: unknown field 'patiense'" in r.stderr
    assert "did you mean 'patience'?" in r.stderr


def test_mnist_specs_rescale_like_the_notebook(tmp_path):
    """Seed 001 fed floats in 0–1; an MNIST .npz holds uint8 0–255: the specs rescale, and say so when
    the data's range does not fit the rescale."""
    from archspec.train import data, planning
    from archspec.train.config import resolve

    p = npz(tmp_path / "mnist.npz", x_train=np.zeros((20, 28, 28), np.uint8), y_train=np.arange(20) % 10,
            x_test=np.zeros((10, 28, 28), np.uint8), y_test=np.arange(10))
    for name in ("mnist_cnn.yaml", "mnist_cnn_dropout.yaml"):
        spec = archspec.load(ROOT / "specs" / name)
        assert spec.analysis().total.params == 52_138
        s = resolve(spec, {"data": f"npz:{p}"})
        assert s.rescale == 1 / 255
        assert planning.plan(spec, s, data.load(s, spec)).warnings == []
        s = resolve(archspec.load(ROOT / "specs" / name, {"training.resize": True}), {"data": "digits"})
        (w,) = planning.plan(spec, s, data.load(s, spec)).warnings
        assert w.code == "unscaled-input" and "0–16 to 0–0.0627" in w.message and "1/16" in w.hint


def test_validation_steps_beyond_the_data_are_clamped_with_a_warning():
    from archspec.train import data, planning
    from archspec.train.config import resolve

    spec = archspec.load_text(SPEC.replace("training: {", "training: {validation_steps: 50, data: synthetic:64, "))
    s = resolve(spec)
    plan = planning.plan(spec, s, data.load(s, spec))
    (w,) = [d for d in plan.warnings if d.code == "validation-steps"]
    assert "validation_steps is 50 but the 8 validation images make 1 batch of 8" in w.message
    assert s.validation_steps == 1 and w.loc.line == 8


def test_class_weight_names_classes(tmp_path):
    from archspec.train import data, planning
    from archspec.train.config import resolve

    root = images(tmp_path / "imgs", per_class=5)
    spec = archspec.load_text(SPEC.replace("training: {", "training: {class_weight: {cat: 3, dgo: 2}, "))
    s = resolve(spec, {"data": f"folder:{root}"})
    with pytest.raises(archspec.SpecError) as e:
        planning.plan(spec, s, data.load(s, spec))
    (d,) = e.value.diagnostics
    assert "class_weight names 'dgo', which is not a class" in d.message and d.hint == "did you mean 'dog'?"
    spec = archspec.load_text(SPEC.replace("training: {", "training: {class_weight: {cat: 3}, "))
    s = resolve(spec, {"data": f"folder:{root}"})
    assert planning.plan(spec, s, data.load(s, spec)).class_weight == {0: 3.0, 1: 1.0}


def test_did_you_mean_ignores_case():
    from archspec.errors import did_you_mean

    assert did_you_mean("fc1", ["conv2d", "FC1", "output"]) == "did you mean 'FC1'?"
    assert did_you_mean("Output", ["FC1", "output"]) == "did you mean 'output'?"


def test_augmenting_a_flat_input_is_refused():
    from archspec.train import data, planning
    from archspec.train.config import resolve

    flat = SPEC.replace("[12, 12, 1]", "[144]").replace("  - conv2d: {filters: 4, kernel: 3, activation: relu}\n"
                                                       "  - global_avg_pool: {}\n", "  - dense: {units: 8}\n")
    spec = archspec.load_text(flat.replace("training: {", "training: {augment: {flip: horizontal}, "))
    s = resolve(spec, {"data": "synthetic:32"})
    with pytest.raises(archspec.SpecError) as e:
        planning.plan(spec, s, data.load(s, spec))
    (d,) = e.value.diagnostics                                  # at the augment entry, naming the shape
    assert d.code == "schema" and flat.splitlines()[d.loc.line - 1].startswith("training:")
    assert "(144,)" in d.message and "(height, width, channels)" in d.hint
    s = resolve(archspec.load_text(flat), {"data": "synthetic:32"})      # synthetic images for a flat input
    assert planning.plan(spec, s, data.load(s, spec)).flatten


def test_running_out_of_memory_names_the_batch_size():
    from archspec.train.config import resolve
    from archspec.train.loop import _data_guard

    class ResourceExhaustedError(Exception):          # what TensorFlow raises (JAX: RESOURCE_EXHAUSTED)
        pass

    spec = archspec.load_text(SPEC, "s.yaml")
    with pytest.raises(archspec.SpecError) as e:
        with _data_guard(None, spec, resolve(spec)):
            raise ResourceExhaustedError("OOM when allocating tensor with shape[8,64,112,112]")
    (d,) = e.value.diagnostics
    assert d.code == "out-of-memory" and "at batch size 8" in d.message and "--batch-size 4" in d.hint
    assert d.loc.line == 8
