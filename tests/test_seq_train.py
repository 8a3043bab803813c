"""archspec train on token sequences: text windows and token .npz files, their mistakes found before
Keras loads (a located error, exit 1, no run folder), the vocabulary checked against the spec, a
tiny language model and a sequence classifier trained, resumed, and the run folder a text run leaves
(tokenizer.json, settings.json's objective, perplexity per epoch)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from conftest import ROOT

import archspec
from archspec.codes import ALL

np = pytest.importorskip("numpy")  # the training extras; the core tier runs without them
pytestmark = pytest.mark.extras

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

LM = """\
archspec: 1
name: lm
params: {{vocab: {vocab}, length: {length}}}
inputs: {{ids: {{shape: [$length], dtype: int32}}}}
model:
  - token_embedding: {{vocabulary: $vocab, dim: 16, from: ids}}
  - position_embedding: {{length: $length}}
  - residual:
      body:
        - layer_norm: {{}}
        - attention: {{heads: 2, key_dim: 8, causal: true}}
  - layer_norm: {{name: final_norm}}
  - {head}
training:
  epochs: {epochs}
  batch_size: 8
  learning_rate: 0.01
  seed: 1
{extra}"""
TIED = "tied_logits: {vocabulary: $vocab, from: [final_norm, token_embedding]}"

CLASSIFIER = """\
archspec: 1
name: seqcls
inputs: {ids: {shape: [12], dtype: int32}}
model:
  - token_embedding: {vocabulary: 20, dim: 8, from: ids}
  - global_avg_pool_1d: {}
  - dense: {units: 2, activation: softmax}
training: {epochs: 4, batch_size: 16, learning_rate: 0.05, seed: 0}
"""
TEXT = "the cat sat on the mat. the dog sat on the log. " * 40


def lm(tmp_path, vocab=256, length=16, epochs=1, extra="", head=TIED, name="lm.yaml"):
    p = tmp_path / name
    p.write_text(LM.format(vocab=vocab, length=length, epochs=epochs, extra=extra, head=head), encoding="utf-8")
    return archspec.load(p)


def text_file(tmp_path, text=TEXT, name="corpus.txt"):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def load(spec, data=None, **flags):
    from archspec.train import data as data_mod
    from archspec.train import planning
    from archspec.train.config import resolve

    settings = resolve(spec, {"data": data, **flags})
    ds = data_mod.load(settings, spec)
    return settings, ds, planning.plan(spec, settings, ds)


def diags(fn):
    with pytest.raises(archspec.SpecError) as e:
        fn()
    assert all(d.code in ALL for d in e.value.diagnostics)
    return e.value.diagnostics


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "archspec", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=timeout)


# ---- text → windows (no Keras) -------------------------------------------------------------------------
def test_text_becomes_windows_of_the_input_length(tmp_path):
    from archspec.train.tokens import Tokenizer

    settings, ds, plan = load(lm(tmp_path, length=16), f"text:{text_file(tmp_path)}")
    n = -(-(len(TEXT) - 1) // 16)
    assert len(ds.train) + len(ds.validation) + len(ds.test) == n
    assert (len(ds.test), len(ds.validation)) == (round(n * 0.2), round(n * 0.1))
    assert ds.tokenizer == Tokenizer.bytes() and ds.train.x.dtype == np.int32 and ds.train.x.shape[1] == 16
    # the targets are the inputs shifted by one, across window boundaries; only the tail is padding
    every = sorted((s.x[i].tolist(), s.y[i].tolist(), s.weight[i].tolist())
                   for s in (ds.train, ds.validation, ds.test) for i in range(len(s)))
    stream = list(TEXT.encode())
    starts = {tuple(x[:3]) for x, _, _ in every}
    assert tuple(stream[:3]) in starts
    x, y, w = next(e for e in every if e[0] == stream[:16])
    assert y == stream[1:17] and w == [1.0] * 16
    assert sum(sum(e[2]) for e in every) == len(stream) - 1          # every target once, padding weighs 0
    assert (settings.objective, settings.sequence_length, settings.vocab_size) == ("next_token", 16, 256)
    assert plan.loss == "sparse_categorical_crossentropy" and plan.from_logits and plan.units == 256


def test_character_tokens_and_the_vectorized_encoder_agree(tmp_path):
    from archspec.train.sequences import encode
    from archspec.train.tokens import Tokenizer

    text = "ça marche — naïve café ✓ " * 3
    tok = Tokenizer.characters(text)
    assert encode(tok, text).tolist() == tok.encode(text)
    assert encode(Tokenizer.bytes(), text).tolist() == Tokenizer.bytes().encode(text)
    _, ds, _ = load(lm(tmp_path, vocab=40, length=8, extra="  data: {tokenizer: chars}"),
                    f"text:{text_file(tmp_path, text * 4)}")
    assert ds.tokenizer == tok and ds.vocab_size == len(set(text))


def test_the_default_for_a_token_spec_is_the_bundled_documentation(tmp_path):
    settings, ds, _ = load(lm(tmp_path, length=64))
    assert ds.kind == "text" and "documentation" in ds.origin and settings.data.source == "text"
    assert len(ds.train) > 1000


# ---- token .npz --------------------------------------------------------------------------------------
def test_npz_token_ids_for_a_language_model_and_a_classifier(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, (40, 17))
    mask = np.ones_like(x)
    mask[0, 10:] = 0
    np.savez(tmp_path / "lm.npz", x=x, mask=mask)
    _, ds, plan = load(lm(tmp_path, vocab=50), f"npz:{tmp_path / 'lm.npz'}")
    whole = [ds.train, ds.validation, ds.test]
    assert sum(map(len, whole)) == 40 and ds.objective == "next_token" and ds.vocab_size == int(x.max()) + 1
    row, i = next((s, i) for s in whole for i in range(len(s)) if s.x[i].tolist() == x[0, :16].tolist())
    assert row.y[i].tolist() == x[0, 1:].tolist()
    assert row.weight[i].tolist() == [1.0] * 9 + [0.0] * 7      # targets at padding (and after it) weigh 0
    # 16 columns: the last position has no target
    np.savez(tmp_path / "lm16.npz", x=x[:, :16])
    _, ds, _ = load(lm(tmp_path, vocab=50), f"npz:{tmp_path / 'lm16.npz'}")
    assert (ds.train.weight[:, -1] == 0).all() and (ds.train.weight[:, :-1] == 1).all()
    # labels: a classifier
    spec = archspec.load_text(CLASSIFIER, "seqcls.yaml")
    np.savez(tmp_path / "cls.npz", x=rng.integers(0, 20, (30, 12)), y=np.arange(30) % 2)
    settings, ds, plan = load(spec, str(tmp_path / "cls.npz"))
    assert settings.objective == "classify" and plan.units == 2 and ds.num_classes == 2 and plan.tokens


@pytest.mark.parametrize("arrays,words", [
    ({"x": np.ones((4, 12), np.float32)}, "holds floating-point numbers (float32), not token ids"),
    ({"x": -np.ones((4, 12), np.int64)}, "negative token ids (-1 in row 0, column 0)"),
    ({"x": np.ones((4, 9), np.int32), "y": np.zeros(4)}, "sequences of 9 tokens but the spec's input takes 12"),
    ({"x": np.ones((4, 12), np.int32), "y": np.zeros(5)}, "4 sequences but 'y' 5 labels"),
    ({"x": np.ones((4, 12), np.int32), "y": np.zeros(4), "mask": np.full((4, 12), 2)}, "values other than 0 and 1"),
    ({"ids": np.ones((4, 12), np.int32)}, "has no 'x' (it holds ids)"),
])
def test_npz_token_mistakes_name_the_array(tmp_path, arrays, words):
    np.savez(tmp_path / "t.npz", **arrays)
    spec = archspec.load_text(CLASSIFIER, "seqcls.yaml")
    (d,) = diags(lambda: load(spec, f"npz:{tmp_path / 't.npz'}"))
    assert d.code == "data-format" and words in d.message and d.loc.file == str(tmp_path / "t.npz")


# ---- the data against the spec ---------------------------------------------------------------------------
def test_ids_beyond_the_embedding_or_the_output_are_found_before_training(tmp_path):
    spec = lm(tmp_path, vocab=100)
    ds = diags(lambda: load(spec, f"text:{text_file(tmp_path)}"))
    assert [d.code for d in ds] == ["token-range", "token-range"]
    emb, out = ds
    assert "ids up to 255" in emb.message and "'token_embedding' has rows for 100" in emb.message
    assert "at least 256" in emb.hint and emb.loc.line == 6
    assert "output 'tied_logits' scores 100 ids" in out.message
    # chars fit a small vocabulary
    assert load(lm(tmp_path, vocab=100, extra="  data: {tokenizer: chars}"), f"text:{text_file(tmp_path)}")


@pytest.mark.parametrize("spec_text,data,code,words", [
    (CLASSIFIER, "text", "data-mismatch", "the objective is classify but text has no labels"),
    (CLASSIFIER, "digits", "data-mismatch", "the data source 'digits' holds images but the input 'ids' is token ids"),
    (CLASSIFIER.replace("seed: 0}", "seed: 0, objective: next_token}"), "text", "train-unsupported",
     "has shape (2,); next_token needs (12, vocabulary)"),
    ("archspec: 1\nname: img\ninputs: {x: [8, 8, 1]}\nmodel: [flatten: {}, dense: {units: 2}]\n", "text",
     "data-mismatch", "text trains a spec whose input is token ids"),
    (CLASSIFIER.replace("seed: 0}", "seed: 0, rescale: 0.5}"), None, "schema", "training.rescale transforms images"),
])
def test_mismatches_of_token_data_and_spec(tmp_path, spec_text, data, code, words):
    spec = archspec.load_text(spec_text, "s.yaml")
    if "rescale" in spec_text:
        np.savez(tmp_path / "c.npz", x=np.ones((8, 12), np.int32), y=np.arange(8) % 2)
        data = f"npz:{tmp_path / 'c.npz'}"
    got = diags(lambda: load(spec, data))
    assert any(d.code == code and words in d.message for d in got), [(d.code, d.message) for d in got]


def test_too_little_text_for_the_windows(tmp_path):
    (d,) = diags(lambda: load(lm(tmp_path, length=16), f"text:{text_file(tmp_path, 'short text')}"))
    assert d.code == "data-format" and "holds 10 tokens, too few for 3 windows of 16" in d.message


@pytest.mark.parametrize("make,words", [
    (lambda p: (p / "bad.txt").write_bytes(b"ok\nna\xefve\n") and f"text:{p / 'bad.txt'}", "bad.txt:2:3: error"),
    (lambda p: np.savez(p / "f.npz", x=np.ones((4, 16), np.float64)) or f"npz:{p / 'f.npz'}", "holds floating-point"),
    (lambda p: "text:" + str(text_file(p)), "token-range"),
])
def test_the_command_line_says_it_before_keras_and_writes_nothing(tmp_path, make, words):
    spec = tmp_path / "lm.yaml"
    spec.write_text(LM.format(vocab=64, length=16, epochs=1, extra="", head=TIED), encoding="utf-8")
    data = make(tmp_path)
    r = cli("train", str(spec), "--data", data, "--out", str(tmp_path / "run"), "-q")
    assert r.returncode == 1 and words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()


def test_the_docs_show_the_error_a_latin1_text_gets(tmp_path):
    (tmp_path / "shakespeare.txt").write_bytes("caf\u00e9\n".encode("latin-1"))
    r = subprocess.run([sys.executable, "-m", "archspec", "train", str(ROOT / "specs" / "tiny_gpt.yaml"), "--data",
                        "text:shakespeare.txt", "--out", "run"], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 1 and not (tmp_path / "run").exists()
    doc = (ROOT / "docs" / "train.md").read_text(encoding="utf-8")
    block = doc.split("A Latin-1 file given as text:\n\n```\n")[1].split("```")[0]
    assert block == r.stderr, r.stderr


# ---- training (Keras) --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """A tiny causal language model trained for 3 epochs on a repetitive text: a few seconds."""
    from archspec.train.config import resolve
    from archspec.train.loop import run_training

    tmp = tmp_path_factory.mktemp("lm")
    spec = lm(tmp, vocab=24, length=16, epochs=3, extra="  data: {tokenizer: chars, test_size: 0.1}")
    settings = resolve(spec, {"data": f"text:{text_file(tmp)}"})
    return run_training(spec, settings, tmp / "run", verbose=0), spec, tmp


@pytest.mark.keras
def test_a_tiny_language_model_learns_and_leaves_a_complete_run_folder(lm_run):
    from archspec.train.tokens import Tokenizer

    result, _, tmp = lm_run
    run = result.out
    assert Tokenizer.load(run) == Tokenizer.characters(TEXT)
    meta = json.loads((run / "settings.json").read_text())
    s = meta["settings"]
    assert (s["objective"], s["sequence_length"], s["vocab_size"]) == ("next_token", 16, len(set(TEXT)))
    assert meta["plan"]["objective"] == "next_token"
    h = result.history
    assert [r["epoch"] for r in h] == [1, 2, 3]
    for r in h:
        assert math.isclose(r["val_perplexity"], math.exp(r["val_loss"]), rel_tol=1e-6)
        assert math.isclose(r["perplexity"], math.exp(r["loss"]), rel_tol=1e-6)
        assert r["tokens_per_s"] > 0 and "images_per_s" not in r
    counts = np.bincount(Tokenizer.characters(TEXT).encode(TEXT))
    p = counts[counts > 0] / counts.sum()
    unigram = float(-(p * np.log(p)).sum())
    assert h[-1]["val_loss"] < 0.5 * unigram, (h[-1]["val_loss"], unigram)   # it uses the context
    m = json.loads((run / "metrics.json").read_text())
    assert math.isclose(m["test"]["test_perplexity"], math.exp(m["test"]["test_loss"]), rel_tol=1e-6)
    assert m["tokens_per_s"] == result.tokens_per_s > 0
    assert "val_perplexity" in (run / "history.csv").read_text().splitlines()[0]
    for name in ("best.keras", "last.keras", "curves.png", "checkpoint.npz", "summary.txt", "tensorboard"):
        assert (run / name).exists(), name
    assert "tokens/s" in result.summary and "perplexity" in result.summary


@pytest.mark.keras
def test_padding_weighs_nothing_in_the_loss(tmp_path):
    """The compiled loss is the mean cross-entropy over the targets that count: computed here from the
    model's own logits, with garbage targets at the padding that must not change it."""
    import keras

    from archspec.train.loop import build_and_compile

    spec = lm(tmp_path, vocab=24, length=8)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 24, (6, 9)).astype(np.int32)
    mask = np.ones_like(x)
    mask[:, 5:] = 0
    np.savez(tmp_path / "p.npz", x=x, mask=mask)
    settings, ds, plan = load(spec, f"npz:{tmp_path / 'p.npz'}", validation_split=0.0)
    model = build_and_compile(spec, settings, plan, 1)
    s = ds.train
    logits = keras.ops.convert_to_numpy(model(s.x))
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    ce = -np.take_along_axis(logp, s.y[..., None], -1)[..., 0]
    want = (ce * s.weight).sum() / s.weight.sum()
    y = s.y.copy()
    y[s.weight == 0] = 7
    got = model.evaluate(s.x, y, sample_weight=s.weight, batch_size=len(s), verbose=0, return_dict=True)["loss"]
    assert math.isclose(got, want, rel_tol=1e-4), (got, want)


@pytest.mark.keras
def test_resume_continues_a_text_run_and_refuses_a_changed_text(lm_run):
    from archspec.train.config import RunError, resolve
    from archspec.train.loop import run_training

    result, spec, tmp = lm_run
    settings = resolve(spec, {"data": f"text:{tmp / 'corpus.txt'}", "epochs": 4})
    again = run_training(spec, settings, result.out, verbose=0)
    assert again.resumed_from == 3 and [r["epoch"] for r in again.history] == [1, 2, 3, 4]
    (tmp / "corpus.txt").write_text(TEXT + "XYZ", encoding="utf-8")          # the same file, new characters
    settings = resolve(spec, {"data": f"text:{tmp / 'corpus.txt'}", "epochs": 5})
    with pytest.raises(RunError, match="tokenizer of 14 ids, the text now gives chars with 17"):
        run_training(spec, settings, result.out, verbose=0)
    # the same characters in another text: the windows would be dealt to other splits
    (tmp / "corpus.txt").write_text(TEXT[::-1], encoding="utf-8")
    with pytest.raises(RunError, match="changed since this run trained on it"):
        run_training(spec, settings, result.out, verbose=0)
    from archspec.train import runs

    with pytest.raises(RunError, match="test split would hold windows the run trained on"):
        runs.load_data(runs.open_target(str(result.out)), None)     # evaluate with the run's own data
    runs.load_data(runs.open_target(str(result.out)), f"text:{tmp / 'corpus.txt'}")   # other text, said so: fine
    (tmp / "corpus.txt").write_text(TEXT, encoding="utf-8")


@pytest.mark.keras
def test_a_sequence_classifier_trains_from_an_npz(tmp_path):
    """Class 1 sequences contain token 7, class 0 never do: a bag-of-tokens classifier must learn that."""
    from archspec.train.config import resolve
    from archspec.train.loop import run_training

    rng = np.random.default_rng(0)
    x = rng.integers(8, 20, (200, 12))
    y = np.arange(200) % 2
    x[y == 1, rng.integers(0, 12, 100)] = 7
    np.savez(tmp_path / "cls.npz", x=x, y=y)
    spec = archspec.load_text(CLASSIFIER, "seqcls.yaml")
    settings = resolve(spec, {"data": str(tmp_path / "cls.npz")})
    result = run_training(spec, settings, tmp_path / "run", verbose=0)
    assert result.test["test_accuracy"] >= 0.9, result.history
    meta = json.loads((tmp_path / "run" / "settings.json").read_text())["settings"]
    assert meta["objective"] == "classify" and meta["vocab_size"] == 20
    assert not (tmp_path / "run" / "tokenizer.json").exists()
    assert result.tokens_per_s and "val_perplexity" not in result.history[-1]


# ---- the command line: JAX without TensorFlow, two devices, a kill ------------------------------------------
NO_TF = str(ROOT / "tests" / "fixtures" / "no_tensorflow")


def cli_env(*args, no_tf=False, env=None, popen=False):
    path = os.pathsep.join(([NO_TF] if no_tf else []) + [str(ROOT)])
    full = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path, **(env or {})}
    cmd = [sys.executable, "-m", "archspec", *args]
    if popen:
        return subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=full, timeout=900)


@pytest.mark.slow       # three JAX processes
@pytest.mark.keras
def test_jax_without_tensorflow_on_one_and_two_devices(tmp_path):
    """A language model on JAX with TensorFlow blocked, on one device and data-parallel over two virtual CPU
    devices: the same weights after 2 epochs (each device takes half of every batch, the gradients are averaged)."""
    pytest.importorskip("jax")
    spec = tmp_path / "lm.yaml"
    spec.write_text(LM.format(vocab=24, length=16, epochs=2, extra="  data: {tokenizer: chars}", head=TIED))
    data = f"text:{text_file(tmp_path)}"
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    args = ["train", str(spec), "--backend", "jax", "--data", data, "--seed", "5", "-q"]
    one = cli_env(*args, "--out", str(tmp_path / "one"), no_tf=True, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    two = cli_env(*args, "--out", str(tmp_path / "two"), "--distribute", "mirrored", no_tf=True, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "mirrored over 2 replicas (4 sequences each, DataParallel), backend jax" in two.stdout
    a, b = np.load(tmp_path / "one" / "checkpoint.npz"), np.load(tmp_path / "two" / "checkpoint.npz")
    keys = [k for k in a.files if k.startswith("model/")]
    assert len(keys) == 14
    # the attention's key bias shifts every score of a query alike, which softmax ignores: its gradient is 0
    # in exact arithmetic, rounding noise (~1e-8) that Adam scales up; it stays below 1e-3 and is left out
    noise = [k for k in keys if np.abs(a[k]).max() < 1e-3]
    assert len(noise) == 1 and a[noise[0]].shape == (2, 8)
    for k in set(keys) - set(noise):           # measured: agree to 2.3e-7
        np.testing.assert_allclose(a[k], b[k], atol=2e-5, rtol=1e-4, err_msg=k)
    meta = json.loads((tmp_path / "one" / "settings.json").read_text())
    assert meta["versions"]["backend"] == "jax" and "tensorflow" not in meta["versions"]
    assert meta["settings"]["objective"] == "next_token" and (tmp_path / "one" / "tokenizer.json").exists()
    hist = json.loads(a["state"].tobytes())["history"]
    assert hist[1]["val_loss"] < hist[0]["val_loss"] and "val_perplexity" in hist[1]


@pytest.mark.slow       # two training processes
@pytest.mark.keras
def test_a_killed_text_run_resumes(tmp_path):
    from conftest import kill_at_first_checkpoint

    from archspec.train.callbacks import read_state

    spec = tmp_path / "lm.yaml"
    spec.write_text(LM.format(vocab=24, length=16, epochs=4, extra="  data: {tokenizer: chars}", head=TIED))
    out = tmp_path / "run"
    args = ["train", str(spec), "--data", f"text:{text_file(tmp_path)}", "--out", str(out), "-q"]
    kill_at_first_checkpoint(cli_env(*args, popen=True), out, 600)
    killed_at = read_state(out / "checkpoint.npz")["epoch"]
    assert 1 <= killed_at < 4 and (out / "tokenizer.json").exists() and not (out / "metrics.json").exists()
    r = cli_env(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resumed after epoch {killed_at}" in r.stdout and "perplexity" in r.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["epochs"] == 4 and m["test"]["test_perplexity"] > 1
