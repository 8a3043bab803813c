"""Evaluate a run on token sequences: a language model's loss, perplexity and next-token accuracy, or a
sequence classifier's accuracy, per-class table and confusion matrix (through :mod:`.evaluate`).

Next-token scoring: position t of a window predicts the token at t + 1. The split's targets are its `y`
when it has one per position (shape of `x`), else `x` shifted by one (a window of L + 1 ids gives L
inputs and L targets; a window of L ids scores its first L − 1 positions). Targets outside the
vocabulary (negative ids mark padding) are not scored. The loss is the mean cross-entropy in nats per
scored token, as Keras's sparse categorical cross-entropy computes it (a softmax output is clipped to
[1e-7, 1 − 1e-7]); perplexity = exp(loss); bits per token = loss / ln 2. The unigram baseline is the
entropy of the split's own target frequencies: what a model that knows only how often each token
occurs would score (a trained model should be well below it).
"""
# tier: extras  (the doctests need NumPy; conftest.py)
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import runs
from .artifacts import write_json
from .errors import RunError
from .export import _dtype
from .generate import LanguageModel, objective_of


@dataclass
class TokenEvaluation:
    model: str
    data: str
    split: str
    sequences: int
    tokens: int                   # scored next-token predictions (weight > 0)
    loss: float                   # mean cross-entropy, nats per token
    perplexity: float
    bits_per_token: float
    accuracy: float               # the most likely next token is the right one
    unigram_loss: float           # entropy of the split's target frequencies (nats)
    unigram_perplexity: float
    files: dict

    def to_json(self) -> dict:
        return dict(vars(self))

    def table(self) -> str:
        lines = [f"{self.model} on {self.data}, {self.split} split: {self.sequences:,} sequences, "
                 f"{self.tokens:,} next-token predictions",
                 f"loss {self.loss:.4f} nats/token   perplexity {self.perplexity:.3f}   "
                 f"{self.bits_per_token:.3f} bits/token   next-token accuracy {self.accuracy:.4f}",
                 f"unigram baseline (token frequencies of this split): loss {self.unigram_loss:.4f}, "
                 f"perplexity {self.unigram_perplexity:.3f}"]
        lines += [f"{what}: {path}" for what, path in self.files.items()]
        return "\n".join(lines) + "\n"


def next_token_pairs(x: np.ndarray, y: np.ndarray | None, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (n, L), targets (n, L)) from a split's arrays; -1 marks a position with nothing to score.

    >>> x = np.array([[5, 6, 7, 8]])
    >>> next_token_pairs(x, None, 4)[1].tolist(), next_token_pairs(x, None, 3)[1].tolist()
    ([[6, 7, 8, -1]], [[6, 7, 8]])
    >>> next_token_pairs(x, x + 1, 4)[1].tolist()
    [[6, 7, 8, 9]]
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise RunError(f"token sequences are (sequences, length) arrays; the split's x has shape {x.shape}")
    if y is not None and np.shape(y) == x.shape and x.shape[1] == length:
        return x, np.asarray(y)
    if x.shape[1] == length + 1:
        return x[:, :-1], x[:, 1:]
    if x.shape[1] == length:
        return x, np.concatenate([x[:, 1:], np.full((len(x), 1), -1, x.dtype)], axis=1)
    raise RunError(f"the split's sequences have {x.shape[1]} tokens; the model takes {length}")


def cross_entropy_sums(log_scores: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None):
    """(Σ w·cross-entropy in nats, Σ w, Σ w·[argmax right], Σ w per target id, scored positions) for
    log-scores (n, L, V) — logits or log-probabilities — and targets (n, L); each position weighs `weights`
    (1 when None; Keras's sample weights, 0 for padding), ids outside 0…V-1 weigh 0."""
    v = log_scores.shape[-1]
    w = np.ones(targets.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    w = np.where((targets >= 0) & (targets < v), w, 0.0)
    z = log_scores - log_scores.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    t = np.where(w > 0, targets, 0).astype(np.int64)
    ce = -np.take_along_axis(logp, t[..., None], axis=-1)[..., 0]
    right = log_scores.argmax(axis=-1) == t
    return (float((w * ce).sum()), float(w.sum()), float((w * right).sum()),
            np.bincount(t.ravel(), weights=w.ravel(), minlength=v), int((w > 0).sum()))


def evaluate_tokens(lm: LanguageModel, x: np.ndarray, y: np.ndarray | None = None, batch_size: int = 64,
                    label: str = "", data: str = "", split: str = "test", weight: np.ndarray | None = None,
                    mask: np.ndarray | None = None) -> TokenEvaluation:
    """Score every window of `x` (see the module doc for the targets), one batch at a time; `weight`
    (n, L) weighs each target as training did (0: padding), `mask` feeds a padding-mask input."""
    inputs, targets = next_token_pairs(x, y, lm.length)
    if len(inputs) == 0:
        raise RunError(f"the {split} split holds no sequences")
    if weight is not None and np.shape(weight) != targets.shape:
        weight = None
    total = [0.0, 0.0, 0.0, np.zeros(lm.vocabulary), 0]
    for s in range(0, len(inputs), batch_size):
        part = slice(s, s + batch_size)
        got = cross_entropy_sums(lm.log_scores(inputs[part], mask=None if mask is None else mask[part]),
                                 targets[part], None if weight is None else weight[part])
        total = [a + b for a, b in zip(total, got)]
    nll, w, right, counts, n = total
    if w <= 0:
        raise RunError(f"the {split} split has no token to score (every target is padding)")
    loss = nll / w
    f = counts[counts > 0] / counts.sum()
    uni = float(-(f * np.log(f)).sum())
    return TokenEvaluation(label or lm.label, data, split, len(inputs), n, loss, math.exp(loss), loss / math.log(2),
                           right / w, uni, math.exp(uni), {})


def sequence_split(target, data_arg: str | None, split: str):
    """(Dataset, the split) of a sequence run's data (default: its own), read by the training data loader."""
    from . import data as data_mod
    from .config import parse_data_arg

    if target.spec is None:
        raise RunError(f"{target.model_path} is a bare model file: evaluate a sequence model from its run folder")
    settings = replace(target.settings, data=replace(target.settings.data))
    if data_arg:
        settings.data.source, settings.data.path = parse_data_arg(data_arg)
    ds = data_mod.load(settings, target.spec)
    return ds, runs.split_of(ds, split)


def evaluate_sequence_run(target, data_arg: str | None, split: str = "test", out_dir: Path | None = None,
                          top_k: int = 5, batch_size: int = 64):
    """evaluate for a run on token sequences: a TokenEvaluation (next_token) or an Evaluation (classify)."""
    from .generate import sequence_model

    ds, part = sequence_split(target, data_arg, split)
    out_dir = Path(out_dir) if out_dir else target.default_out / f"evaluation-{split}"
    what = ds.describe().split(":")[0]
    if objective_of(target.meta) == "classify":
        from .evaluate import report

        x, mask = np.asarray(part.x), getattr(part, "mask", None)
        model = target.model

        def batch(s):
            ids = x[s:s + batch_size].astype(_dtype(model.inputs[0]))
            extra = [(np.ones(ids.shape) if mask is None else mask[s:s + batch_size]).astype(_dtype(t))
                     for t in model.inputs[1:]]                     # padding-mask inputs
            return runs.to_probabilities(np.asarray(model.predict_on_batch([ids, *extra] if extra else ids),
                                                    np.float64), target.plan)

        probs = np.concatenate([batch(s) for s in range(0, len(x), batch_size)])
        return report(target, what, split, probs, part.y, runs.class_names(target, ds), target.plan.units, top_k,
                      out_dir, "sequences")
    lm = sequence_model(target, "evaluate's next-token scoring")
    theirs = getattr(ds, "tokenizer", None)
    if lm.tokenizer is not None and theirs is not None and theirs != lm.tokenizer:
        raise RunError(f"the data's text makes a {theirs.kind} tokenizer of {theirs.vocab_size} ids but the run's has "
                       f"{lm.tokenizer.vocab_size} ({lm.tokenizer.kind}): a character-level run reads only text of the "
                       "characters it was trained on; evaluate it on its own data (leave out --data)")
    ev = evaluate_tokens(lm, part.x, part.y, batch_size, target.label, what, split, getattr(part, "weight", None),
                         getattr(part, "mask", None))
    ev.files = {"report": str(out_dir / "evaluation.json")}
    write_json(out_dir / "evaluation.json", ev.to_json())
    return ev


__all__ = ["TokenEvaluation", "next_token_pairs", "cross_entropy_sums", "evaluate_tokens", "sequence_split",
           "evaluate_sequence_run"]
