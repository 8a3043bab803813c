"""Sample text from a trained language model (a run whose objective is ``next_token``).

The model takes a fixed length L of token ids and scores the next token at every position. To continue
a text, the last ≤ L tokens go in right-padded to L and the scores are read at the last real position:
with causal attention position i sees positions ≤ i only, so what the padding holds cannot change them
(a test checks it). Each new token is appended and the window slides once the text is longer than L.

Choosing the next token from the scores s (log-probabilities, or logits: the same distribution):
temperature 0 takes the most likely one (greedy, ties to the lowest id); otherwise the distribution
softmax(s / T), cut to the `top_k` most likely tokens when asked, is sampled with a NumPy generator
seeded by `seed`, so a seed gives the same text every time on the same backend and model file.
Imports NumPy; the model is already loaded (Keras) by :func:`archspec.train.runs.open_target`.
"""
# tier: extras  (the doctests need NumPy; conftest.py)
from __future__ import annotations

import codecs
import math
from dataclasses import dataclass

import numpy as np

from .errors import RunError
from .export import _dtype, takes_ids
from .tokens import TokenError, Tokenizer

OBJECTIVES = ("next_token", "classify")


def objective_of(meta: dict) -> str | None:
    """The run's objective as its settings.json records it (top level, or inside `settings`)."""
    return meta.get("objective") or (meta.get("settings") or {}).get("objective")


@dataclass
class LanguageModel:
    model: object                 # keras.Model: int ids (batch, L) [, padding mask (batch, L)] → (batch, L, V)
    tokenizer: Tokenizer | None   # None: a run on token arrays (it can be evaluated, not prompted)
    length: int                   # L, the tokens the model takes
    vocabulary: int               # V, the scores per position (≥ the tokenizer's ids)
    probabilities: bool           # the output is a softmax (else logits or log-probabilities)
    masks: int                    # how many padding-mask inputs follow the ids (1: real token, 0: padding)
    label: str

    _forward: object = None

    def forward(self, x):
        """The model on one batch, compiled once (see :func:`compiled_forward`)."""
        if self._forward is None:
            self._forward = compiled_forward(self.model)
        return self._forward(x)

    @property
    def ids(self) -> int:
        """The token ids text can hold: the tokenizer's, else every score the model gives."""
        return self.tokenizer.vocab_size if self.tokenizer is not None else self.vocabulary

    def inputs(self, windows: np.ndarray, lengths: np.ndarray | None = None, mask: np.ndarray | None = None):
        """The model's inputs for right-padded `windows` (batch, L) whose first `lengths` tokens are real
        (all of them when None; or `mask`, 1 token 0 padding): the ids in the input's dtype, then the mask
        for each padding-mask input."""
        x = [windows.astype(_dtype(self.model.inputs[0]))]
        for t in self.model.inputs[1:]:
            if mask is None:
                real = np.full(len(windows), self.length) if lengths is None else lengths
                mask = np.arange(self.length)[None, :] < real[:, None]
            x.append(np.asarray(mask).astype(_dtype(t)))
        return x[0] if len(x) == 1 else x

    def log_scores(self, windows: np.ndarray, lengths: np.ndarray | None = None,
                   mask: np.ndarray | None = None) -> np.ndarray:
        """(batch, L, V) float64 log-scores at every position: log-probabilities for a softmax output
        (renormalised and clipped to [1e-7, 1 - 1e-7] as Keras's cross-entropy does), else the logits."""
        out = np.asarray(self.forward(self.inputs(windows, lengths, mask)), dtype=np.float64)
        if self.probabilities:
            out = np.log(np.clip(out / out.sum(axis=-1, keepdims=True), 1e-7, 1 - 1e-7))
        return out

    def scores(self, contexts: list[list[int]], pad: int = 0) -> np.ndarray:
        """(batch, ids) log-scores of the token after each context (its last ≤ L ids)."""
        windows = np.full((len(contexts), self.length), pad, dtype=np.int64)
        lengths = np.zeros(len(contexts), dtype=np.int64)
        for i, ids in enumerate(contexts):
            tail = list(ids)[-self.length:]
            if not tail:
                raise RunError("an empty context has no next token to score; give at least one token")
            windows[i, :len(tail)] = tail
            lengths[i] = len(tail)
        out = self.log_scores(windows, lengths)
        return out[np.arange(len(contexts)), lengths - 1, :self.ids]


def compiled_forward(model):
    """batch → outputs of `model` (inference), compiled once. Keras's predict_on_batch is that on TensorFlow
    (≈0.7 ms a call for the tests' tiny model); on JAX it syncs the model's state around every call (≈17 ms,
    CPU time measured), so there the stateless call is jitted over the variables as they are (≈0.3 ms):
    one token of `generate` is one call."""
    import keras

    if keras.backend.backend() != "jax":
        return model.predict_on_batch
    import jax

    step = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    return lambda x: step(trainable, frozen, x)


def output_activation(target) -> str | None:
    """The activation the model's output ends with: read off the spec's last op (a run), else off the
    Keras model's last layer (a bare model file)."""
    spec = target.spec
    if spec is not None:
        from ..ops import REGISTRY

        out = spec.graph[next(iter(spec.graph.outputs.values()))]
        op = REGISTRY.get(out.op)
        return op.activation_of(out.attrs) if op is not None else None
    act = getattr(getattr(target.model.layers[-1], "activation", None), "__name__", None)
    return None if act in (None, "linear") else act


def is_sequence_run(target) -> bool:
    """A run on token sequences: it records an objective, has a tokenizer, or its model takes integer ids."""
    if objective_of(target.meta) in OBJECTIVES:
        return True
    if target.run is not None and (target.run.path / "tokenizer.json").exists():
        return True
    return takes_ids(target.model.inputs[0])


def sequence_model(target, what: str = "this") -> LanguageModel:
    """The next-token model of `target` (its tokenizer if it has one), or a RunError saying why it is none."""
    where = str(target.run.path if target.run else target.model_path)
    try:
        tok = Tokenizer.load(target.run.path) if target.run is not None else None
    except TokenError as exc:
        raise RunError(str(exc)) from None
    objective = objective_of(target.meta)
    if objective not in (None, "next_token") or (objective is None and not is_sequence_run(target)):
        kind = (f"a sequence classifier (objective {objective})" if objective == "classify" else
                f"a run with objective {objective}" if objective else "an image classifier")
        raise RunError(f"{where} is {kind}; {what} needs a language model, a run trained with objective next_token")
    model = target.model
    if len(model.outputs) != 1:
        raise RunError(f"{where}: the model has {len(model.outputs)} outputs; a language model has one, the "
                       "next-token scores (length, vocabulary)")
    first = tuple(model.inputs[0].shape[1:])
    out = tuple(model.outputs[0].shape[1:])
    if len(first) != 1 or not takes_ids(model.inputs[0]):
        raise RunError(f"{where}: the model's input is {_dtype(model.inputs[0])} {first}; a language model takes "
                       "integer token ids (length,)")
    length = first[0]
    extra = [tuple(t.shape[1:]) for t in model.inputs[1:]]
    if any(s != (length,) for s in extra):
        raise RunError(f"{where}: besides the token ids the model takes inputs of shape "
                       f"{', '.join(map(str, extra))}; only padding masks ({length},) can be fed")
    if len(out) != 2 or out[0] != length:
        raise RunError(f"{where}: the model's output is {out}; a language model scores every position, "
                       f"({length}, vocabulary)")
    if tok is not None and out[1] < tok.vocab_size:
        raise RunError(f"{where}: the model scores {out[1]} tokens but its tokenizer has {tok.vocab_size}")
    act = output_activation(target)
    if act not in (None, "softmax", "log_softmax"):
        raise RunError(f"{where}: the model's output ends with {act}; next-token scores are logits or a softmax")
    return LanguageModel(model, tok, length, out[1], act == "softmax", len(extra), target.label)


def language_model(target) -> LanguageModel:
    """The run `target` as a language model to prompt (with its tokenizer), or a RunError saying why not."""
    where = str(target.run.path if target.run else target.model_path)
    if target.run is None:
        raise RunError(f"{where} is a bare model file; generate needs its run folder, whose tokenizer.json says how "
                       "text becomes token ids")
    lm = sequence_model(target, "generate")
    if lm.tokenizer is None:
        raise RunError(f"{where} has no tokenizer.json (it was trained on token arrays, not text): there is no way "
                       "to turn a prompt into its token ids")
    return lm


def pick(scores: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> int:
    """One token id from log-scores (vocabulary,): argmax at temperature 0, else a draw from
    softmax(scores / temperature) over the `top_k` highest (all when None).

    >>> rng = np.random.default_rng(0)
    >>> s = np.log(np.array([0.1, 0.6, 0.3]))
    >>> pick(s, 0, None, rng), pick(s, 1.0, 1, rng)
    (1, 1)
    >>> sorted({pick(s, 1.0, 2, rng) for _ in range(200)})
    [1, 2]
    """
    if temperature == 0:
        return int(np.argmax(scores))
    z = scores / temperature
    if top_k is not None and top_k < len(z):
        keep = np.argsort(-z, kind="stable")[:top_k]
        cut = np.full_like(z, -np.inf)
        cut[keep] = z[keep]
        z = cut
    p = np.exp(z - np.max(z))
    c = np.cumsum(p)
    return int(min(np.searchsorted(c, rng.random() * c[-1], side="right"), len(c) - 1))


class TextStream:
    """Token ids → text as they come: whole characters only (a byte-level tokenizer's multi-byte UTF-8
    character is printed once its last byte is there; invalid bytes become U+FFFD, as decode does).

    >>> s = TextStream(Tokenizer.bytes())
    >>> [s.push(b) for b in "é!".encode()], s.push(0xC3) + s.flush()
    (['', 'é', '!'], '�')
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace") if tokenizer.kind == "bytes" else None

    def push(self, token: int) -> str:
        if self._utf8 is not None:
            return self._utf8.decode(bytes([token]) if 0 <= token < 256 else b"")
        return self.tokenizer.decode([token])

    def flush(self) -> str:
        return self._utf8.decode(b"", final=True) if self._utf8 is not None else ""


@dataclass
class Generation:
    prompt: str
    prompt_ids: list[int]
    ids: list[int]                # the new tokens
    text: str                     # the new tokens decoded
    seed: int | None
    temperature: float
    top_k: int | None


def check_options(tokens: int, temperature: float, top_k: int | None) -> None:
    if not (isinstance(tokens, int) and tokens >= 0):
        raise RunError(f"tokens must be a whole number ≥ 0, got {tokens!r}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise RunError(f"temperature must be a finite number ≥ 0 (0: greedy), got {temperature!r}")
    if top_k is not None and top_k < 1:
        raise RunError(f"top_k must be at least 1, got {top_k!r}")


def generate(lm: LanguageModel, prompt: str, tokens: int = 200, temperature: float = 1.0, top_k: int | None = None,
             seed: int | None = None, on_text=None) -> Generation:
    """Continue `prompt` by `tokens` tokens. `on_text(str)` receives the new text as it is decoded.
    Raises TokenError when the prompt holds text the tokenizer cannot encode."""
    check_options(tokens, temperature, top_k)
    ids = lm.tokenizer.encode(prompt)
    if not ids:
        raise RunError("the prompt is empty: give at least one character to continue")
    rng = np.random.default_rng(seed)
    stream = TextStream(lm.tokenizer)
    context, new, parts = list(ids), [], []
    for _ in range(tokens):
        scores = lm.scores([context])[0]
        if not np.isfinite(scores).all():
            raise RunError(f"{lm.label} gives non-finite scores (NaN or infinity) after {len(new)} new tokens: "
                           "the model's weights are broken (did its training diverge?)")
        token = pick(scores, temperature, top_k, rng)
        context.append(token)
        new.append(token)
        piece = stream.push(token)
        if piece:
            parts.append(piece)
            if on_text:
                on_text(piece)
    tail = stream.flush()
    if tail:
        parts.append(tail)
        if on_text:
            on_text(tail)
    return Generation(prompt, ids, new, "".join(parts), seed, temperature, top_k)


__all__ = ["LanguageModel", "Generation", "TextStream", "language_model", "sequence_model", "is_sequence_run",
           "generate", "pick", "objective_of", "output_activation", "check_options", "compiled_forward", "OBJECTIVES"]
