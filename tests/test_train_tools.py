"""evaluate, predict and export on a trained digits run: numbers checked against Keras itself (the
run's own model.evaluate, model.predict) and the exported ONNX file run in onnxruntime."""
from __future__ import annotations

import json
import os

import pytest
from conftest import SPECS

import archspec

np = pytest.importorskip("numpy")  # the training extras; the core tier runs without them

pytestmark = [pytest.mark.keras, pytest.mark.extras]
DIGITS = SPECS / "digits_cnn.yaml"




@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from archspec.train import train

    out = tmp_path_factory.mktemp("runs") / "digits"
    train(archspec.load(DIGITS), {"epochs": 2, "seed": 0}, out=out, verbose=0)
    return out


def digits_test():
    from archspec.train import data
    from archspec.train.config import resolve

    spec = archspec.load(DIGITS)
    return data.load(resolve(spec), spec).test


def test_evaluate_equals_what_training_measured(run, tmp_path):
    from archspec.train.evaluate import evaluate
    from archspec.train.runs import open_target

    metrics = json.loads((run / "metrics.json").read_text())["test"]
    ev = evaluate(open_target(str(run)), None, "test", tmp_path / "ev")
    assert ev.images == 360 and ev.classes == [str(i) for i in range(10)]
    assert abs(ev.accuracy - metrics["test_accuracy"]) < 1e-6          # Keras's model.evaluate
    assert abs(ev.loss - metrics["test_loss"]) < 1e-4
    cm = np.array(ev.confusion)
    assert cm.sum() == 360 and np.trace(cm) == round(ev.accuracy * 360)
    assert [r["support"] for r in ev.per_class] == cm.sum(axis=1).tolist()
    r3 = ev.per_class[3]
    assert abs(r3["recall"] - cm[3, 3] / cm[3].sum()) < 1e-9 and abs(r3["precision"] - cm[3, 3] / cm[:, 3].sum()) < 1e-9
    assert (tmp_path / "ev" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "ev" / "per_class.csv").read_text().splitlines()[0] == "class,precision,recall,f1,support"


def test_predict_files_and_data_agree_with_keras(run, tmp_path):
    from PIL import Image

    from archspec.compile import load_model
    from archspec.train.predict import predict, render
    from archspec.train.runs import open_target

    test = digits_test()
    for i in range(4):                       # digits pixels are 0–16: stored as such, the run rescales
        d = tmp_path / "imgs" / str(test.y[i])
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(test.x[i, :, :, 0]).save(d / f"{i}.png")
    target = open_target(str(run))
    rows = predict(target, [str(tmp_path / "imgs")], top_k=3)
    by_data = predict(target, data_arg=None, split="test", top_k=3, limit=4)
    keras_probs = np.asarray(load_model(run / "last.keras").predict(test.x[:4].astype("float32") * 0.0625, verbose=0))
    for row in rows:
        i = int(os.path.basename(row["file"]).split(".")[0])
        assert row["label"] == str(test.y[i]) == by_data[i]["label"]
        assert [t["class"] for t in row["top"]] == [t["class"] for t in by_data[i]["top"]]
        best = row["top"][0]
        assert best["class"] == str(int(keras_probs[i].argmax()))
        assert abs(best["probability"] - keras_probs[i].max()) < 1e-5
    csv = render(rows, "csv").splitlines()
    assert csv[0] == "file,label,class_1,probability_1,class_2,probability_2,class_3,probability_3"
    assert len(json.loads(render(rows, "json"))) == 4


def test_onnx_export_runs_in_onnxruntime(run, tmp_path, cli):
    import onnxruntime as ort

    from archspec.compile import load_model

    r = cli("export", run, "--format", "onnx", "-o", tmp_path / "d.onnx")
    assert r.returncode == 0, r.stderr
    assert "preprocessing inside: ×0.0625" in r.stdout and "checked with onnxruntime" in r.stdout
    test = digits_test()
    x = test.x[:64].astype(np.float32)                        # raw pixels: the rescale is inside
    sess = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    want = np.asarray(load_model(run / "last.keras").predict(x * 0.0625, verbose=0))
    assert got.shape == (64, 10) and np.abs(got - want).max() < 1e-4


def test_commands_on_the_run(run, tmp_path, cli):
    r = cli("evaluate", run, "--out", tmp_path / "e", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["images"] == 360
    r = cli("predict", run, "--data", "run", "--limit", "3", "-o", tmp_path / "p.csv")
    assert r.returncode == 0 and len((tmp_path / "p.csv").read_text().splitlines()) == 4
    r = cli("predict", run)
    assert r.returncode == 2 and "nothing to predict" in r.stderr
    r = cli("predict", run, tmp_path / "none.png")
    assert r.returncode == 2 and "no such image file" in r.stderr
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    r = cli("predict", run, bad)
    assert r.returncode == 1 and "cannot decode image 'bad.png'" in r.stderr
    r = cli("evaluate", tmp_path)
    assert r.returncode == 2 and "not a run folder" in r.stderr
    r = cli("evaluate", run / "last.keras", "--data", "digits", "--rescale", "1/16", "--out", tmp_path / "b")
    assert r.returncode == 0 and "accuracy" in r.stdout
    bare = tmp_path / "bare.keras"
    bare.write_bytes((run / "last.keras").read_bytes())        # outside its run folder: no settings
    r = cli("predict", bare, "--data", "digits", "--limit", "2")
    assert r.returncode == 0 and "note: " in r.stderr and "--rescale 1/255" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("fmt,path", [("saved_model", "sm"), ("tflite", "d.tflite")])
def test_saved_model_and_tflite_exports(run, tmp_path, fmt, path, cli):
    r = cli("export", run, "--format", fmt, "-o", tmp_path / path)
    assert r.returncode == 0, r.stderr
    diff = float(r.stdout.split("max |difference| from Keras ")[1].split()[0])
    assert diff < 1e-4


def test_export_support_is_checked_without_keras(monkeypatch):
    from archspec.train import export

    with pytest.raises(export.ExportError, match="cannot export tflite from the jax backend"):
        export.check_supported("tflite", "jax")
    with pytest.raises(export.ExportError, match="unknown model format '.pt'"):
        export.format_of("model.pt")
    assert export.format_of("model.onnx") == "onnx" and export.format_of("served") == "saved_model"
    real = export.importlib.util.find_spec
    monkeypatch.setattr(export.importlib.util, "find_spec", lambda m: None if m == "tf2onnx" else real(m))
    with pytest.raises(export.ExportError, match="pip install tf2onnx"):
        export.check_supported("onnx", "tensorflow")


def test_save_onnx_in_the_training_section(tmp_path, capsys):
    import onnxruntime as ort

    from archspec.train import train

    text = DIGITS.read_text().replace("epochs: 30", "epochs: 1\n  save: digits.onnx")
    (tmp_path / "d.yaml").write_text(text)
    result = train(archspec.load(tmp_path / "d.yaml"), {"seed": 0, "data": "synthetic:64"}, out=tmp_path / "r",
                   verbose=0)
    assert result.exported.max_diff < 1e-4 and (tmp_path / "r" / "metrics.json").exists()
    sess = ort.InferenceSession(str(tmp_path / "r" / "digits.onnx"), providers=["CPUExecutionProvider"])
    assert sess.run(None, {sess.get_inputs()[0].name: np.zeros((2, 8, 8, 1), np.float32)})[0].shape == (2, 10)
