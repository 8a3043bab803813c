"""The containers of training data — a :class:`Dataset` of :class:`Split` s — and the readers' shared
checks of ``.npz`` archives and label arrays, used by the image sources (:mod:`archspec.train.data`) and
the token sources (:mod:`archspec.train.sequences`) alike."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Diagnostic, Loc
from .errors import DataError


@dataclass
class Split:
    y: np.ndarray                         # class indices, int32, shape (n,); next-token targets (n, length)
    x: np.ndarray | None = None           # images (n, h, w, c), as stored; token ids (n, length) int32
    files: list[str] | None = None        # or image files, decoded by the pipeline
    mask: np.ndarray | None = None        # token sequences: 1 token, 0 padding (n, length) (sequences.py)
    weight: np.ndarray | None = None      # next-token targets: each one's loss weight (n, length), 0 for padding

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx) -> "Split":
        def pick(a):
            return None if a is None else a[idx]

        return Split(self.y[idx], pick(self.x), None if self.files is None else [self.files[i] for i in idx],
                     pick(self.mask), pick(self.weight))


@dataclass
class Dataset:
    kind: str
    origin: str                           # what was read (a path, or 'sklearn.datasets.load_digits')
    train: Split
    validation: Split | None
    test: Split | None
    class_names: list[str]
    sample_shape: tuple | None            # (h, w, c) of array sources; None for files
    max_value: float = 255.0              # the largest pixel value the source can hold
    notes: list[str] = field(default_factory=list)
    warnings: list = field(default_factory=list)     # Diagnostics (severity warning) found while reading
    # token data (sequences.py): what the data can train, the ids it holds, its tokenizer (text)
    objective: str | None = None          # next_token | classify; None: images
    vocab_size: int | None = None         # ids are 0 … vocab_size − 1
    tokenizer: object = None              # a tokens.Tokenizer for text; None for token arrays
    tokens: int | None = None             # text: tokens in the whole text
    digest: str | None = None             # text: a hash of its token ids (the splits are dealt from them)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        parts = [f"{len(self.train):,} train"]
        parts += [f"{len(s):,} {n}" for n, s in (("validation", self.validation), ("test", self.test)) if s]
        if self.objective is not None:
            what = (f"{self.tokenizer.kind} tokens ({self.vocab_size} ids)" if self.tokenizer is not None
                    else f"token ids < {self.vocab_size}")
            goal = "next token" if self.objective == "next_token" else f"{self.num_classes} classes"
            return (f"{self.kind} ({self.origin}): {self.sample_shape[0]}-token windows of {what}, {goal}; "
                    f"{', '.join(parts)}")
        shape = "×".join(map(str, self.sample_shape)) if self.sample_shape else "image files"
        return f"{self.kind} ({self.origin}): {shape}, {self.num_classes} classes; {', '.join(parts)}"




def _missing(what: str, path: Path, hint: str) -> DataError:
    return DataError([Diagnostic("data-missing", f"no {what} at '{path}'", Loc(str(path)), hint=hint)])


def _holds(a) -> str:
    """What an array that should hold numbers holds instead, in words: 'strings', 'Python objects', …"""
    return {"f": "floating-point numbers", "U": "strings", "S": "bytes", "O": "Python objects",
            "c": "complex numbers"}.get(a.dtype.kind, str(a.dtype))


def _bad(path, message: str, hint: str | None = None) -> DataError:
    return DataError([Diagnostic("data-format", message, Loc(str(path)), hint=hint)])


def _labels(y, path, key) -> np.ndarray:
    name = Path(path).name
    y = np.asarray(y)
    if y.dtype.kind in "USO":
        sample = ", ".join(repr(v) for v in y.reshape(-1)[:3].tolist())
        raise _bad(path, f"'{key}' in '{name}' holds {'strings' if y.dtype.kind in 'US' else 'Python objects'} "
                         f"({sample}…), not class indices",
                   "labels must be integer class indices 0…K-1; turn names into indices before saving, e.g. "
                   "classes, y = numpy.unique(names, return_inverse=True)")
    if y.dtype.kind not in "biuf":
        raise _bad(path, f"'{key}' in '{name}' has dtype {y.dtype}; labels must be integer class indices 0…K-1")
    if y.ndim == 2 and y.shape[1] > 1:                 # one-hot
        y = y.argmax(axis=1)
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise _bad(path, f"'{key}' in '{name}' has shape {y.shape}; labels are one class index per image (n,) "
                         "or one-hot rows (n, classes)")
    y = y.reshape(len(y)) if y.ndim else y.reshape(1)
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise _bad(path, f"'{key}' in '{name}' holds NaN or infinite labels "
                             f"(first at index {int(np.flatnonzero(~np.isfinite(y))[0])})",
                       "labels must be class indices 0…K-1")
        bad = np.flatnonzero(np.mod(y, 1) != 0)
        if len(bad):
            raise _bad(path, f"'{key}' in '{name}' holds non-integer labels ({y.dtype}, e.g. {y[bad[0]]!r} at index "
                             f"{int(bad[0])})", "labels must be class indices 0…K-1")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise _bad(path, f"'{key}' in '{name}' holds negative labels (min {y.min()} at index {int(y.argmin())})",
                   "labels must be class indices 0…K-1")
    return y.astype(np.int32)


def _npz_kind(p: Path) -> str | None:
    """What a file that should be an .npz archive is instead (None: it looks like one)."""
    with open(p, "rb") as fh:
        head = fh.read(64)
    if head.startswith(b"PK"):
        return None
    if head.startswith(b"\x93NUMPY"):
        return "a single .npy array, not an .npz archive"
    if not head:
        return "empty"
    try:
        text = head.decode("utf-8")
        first = text.splitlines()[0][:40] if text.strip() else ""
        return f"text ('{first}…'), not an .npz archive"
    except UnicodeDecodeError:
        return "not an .npz archive (a zip file of .npy arrays)"


NPZ_HINT = ("an .npz file is what numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...) writes, as "
            "keras.datasets stores it")


def open_npz(p: Path, what: str, hint: str):
    """The .npz archive at `p`, opened without pickles (use it in a `with`); a missing file, a file that is
    not an archive (an .npy array, text, nothing) or one numpy cannot read is a DataError naming the file.
    `what` and `hint` say, for a missing file, what was expected and how to supply it."""
    if not p.is_file():
        raise _missing(what, p, hint)
    kind = _npz_kind(p)
    if kind:
        raise _bad(p, f"'{p.name}' is {kind}", NPZ_HINT)
    try:
        return np.load(p, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a format problem
        raise _bad(p, f"cannot read '{p.name}' as an .npz archive: {exc}", NPZ_HINT) from None


def _array(z, key: str, p: Path) -> np.ndarray:
    """Read one array of an open .npz archive; every reader failure names the array."""
    try:
        return z[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise _bad(p, f"'{key}' in '{p.name}' holds Python objects (an object array), which archspec does not "
                          "unpickle", "save numbers only: integer class indices for labels, a uint8 or float array "
                          "(n, height, width[, channels]) for images") from None
        raise _bad(p, f"'{key}' in '{p.name}' cannot be read: {exc}", NPZ_HINT) from None
    except Exception as exc:  # noqa: BLE001 - zlib/zip/CRC errors, truncated members: the array is damaged
        raise _bad(p, f"'{key}' in '{p.name}' is damaged: {exc}",
                   "the file is corrupt or truncated; copy it again (or write it again with numpy.savez)") from None


__all__ = ["Dataset", "Split", "DataError", "NPZ_HINT"]
