"""Small sequence run folders for the generate / evaluate / export tests, laid out as `archspec train`
writes them (archspec/train/artifacts.py RunFolder: settings.json, spec/, best.keras, last.keras,
metrics.json; plus tokenizer.json for text runs): the tiny causal language model of
fixtures/seq/tiny_lm.yaml fitted with plain Keras for a few epochs on a short repeated text, and the
tiny classifier of fixtures/seq/tiny_classifier.yaml on token arrays whose class is their most common id."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import archspec

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "seq"
LM_SPEC = FIXTURES / "tiny_lm.yaml"
CLASSIFIER_SPEC = FIXTURES / "tiny_classifier.yaml"
TEXT = "the cat sat on the mat. the rat ate the hat. " * 12


def windows(ids, length: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every `stride`-th window of `length` ids (x) and the same window one token on (y, the next tokens)."""
    ids = np.asarray(ids, dtype=np.int32)
    starts = range(0, len(ids) - length, stride)
    return (np.stack([ids[s:s + length] for s in starts]), np.stack([ids[s + 1:s + length + 1] for s in starts]))


def write_run(out: Path, spec, model, overrides: dict, *, objective: str, plan: dict, data: tuple,
              classes: list | None = None, tokenizer=None) -> Path:
    """A run folder as archspec/train/loop.py writes it, around an already fitted `model`."""
    import keras

    from archspec.compile import save_model
    from archspec.train.artifacts import RunFolder, copy_spec, write_json
    from archspec.train.config import DataSettings, Settings

    run = RunFolder(out)
    run.path.mkdir(parents=True, exist_ok=True)
    main = copy_spec(run, spec)
    settings = Settings(DataSettings(*data), batch_size=32, seed=0, overrides=overrides,
                        loss="sparse_categorical_crossentropy")
    write_json(run.settings, {"settings": settings.to_json(), **({"objective": objective} if objective else {}),
                              "plan": {"input_shape": list(model.inputs[0].shape[1:]), "warnings": [], **plan},
                              "data": f"{data[0]} ({data[1]})", "classes": classes or [], "sample_shape": None,
                              "notes": [], "spec": main,
                              "versions": {"keras": keras.__version__, "backend": keras.backend.backend()},
                              "command": f"archspec train {main}"})
    if tokenizer is not None:
        tokenizer.save(run.path)
    save_model(model, run.best)
    save_model(model, run.last)
    write_json(run.metrics, {"test": {}, "weights": "best (restore_best_weights)"})
    return run.path


def lm_plan(vocab: int, probabilities: bool) -> dict:
    return {"loss": "sparse_categorical_crossentropy", "from_logits": not probabilities, "labels": "int",
            "units": vocab, "resize": False, "flatten": False, "channels": 1}


def make_lm_run(out: Path, *, text: str = TEXT, tokenizer: str = "chars", length: int = 16,
                probabilities: bool = False, epochs: int = 20, weights=None) -> Path:
    """Fit the tiny language model on `text` (or give it `weights`) and write its run folder at `out`."""
    import keras

    from archspec.train.tokens import Tokenizer

    tok = Tokenizer.characters(text) if tokenizer == "chars" else Tokenizer.bytes()
    overrides = {"vocabulary": tok.vocab_size, "length": length, "probabilities": probabilities}
    spec = archspec.load(LM_SPEC, overrides)
    keras.utils.set_random_seed(0)
    model = spec.to_keras()
    if weights is not None:
        model.set_weights(weights)
    else:
        model.compile(keras.optimizers.Adam(3e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities))
        x, y = windows(tok.encode(text), length, stride=3)
        model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    (out / "corpus.txt").write_text(text, encoding="utf-8")
    return write_run(out, spec, model, overrides, objective="next_token", plan=lm_plan(tok.vocab_size, probabilities),
                     data=("text", str(out / "corpus.txt"), {"tokenizer": tokenizer}), tokenizer=tok)


def classifier_data(n: int = 240, length: int = 12, vocab: int = 8, classes: int = 3, seed: int = 0):
    """Token arrays whose class is the id (below `classes`) they hold most often, ties to the lowest."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype(np.int32)
    x = rng.integers(classes, vocab, (n, length)).astype(np.int32)
    for i, c in enumerate(y):
        x[i, rng.choice(length, length // 2, replace=False)] = c
    return x, y


def make_classifier_run(out: Path, epochs: int = 30) -> Path:
    import keras

    spec = archspec.load(CLASSIFIER_SPEC)
    keras.utils.set_random_seed(0)
    model = spec.to_keras()
    model.compile(keras.optimizers.Adam(3e-2), "sparse_categorical_crossentropy")
    x, y = classifier_data()
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "tokens.npz", x=x, y=y)
    return write_run(out, spec, model, {}, objective="classify",
                     plan={"loss": "sparse_categorical_crossentropy", "from_logits": False, "labels": "int",
                           "units": 3, "resize": False, "flatten": False, "channels": 1},
                     data=("npz", str(out / "tokens.npz"), {}), classes=["a", "b", "c"])


def make_image_run(out: Path) -> Path:
    """An (untrained) image classifier's run folder: what generate must refuse."""
    spec = archspec.load_text("archspec: 1\nname: tiny_image\ninputs: {x: [8, 8, 1]}\n"
                              "model: [flatten: {}, dense: {units: 3, activation: softmax}]\n", "tiny_image.yaml")
    return write_run(out, spec, spec.to_keras(), {}, objective=None,
                     plan={"loss": "sparse_categorical_crossentropy", "from_logits": False, "labels": "int",
                           "units": 3, "resize": False, "flatten": True, "channels": 1},
                     data=("digits", None, {}), classes=["0", "1", "2"])
