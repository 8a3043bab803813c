"""evaluate and export on sequence runs (tests/seq_runs.py): perplexity checked against exp(mean
cross-entropy) computed here with NumPy from the model's own outputs, a sequence classifier's accuracy
and confusion matrix, and ONNX exports with integer inputs run in onnxruntime against Keras."""
from __future__ import annotations

import json
import re
import shlex

import pytest
from conftest import ROOT

np = pytest.importorskip("numpy")  # the training extras; the core tier runs without them

pytestmark = [pytest.mark.keras, pytest.mark.extras]




@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from seq_runs import make_classifier_run, make_lm_run

    root = tmp_path_factory.mktemp("runs")
    return {"lm": make_lm_run(root / "tiny_lm"), "classifier": make_classifier_run(root / "classifier")}


@pytest.fixture
def token_data(monkeypatch):
    """A stand-in for the sequence data sources of `archspec train` (a text file → windows of its token
    ids; an npz of token arrays x, y), so these tests exercise evaluate's side of the data interface."""
    from seq_runs import windows

    from archspec.train import data
    from archspec.train.tokens import Tokenizer

    def load(settings, spec):
        d = settings.data
        length = spec.graph[spec.graph.inputs[0]].shape[0]
        if d.source == "text":
            from pathlib import Path

            tok = Tokenizer.load(Path(d.path).parent)
            x, y = windows(tok.encode(Path(d.path).read_text(encoding="utf-8")), length, stride=4)
            names = []
        else:
            z = np.load(d.path)
            x, y = z["x"], z["y"]
            names = ["a", "b", "c"]
        n = len(x) // 4
        test, train = data.Split(y[:n], x[:n]), data.Split(y[n:], x[n:])
        return data.Dataset(d.source, d.path, train, None, test, names, (length,))

    monkeypatch.setattr(data, "load", load)
    return load


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_perplexity_is_exp_of_the_mean_cross_entropy(runs, token_data, tmp_path, cli):
    from archspec.compile import load_model
    from archspec.train.runs import open_target

    run = runs["lm"]
    r = cli("evaluate", run, "--format", "json", "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    part = token_data(open_target(str(run)).settings, open_target(str(run)).spec).test
    logits = np.asarray(load_model(run / "best.keras").predict(part.x, verbose=0), np.float64)
    ce = -np.take_along_axis(log_softmax(logits), part.y[..., None].astype(int), axis=-1)
    assert ev["tokens"] == part.y.size and ev["sequences"] == len(part.x)
    assert abs(ev["perplexity"] - np.exp(ce.mean())) < 1e-6 * ev["perplexity"]
    assert abs(ev["loss"] - ce.mean()) < 1e-9 and abs(ev["bits_per_token"] - ce.mean() / np.log(2)) < 1e-9
    assert abs(ev["accuracy"] - np.mean(logits.argmax(-1) == part.y)) < 1e-12
    f = np.bincount(part.y.ravel()) / part.y.size
    f = f[f > 0]
    assert abs(ev["unigram_loss"] + (f * np.log(f)).sum()) < 1e-9
    assert ev["perplexity"] < ev["unigram_perplexity"]          # the trained model beats letter frequencies
    assert json.loads((tmp_path / "ev" / "evaluation.json").read_text())["perplexity"] == ev["perplexity"]
    text = cli("evaluate", run, "--out", tmp_path / "ev").stdout
    assert f"perplexity {ev['perplexity']:.3f}" in text and "unigram baseline" in text


def test_softmax_runs_and_shifted_targets():
    """A softmax output is scored like Keras's cross-entropy of probabilities; windows without targets
    score their next tokens from the window itself."""
    from archspec.train.sequence_eval import cross_entropy_sums, next_token_pairs

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 7))
    t = rng.integers(0, 7, (3, 5))
    t[0, 4] = -1                                              # padding: not scored
    p = np.exp(log_softmax(logits))
    a = cross_entropy_sums(logits, t)
    b = cross_entropy_sums(np.log(p), t)
    assert a[1] == b[1] == 14 and abs(a[0] - b[0]) < 1e-9
    w = np.ones(t.shape)
    w[1, :2] = 0                                              # padding as training weighs it: 0
    t2 = t.copy()
    t2[1, :2] = -1
    c, d = cross_entropy_sums(logits, t, w), cross_entropy_sums(logits, t2)
    assert c[4] == d[4] == 12 and abs(c[0] - d[0]) < 1e-12
    import keras

    want = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")(
        t[t >= 0], logits[t >= 0])
    assert abs(a[0] - float(want)) < 1e-3
    x, y = next_token_pairs(np.arange(12).reshape(2, 6), np.zeros(2), 5)
    assert x.tolist() == [[0, 1, 2, 3, 4], [6, 7, 8, 9, 10]] and y[:, -1].tolist() == [5, 11]


def test_sequence_classifier(runs, token_data, tmp_path, cli):
    from archspec.compile import load_model

    run = runs["classifier"]
    r = cli("evaluate", run, "--format", "json", "--out", tmp_path / "c")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    z = np.load(run / "tokens.npz")
    x, y = z["x"][:60], z["y"][:60]
    probs = np.asarray(load_model(run / "best.keras").predict(x, verbose=0))
    assert ev["images"] == 60 and ev["what"] == "sequences" and ev["classes"] == ["a", "b", "c"]
    assert abs(ev["accuracy"] - np.mean(probs.argmax(1) == y)) < 1e-12 and ev["accuracy"] > 0.8
    cm = np.array(ev["confusion"])
    assert cm.sum() == 60 and np.trace(cm) == round(ev["accuracy"] * 60)
    assert (tmp_path / "c" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "60 sequences, 3 classes" in cli("evaluate", run, "--out", tmp_path / "c").stdout


def test_onnx_export_of_a_language_model(runs, tmp_path, cli):
    import onnxruntime as ort

    from archspec.compile import load_model

    run = runs["lm"]
    r = cli("export", run, "--format", "onnx", "-o", tmp_path / "lm.onnx")
    assert r.returncode == 0, r.stderr
    assert "input 'token_ids' int32 (batch, 16)" in r.stdout and "checked with onnxruntime" in r.stdout
    sess = ort.InferenceSession(str(tmp_path / "lm.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].type == "tensor(int32)"
    x = np.random.default_rng(1).integers(0, 12, (5, 16)).astype(np.int32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    want = np.asarray(load_model(run / "best.keras").predict(x, verbose=0))
    assert got.shape == (5, 16, 12) and np.abs(got - want).max() < 1e-4


def test_int64_ids_and_a_padding_mask(tmp_path):
    """A bare Keras model taking int64 ids and an int32 padding mask: each fed in its own dtype."""
    import keras

    from archspec.train.export import check_inputs_for, export

    ids = keras.Input((6,), dtype="int64", name="ids")
    mask = keras.Input((6,), dtype="int32", name="mask")
    h = keras.layers.Embedding(9, 8)(ids)
    h = keras.layers.MultiHeadAttention(2, 4)(h, h, attention_mask=keras.ops.cast(mask[:, None, :], "bool"),
                                              use_causal_mask=True)
    model = keras.Model([ids, mask], keras.layers.Dense(9)(h))
    xs = check_inputs_for(model)
    assert xs[0].dtype == np.int64 and 0 <= xs[0].min() and xs[0].max() < 9
    assert xs[1].dtype == np.int32 and xs[1][0].all() and not xs[1][1].all()
    done = export(model, tmp_path / "m.onnx", "onnx")
    assert [d for _, d, _ in done.inputs] == ["int64", "int32"] and done.max_diff < 1e-5, done


def test_exact_gelu_is_refused_before_a_broken_file_is_written(tmp_path):
    """tf2onnx writes the exact GELU's Erfc, which onnxruntime cannot load: a clear error, no file."""
    import keras

    from archspec.train.export import ExportError, export

    ids = keras.Input((4,), dtype="int32")
    model = keras.Model(ids, keras.layers.Dense(3, activation="gelu")(keras.layers.Embedding(5, 4)(ids)))
    with pytest.raises(ExportError, match="does not run in its runtime.*gelu_approximate"):
        export(model, tmp_path / "g.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []


def doc_examples():
    """The `$ archspec …` blocks of docs/train.md's section on sequence runs, with their output."""
    doc = (ROOT / "docs" / "train.md").read_text(encoding="utf-8")
    section = doc.split("## Sequence runs: `generate`, `evaluate`, `export`")[1].split("\n## ")[0]
    return re.findall(r"```\n\$ (archspec [^\n]*)\n(.*?)```", section, flags=re.S)


def test_the_docs_show_real_output(runs, token_data, cli):
    """Each example in the docs, run on the same tiny run (its differences from Keras may vary in the last
    digits from one CPU to another, so those numbers are masked)."""
    examples = doc_examples()
    assert [c.split()[1] for c, _ in examples] == ["generate", "generate", "evaluate", "export"]
    run = runs["lm"]
    for command, shown in examples:
        args = [str(run) if a == "runs/tiny_lm" else a for a in shlex.split(command)[1:]]
        r = cli(*args)
        real = (r.stdout + r.stderr).replace(str(run), "runs/tiny_lm")
        mask = re.compile(r"\d\.\de[-+]\d\d")
        assert mask.sub("#", real).strip() == mask.sub("#", shown).strip(), f"docs/train.md shows for `{command}`:\n" \
            f"{shown}\nthe real output is:\n{real}"


@pytest.mark.slow
@pytest.mark.parametrize("fmt,path", [("saved_model", "sm"), ("tflite", "lm.tflite")])
def test_saved_model_and_tflite_take_token_ids(runs, tmp_path, fmt, path, cli):
    r = cli("export", runs["lm"], "--format", fmt, "-o", tmp_path / path)
    assert r.returncode == 0, r.stderr
    assert "input 'token_ids' int32 (batch, 16)" in r.stdout
    assert float(r.stdout.split("max |difference| from Keras ")[1].split()[0]) < 1e-4


def test_evaluate_reproduces_what_archspec_train_measured(tmp_path, cli):
    """A real `archspec train` run on text (bytes): evaluate's loss and perplexity on the test split are the
    ones training measured with model.evaluate, and so is the accuracy (training's metrics weigh the padded
    tail of the last window 0, as evaluate does); generate samples from it."""
    pytest.importorskip("archspec.train.sequences")        # the text source of `archspec train`
    from seq_runs import LM_SPEC, TEXT

    import archspec
    from archspec.train import train

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    spec = archspec.load(LM_SPEC, {"vocabulary": 256, "length": 16})
    train(spec, {"data": f"text:{corpus}", "epochs": 2, "seed": 0, "batch_size": 8}, out=out, verbose=0)
    test = json.loads((out / "metrics.json").read_text())["test"]
    r = cli("evaluate", out, "--format", "json", "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert abs(ev["loss"] - test["test_loss"]) < 1e-4        # Keras's loss weighs padding 0, as evaluate does
    assert abs(ev["perplexity"] - test["test_perplexity"]) < 1e-4 * ev["perplexity"]
    assert abs(ev["accuracy"] - test["test_accuracy"]) < 1e-6, (ev, test)
    a = cli("generate", out, "--prompt", "the ", "--tokens", "12", "--seed", "2")
    assert a.returncode == 0 and a.stdout == cli("generate", out, "--prompt", "the ", "--tokens", "12", "--seed", "2").stdout
