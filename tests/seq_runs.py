"""Small sequence run folders for the generate / evaluate / export tests, laid out as `archspec train`
writes them (archspec/train/artifacts.py RunFolder: settings.json, spec/, best.keras, last.keras,
metrics.json; plus tokenizer.json for text runs): the tiny causal language model of
fixtures/seq/tiny_lm.yaml fitted with plain Keras for a few epochs on a short repeated text."""
from __future__ import annotations

from pathlib import Path

import numpy as np


import archspec

LM_SPEC = Path(__file__).resolve().parent / "fixtures" / "seq" / "tiny_lm.yaml"
TEXT = "the cat sat on the mat. the rat ate the hat. " * 12


def windows(ids, length: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every window of `length` ids (x) and the same window one token on (y, the next tokens)."""
    ids = np.asarray(ids, dtype=np.int32)
    starts = range(0, len(ids) - length, stride)
    return (np.stack([ids[s:s + length] for s in starts]), np.stack([ids[s + 1:s + length + 1] for s in starts]))


def make_lm_run(out: Path, *, text: str = TEXT, tokenizer: str = "chars", length: int = 16,
                probabilities: bool = False, epochs: int = 8, seed: int = 0) -> Path:
    """Fit the tiny language model on `text` and write its run folder at `out`."""
    import keras

    from archspec.compile import save_model
    from archspec.train.artifacts import RunFolder, copy_spec, write_json
    from archspec.train.config import DataSettings, Settings
    from archspec.train.tokens import Tokenizer

    tok = Tokenizer.characters(text) if tokenizer == "chars" else Tokenizer.bytes()
    overrides = {"vocabulary": tok.vocab_size, "length": length, "probabilities": probabilities}
    spec = archspec.load(LM_SPEC, overrides)
    keras.utils.set_random_seed(seed)
    model = spec.to_keras()
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities))
    x, y = windows(tok.encode(text), length, stride=3)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    run = RunFolder(out)
    run.path.mkdir(parents=True, exist_ok=True)
    main = copy_spec(run, spec)
    (run.path / "corpus.txt").write_text(text, encoding="utf-8")
    settings = Settings(DataSettings("text", str(run.path / "corpus.txt"), {"tokenizer": tokenizer}),
                        epochs=epochs, batch_size=32, seed=seed, overrides=overrides,
                        loss="sparse_categorical_crossentropy")
    plan = {"input_shape": [length], "loss": "sparse_categorical_crossentropy", "from_logits": not probabilities,
            "labels": "int", "units": tok.vocab_size, "resize": False, "flatten": False, "channels": 1}
    write_json(run.settings, {"settings": settings.to_json(), "objective": "next_token", "plan": plan,
                              "data": f"text ({out / 'corpus.txt'})", "classes": [], "sample_shape": None,
                              "notes": [], "spec": main,
                              "versions": {"keras": keras.__version__, "backend": keras.backend.backend()},
                              "command": f"archspec train {main}"})
    tok.save(run.path)
    save_model(model, run.best)
    save_model(model, run.last)
    write_json(run.metrics, {"test": {}, "weights": "best (restore_best_weights)"})
    return run.path
