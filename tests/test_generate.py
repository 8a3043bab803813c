"""archspec generate on a tiny trained language model (tests/seq_runs.py): greedy decoding checked
against the model's own argmax step by step, seeds, top-k, the right-padded window, softmax outputs,
and the command line's refusals."""
from __future__ import annotations

import shutil

import pytest

np = pytest.importorskip("numpy")  # the training extras; the core tier runs without them

pytestmark = [pytest.mark.keras, pytest.mark.extras]




@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    from seq_runs import make_lm_run

    return make_lm_run(tmp_path_factory.mktemp("runs") / "lm")


@pytest.fixture(scope="module")
def lm(lm_run):
    from archspec.train.generate import language_model
    from archspec.train.runs import open_target

    return language_model(open_target(str(lm_run)))


def keras_next(model, ids, length):
    """The model's argmax next token after `ids`, computed here without archspec's sampler."""
    window = ids[-length:]
    x = np.zeros((1, length), np.int32)
    x[0, :len(window)] = window
    return int(np.argmax(np.asarray(model(x, training=False))[0, len(window) - 1]))


def test_greedy_is_the_models_argmax(lm):
    from archspec.train.generate import generate

    g = generate(lm, "the c", 24, temperature=0)        # 5 + 24 tokens: the window slides past L = 16
    ids = lm.tokenizer.encode("the c")
    for _ in range(24):
        ids.append(keras_next(lm.model, ids, lm.length))
    assert g.ids == ids[5:] and g.text == lm.tokenizer.decode(ids[5:])
    assert len(set(g.ids)) > 1                           # not a constant: the trained model has a preference


def test_top_k_1_is_greedy_and_a_seed_repeats(lm):
    from archspec.train.generate import generate

    greedy = generate(lm, "the ", 30, temperature=0).ids
    assert generate(lm, "the ", 30, temperature=1.0, top_k=1, seed=7).ids == greedy
    a = generate(lm, "the ", 30, temperature=1.5, seed=3).ids
    assert generate(lm, "the ", 30, temperature=1.5, seed=3).ids == a
    assert generate(lm, "the ", 30, temperature=1.5, seed=4).ids != a
    assert a != greedy
    top2 = generate(lm, "the ", 60, temperature=1.5, top_k=2, seed=3).ids
    ctx = lm.tokenizer.encode("the ")
    for t in top2:                                       # every draw is one of the two best next tokens
        s = lm.scores([ctx])[0]
        assert t in np.argsort(-s)[:2]
        ctx.append(t)


def test_right_padding_does_not_change_the_scores(lm):
    """Causal attention: the position read sees nothing of the padding after it."""
    ctx = lm.tokenizer.encode("the ma")
    zeros = lm.scores([ctx], pad=0)[0]
    other = lm.scores([ctx], pad=lm.tokenizer.encode("t")[0])[0]
    assert np.abs(zeros - other).max() < 1e-5
    changed = lm.scores([lm.tokenizer.encode("the ca")], pad=0)[0]     # a real token does change them
    assert np.abs(zeros - changed).max() > 1e-3
    long = lm.tokenizer.encode("the cat sat on the mat. the ")
    assert np.allclose(lm.scores([long])[0], lm.scores([long[-lm.length:]])[0])    # only the last L count


def test_softmax_output_samples_like_its_logits(lm, tmp_path):
    """The same weights ending in a softmax (read off the spec's last op): the same greedy text."""
    from seq_runs import make_lm_run

    from archspec.train.generate import generate, language_model
    from archspec.train.runs import open_target

    run = make_lm_run(tmp_path / "soft", probabilities=True, weights=lm.model.get_weights())
    soft = language_model(open_target(str(run)))
    assert soft.probabilities and not lm.probabilities
    assert generate(soft, "the ", 30, temperature=0).ids == generate(lm, "the ", 30, temperature=0).ids
    ctx = [lm.tokenizer.encode("the ")]
    logp = lm.scores(ctx)[0] - np.log(np.exp(lm.scores(ctx)[0]).sum())
    assert np.abs(soft.scores(ctx)[0] - logp).max() < 1e-4
    assert (generate(soft, "the ", 20, temperature=0.8, seed=1).ids ==
            generate(lm, "the ", 20, temperature=0.8, seed=1).ids)


def test_the_command(lm_run, cli):
    r = cli("generate", lm_run, "--prompt", "the ", "--tokens", "20", "--seed", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("the ") and r.stdout.endswith("\n") and len(r.stdout) == 4 + 20 + 1
    assert cli("generate", lm_run, "--prompt", "the ", "--tokens", "20", "--seed", "5").stdout == r.stdout
    only = cli("generate", lm_run, "--prompt", "the ", "--tokens", "20", "--seed", "5", "--continuation")
    assert only.stdout == r.stdout[4:]
    greedy = cli("generate", lm_run, "--prompt", "the ", "--tokens", "20", "--temperature", "0")
    top1 = cli("generate", lm_run, "--prompt", "the ", "--tokens", "20", "--top-k", "1", "--seed", "9")
    assert greedy.returncode == 0 and greedy.stdout == top1.stdout


@pytest.mark.parametrize("args,code,words", [
    (["--prompt", "the", "--temperature", "-1"], 2, "must be a finite number ≥ 0"),
    (["--prompt", "the", "--temperature", "nan"], 2, "must be a finite number ≥ 0"),
    (["--prompt", "the", "--top-k", "0"], 2, "must be at least 1"),
    (["--prompt", ""], 2, "--prompt is empty"),
    (["--prompt", "the Zebra"], 1, "'Z' is not in this tokenizer's 12 characters"),
])
def test_bad_command_lines(lm_run, cli, args, code, words):
    r = cli("generate", lm_run, *args)
    assert r.returncode == code and words in r.stderr, r.stderr


def test_what_generate_refuses(lm_run, tmp_path, cli):
    from seq_runs import make_image_run

    r = cli("generate", tmp_path / "none", "--prompt", "the")
    assert r.returncode == 2 and "no such run folder" in r.stderr
    r = cli("generate", make_image_run(tmp_path / "img"), "--prompt", "the")
    assert r.returncode == 2 and "is an image classifier; generate needs a language model" in r.stderr
    arrays = tmp_path / "arrays"
    shutil.copytree(lm_run, arrays)
    (arrays / "tokenizer.json").unlink()
    r = cli("generate", arrays, "--prompt", "the")
    assert r.returncode == 2 and "has no tokenizer.json" in r.stderr
    r = cli("predict", lm_run, "--data", "run")
    assert r.returncode == 2 and "is a language model" in r.stderr and "archspec generate" in r.stderr
    r = cli("generate", lm_run / "best.keras", "--prompt", "the")     # a model file inside its run: the run's
    assert r.returncode == 0
    bare = tmp_path / "bare.keras"
    shutil.copy(lm_run / "best.keras", bare)
    r = cli("generate", bare, "--prompt", "the")
    assert r.returncode == 2 and "bare model file" in r.stderr


@pytest.mark.slow                   # a fresh process loading JAX: ≈8 s of CPU
def test_the_runs_backend_is_the_default(lm_run, lm, tmp_path):
    """A run recorded as trained on JAX generates on JAX (over KERAS_BACKEND=tensorflow, which the tests set),
    through the jitted forward pass there, and greedily writes what TensorFlow writes."""
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT

    from archspec.train.backend import installed
    from archspec.train.generate import generate

    if not installed("jax"):
        pytest.skip("JAX is not installed")
    run = tmp_path / "jax_run"
    shutil.copytree(lm_run, run)
    meta = json.loads((run / "settings.json").read_text())
    meta["versions"]["backend"] = "jax"
    (run / "settings.json").write_text(json.dumps(meta))
    r = subprocess.run([sys.executable, "-m", "archspec", "generate", str(run), "--prompt", "the c", "--tokens", "30",
                        "--temperature", "0", "--continuation", "--verbose"], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "30 tokens from" in r.stderr and " on jax, temperature 0" in r.stderr
    assert r.stdout == generate(lm, "the c", 30, temperature=0).text + "\n"
