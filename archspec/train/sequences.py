"""Token data for specs whose input is a sequence of integer token ids ``[length]`` (``dtype: int32``):
text cut into windows for next-token language modelling, or an ``.npz`` of token arrays.

``text[:PATH]`` (:mod:`archspec.train.corpus` finds and reads it)
    the text → token ids with :class:`~archspec.train.tokens.Tokenizer` (``tokenizer: bytes``, the
    default, 256 ids for any text; or ``chars``, the text's own characters) → one stream cut into
    windows of ``length + 1`` tokens, each the input ``ids[i : i+length]`` and the targets
    ``ids[i+1 : i+length+1]``, one after the other (no overlap). The last, shorter window is padded;
    its padding weighs 0 in the loss. The windows are dealt to the splits at random with
    ``data.random_state``: ``test_size`` of them to test, ``validation_split`` (default 0.1) to validation.

``npz:PATH``
    ``x`` (n, length) integer token ids; ``y`` (n,) class indices for sequence classification (without
    ``y``: next-token targets, ``x`` shifted by one; ``x`` may then hold ``length + 1`` columns);
    ``mask`` (n, length[+1]) 1 for a token, 0 for padding (padding weighs 0 in the loss and is fed to a
    second, padding-mask input when the spec has one). Instead of one ``x``: ``x_train`` and optionally
    ``x_val``, ``x_test`` (with ``y_*``, ``mask_*``).

A split's ``x`` is the token ids (n, length) int32, ``y`` the targets (n, length) or labels (n,),
``mask`` the input's padding mask and ``weight`` the loss weight of each target (next-token only).
"""
# tier: extras  (the doctests need NumPy; conftest.py)
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import Diagnostic, Loc
from .dataset import Dataset, Split, _array, _bad, _holds, _labels, open_npz
from .errors import DataError
from .tokens import Tokenizer


def encode(tokenizer: Tokenizer, text: str) -> np.ndarray:
    """`tokenizer.encode(text)` as an int32 array, vectorized (a few MB of text in well under a second)."""
    if tokenizer.kind == "bytes":
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)
    points = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    table = np.array([ord(c) for c in tokenizer.chars], dtype=np.uint32)      # sorted by code point
    ids = np.searchsorted(table, points)
    bad = (ids >= len(table)) | (table[np.minimum(ids, len(table) - 1)] != points)
    if bad.any():
        tokenizer.encode(chr(int(points[int(np.flatnonzero(bad)[0])])))    # raises TokenError, naming it
    return ids.astype(np.int32)


def windows(ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A token stream → (x, y, weight), each (n, length): consecutive windows of length + 1 tokens.

    >>> x, y, w = windows(np.arange(8, dtype=np.int32), 3)
    >>> x.tolist(), y.tolist(), w.tolist()
    ([[0, 1, 2], [3, 4, 5], [6, 7, 0]], [[1, 2, 3], [4, 5, 6], [7, 0, 0]], [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    """
    targets = len(ids) - 1
    n = -(-targets // length)
    pad = np.zeros(n * length + 1, np.int32)
    pad[:len(ids)] = ids
    x = pad[:-1].reshape(n, length)
    y = pad[1:].reshape(n, length)
    w = (np.arange(n * length) < targets).astype(np.float32).reshape(n, length)
    return x, y, w


def deal(n: int, test: float, validation: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of n windows dealt at random to train / validation / test (each split sorted); every split
    asked for gets at least one window, train keeps at least one."""
    perm = np.random.default_rng(seed).permutation(n)
    k_test = min(max(int(round(n * test)), 1 if test > 0 else 0), n - 1)
    k_val = min(max(int(round(n * validation)), 1 if validation > 0 else 0), n - 1 - k_test)
    return (np.sort(perm[k_test + k_val:]), np.sort(perm[k_test:k_test + k_val]), np.sort(perm[:k_test]))


def load_text(path: str | None, opts: dict, length: int, validation: float) -> Dataset:
    from .corpus import read_corpus
    from .tokens import TokenError

    text, origin, warnings = read_corpus(path)
    kind = opts.get("tokenizer", "bytes")
    tok = Tokenizer.bytes() if kind == "bytes" else Tokenizer.characters(text)
    try:
        ids = encode(tok, text)
    except TokenError as exc:           # pragma: no cover - the tokenizer is made from this very text
        raise DataError([Diagnostic("data-format", str(exc), Loc(origin))]) from None
    test = opts.get("test_size", 0.2)
    need = 1 + (test > 0) + (validation > 0)
    if len(ids) - 1 < need * length:
        where = Path(path).expanduser() if path else Path(origin)
        raise DataError([Diagnostic(
            "data-format", f"'{where}' holds {len(ids):,} tokens, too few for {need} windows of {length} (one each for "
            f"training{', validation' * (validation > 0)}{' and test' * (test > 0)})", Loc(str(where)),
            hint=f"use more text (at least {need * length + 1:,} {kind}), or a shorter input length")])
    x, y, w = windows(ids, length)
    tr, va, te = deal(len(x), test, validation, opts.get("random_state", 0))

    def split(idx):
        return Split(y[idx], x[idx], weight=w[idx]) if len(idx) else None

    ds = Dataset("text", origin, split(tr), split(va), split(te), [], (length,), 0.0, warnings=list(warnings))
    ds.tokenizer, ds.vocab_size, ds.objective, ds.tokens = tok, tok.vocab_size, "next_token", int(len(ids))
    ds.digest = hashlib.sha256(ids.tobytes()).hexdigest()[:16]
    ds.notes.append(f"{len(ids):,} {'bytes' if kind == 'bytes' else 'characters'} in {len(x):,} windows of {length}; "
                    f"{len(va)} to validation, {len(te)} to test (data.random_state {opts.get('random_state', 0)})")
    return ds


def _ids(a, p: Path, key: str) -> np.ndarray:
    name = p.name
    a = np.asarray(a)
    if a.dtype.kind not in "iub":
        raise _bad(p, f"'{key}' in '{name}' holds {_holds(a)} ({a.dtype}), not token ids",
                   "token ids are integers 0…vocabulary-1: save x.astype('int32')")
    if a.ndim != 2:
        raise _bad(p, f"'{key}' in '{name}' has shape {a.shape}; token ids are one row per sequence (n, length)")
    if len(a) == 0:
        raise _bad(p, f"'{key}' in '{name}' holds no sequences")
    if a.size and a.min() < 0:
        i = np.unravel_index(int(a.argmin()), a.shape)
        raise _bad(p, f"'{key}' in '{name}' holds negative token ids ({int(a.min())} in row {i[0]}, column {i[1]})",
                   "token ids are 0…vocabulary-1; padding is 0 with a mask array saying where it is")
    if a.size and a.max() > np.iinfo(np.int32).max:
        raise _bad(p, f"'{key}' in '{name}' holds token ids beyond int32 ({int(a.max())})")
    return a.astype(np.int32)


def _mask(a, p: Path, key: str, shape: tuple) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != shape:
        raise _bad(p, f"'{key}' in '{p.name}' has shape {a.shape} but its token ids {shape}",
                   "a mask has one 1 (token) or 0 (padding) per token id")
    if a.dtype.kind not in "biuf" or not np.isin(a, (0, 1)).all():
        raise _bad(p, f"'{key}' in '{p.name}' holds values other than 0 and 1", "a mask is 1 for a token, 0 for padding")
    return a.astype(np.int32)


def _tokens_split(z, p: Path, suffix: str, length: int, labelled: bool) -> Split | None:
    """x{suffix}, y{suffix}, mask{suffix} of an open archive as a Split, or None without x{suffix}."""
    xk, yk, mk = f"x{suffix}", f"y{suffix}", f"mask{suffix}"
    if xk not in z.files:
        return None
    x = _ids(_array(z, xk, p), p, xk)
    mask = _mask(_array(z, mk, p), p, mk, x.shape) if mk in z.files else None
    if labelled:
        if yk not in z.files:
            raise _bad(p, f"'{p.name}' has '{xk}' but no '{yk}'", "every x array of labelled data comes with its labels")
        y = _labels(_array(z, yk, p), p, yk)
        if len(y) != len(x):
            raise _bad(p, f"'{xk}' in '{p.name}' has {len(x)} sequences but '{yk}' {len(y)} labels")
        if x.shape[1] != length:
            raise _bad(p, f"'{xk}' in '{p.name}' holds sequences of {x.shape[1]} tokens but the spec's input takes "
                          f"{length}", f"pad or cut them to {length} (with a mask for the padding), or set the "
                          f"input's length to {x.shape[1]}")
        return Split(y, x, mask=mask)
    if x.shape[1] == length + 1:            # the targets' extra token is there: shift within the row
        w = (mask[:, 1:] * mask[:, :-1]).astype(np.float32) if mask is not None else np.ones((len(x), length), np.float32)
        return Split(x[:, 1:], x[:, :-1], mask=None if mask is None else mask[:, :-1], weight=w)
    if x.shape[1] != length:
        raise _bad(p, f"'{xk}' in '{p.name}' holds sequences of {x.shape[1]} tokens but the spec's input takes "
                      f"{length}", f"for next-token training save {length} tokens per row ({length + 1} to "
                      "give the last position a target too), or change the input's length")
    y = np.zeros_like(x)
    y[:, :-1] = x[:, 1:]
    w = np.ones(x.shape, np.float32)
    w[:, -1] = 0                             # the last token's successor is not in the row
    if mask is not None:
        w[:, :-1] *= mask[:, 1:] * mask[:, :-1]
    return Split(y, x, mask=mask, weight=w)


def load_tokens(path: str | None, opts: dict, length: int, validation: float) -> Dataset:
    if not path:
        raise DataError([Diagnostic("data-missing", "the data source is an .npz of token ids but no file was given",
                                    None, hint="pass --data npz:FILE with x (n, length) token ids [, y labels]")])
    p = Path(path).expanduser()
    with open_npz(p, "npz file", "pass --data npz:FILE: numpy.savez(FILE, x=token_ids[, y=labels, mask=...])") as z:
        single = "x" in z.files
        if not single and "x_train" not in z.files:
            raise _bad(p, f"'{p.name}' has no 'x' (it holds {', '.join(z.files) or 'nothing'})",
                       "token data is numpy.savez(FILE, x=ids (n, length)[, y=labels (n,)][, mask=...]), or x_train, "
                       "x_val, x_test")
        labelled = ("y" if single else "y_train") in z.files
        parts = {s: _tokens_split(z, p, s, length, labelled) for s in (("",) if single else ("_train", "_val", "_test"))}
    if single:
        whole = parts[""]
        test = opts.get("test_size", 0.2)
        tr, va, te = deal(len(whole), test, validation, opts.get("random_state", 0))
        train, val, tst = (whole.take(i) if len(i) else None for i in (tr, va, te))
    else:
        train, val, tst = parts["_train"], parts["_val"], parts["_test"]
        if val is None and validation:
            tr, va, _ = deal(len(train), 0.0, validation, opts.get("random_state", 0))
            train, val = train.take(tr), train.take(va)
    vocab = int(max(int(s.x.max()) for s in (train, val, tst) if s is not None)) + 1
    k = int(max(int(s.y.max()) for s in (train, val, tst) if s is not None and len(s))) + 1 if labelled else 0
    ds = Dataset("npz", str(p), train, val, tst, [str(i) for i in range(k)], (length,), 0.0)
    ds.vocab_size, ds.objective, ds.tokens = vocab, "classify" if labelled else "next_token", None
    return ds


def load_sequences(kind: str, path: str | None, opts: dict, spec, validation: float | None) -> Dataset:
    """The token data for `spec` (its first input: token ids of the length the windows take)."""
    length = int(spec.graph.token_input.shape[0])
    frac = 0.1 if validation is None else validation
    if kind in ("text", "auto"):
        return load_text(path, opts, length, frac)
    if kind == "npz":
        return load_tokens(path, opts, length, frac)
    if kind == "folder":                     # a folder given to a token spec is text
        return load_text(path, opts, length, frac)
    inp = spec.graph.token_input
    raise DataError([Diagnostic("data-mismatch", f"the data source '{kind}' holds images but the input "
                                f"'{inp.id}' is token ids ({length},)", inp.loc,
                                hint="train token specs on text (--data text:FILE, or --data text for archspec's "
                                     "own documentation) or on an .npz of token ids (--data npz:FILE)")])


__all__ = ["encode", "windows", "deal", "load_text", "load_tokens", "load_sequences"]
