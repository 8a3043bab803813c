"""Data sources → a :class:`Dataset` of train / validation / test splits, and the checks that the
data fits the spec, all before Keras is imported.

Sources (``--data`` text, or ``training.data.source`` in the spec):

=============================  =============================================================================
``digits``                     scikit-learn's ``load_digits()``: 1,797 grey 8×8 images, 10 classes, values
                               0–16; shipped with scikit-learn, nothing to download (the embedded default)
``npz:PATH``                   ``x_train, y_train, x_test, y_test`` as ``keras.datasets`` stores them
                               (``~/.keras/datasets/mnist.npz``); ``mnist`` is that file
``cifar10:PATH``               the CIFAR-10 "python version" folder ``cifar-10-batches-py`` (pickled batches)
``folder:PATH``                image files, one sub-folder per class, optionally inside ``train/``,
                               ``validation/`` and ``test/`` (the cats-vs-dogs layout)
``synthetic[:N]``              random images of the spec's input shape and classes of its output: benchmarks
``auto``                       ``mnist`` for 28×28×1 inputs, ``cifar10`` for 32×32×3 if the file is in
                               ``~/.keras/datasets``, else ``digits``
=============================  =============================================================================

Images are kept as they are stored (uint8 0–255, or digits' 0–16); resizing, rescaling and
augmentation happen in the input pipeline (:mod:`archspec.train.pipeline`). Labels are class indices.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import Diagnostic, Loc, Note
from .dataset import NPZ_HINT, Dataset, Split, _array, _bad, _holds, _labels, _missing, _npz_kind, open_npz  # noqa: F401 (re-exported)
from .errors import DataError  # (defined without numpy: the text reader, corpus.py, raises it too)

KERAS_CACHE = Path("~/.keras/datasets")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SPLIT_NAMES = {"train": ("train", "training"), "validation": ("validation", "val", "valid"), "test": ("test",)}
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


# ---- the sources ----------------------------------------------------------------------------------
def auto_source(spec) -> tuple[str, str | None]:
    """The default source for a spec with no `training.data`: by input shape, if the file is present."""
    shape = tuple(spec.graph[spec.graph.inputs[0]].shape) if spec.graph.inputs else ()
    mnist, cifar = KERAS_CACHE.expanduser() / "mnist.npz", KERAS_CACHE.expanduser() / "cifar-10-batches-py"
    if shape == (28, 28, 1) and mnist.exists():
        return "npz", str(mnist)
    if shape == (32, 32, 3) and cifar.exists():
        return "cifar10", str(cifar)
    return "digits", None


def load_digits(opts: dict) -> Dataset:
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    d = sk_digits()
    x = d.images.astype(np.uint8)[..., None]          # 0–16 integers
    y = d.target.astype(np.int32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=opts.get("test_size", 0.2),
                                          random_state=opts.get("random_state", 0),
                                          stratify=y if opts.get("stratify", True) else None)
    return Dataset("digits", "sklearn.datasets.load_digits", Split(ytr, xtr), None, Split(yte, xte),
                   [str(i) for i in range(10)], (8, 8, 1), max_value=16.0)


def _images(x, path, key) -> np.ndarray:
    name = Path(path).name
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise _bad(path, f"'{key}' in '{name}' holds {_holds(x)} ({x.dtype}), not pixel values",
                   "images must be a uint8 or float array (n, height, width[, channels])")
    if x.ndim == 3:
        x = x[..., None]                                # (n, h, w) grey → (n, h, w, 1)
    if x.ndim != 4:
        raise _bad(path, f"'{key}' in '{name}' has shape {x.shape}; expected images (n, height, width[, channels])")
    if x.shape[3] not in (1, 2, 3, 4) and x.shape[1] in (1, 3, 4):
        raise _bad(path, f"'{key}' in '{name}' has shape {x.shape}: channels first",
                   "images are channels-last (n, height, width, channels); save numpy.transpose(x, (0, 2, 3, 1))")
    if len(x) == 0:
        raise _bad(path, f"'{key}' in '{name}' holds no images")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        i = int(np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1))[0])
        raise _bad(path, f"'{key}' in '{name}' holds NaN or infinite pixel values (image {i} is the first)")
    return x


def load_npz(path: str | None) -> Dataset:
    p = Path(path).expanduser() if path else KERAS_CACHE.expanduser() / "mnist.npz"
    with open_npz(p, "npz file", f"copy the file there (for MNIST: mnist.npz, which keras.datasets.mnist."
                  f"load_data() downloads from {MNIST_URL} into ~/.keras/datasets/), or pass --data npz:PATH") as z:
        need = ("x_train", "y_train")
        missing = [k for k in need if k not in z.files]
        if missing:
            raise _bad(p, f"'{p.name}' has no {' or '.join(repr(m) for m in missing)} (it holds {', '.join(z.files)})",
                       "a keras.datasets .npz file holds x_train, y_train, x_test, y_test")
        xtr, ytr = _images(_array(z, "x_train", p), p, "x_train"), _labels(_array(z, "y_train", p), p, "y_train")
        parts = {}
        for split in ("val", "test"):
            if f"x_{split}" in z.files and f"y_{split}" in z.files:
                ys = _labels(_array(z, f"y_{split}", p), p, f"y_{split}")
                xs = _images(_array(z, f"x_{split}", p), p, f"x_{split}")
                if len(xs) != len(ys):
                    raise _bad(p, f"x_{split} has {len(xs)} images but y_{split} {len(ys)} labels")
                parts[split] = Split(ys, xs)
        val, test = parts.get("val"), parts.get("test")
    if len(xtr) != len(ytr):
        raise _bad(p, f"x_train has {len(xtr)} images but y_train {len(ytr)} labels")
    for key, s in (("x_val", val), ("x_test", test)):
        if s is not None and s.x.shape[1:] != xtr.shape[1:]:
            raise _bad(p, f"'{key}' images are {s.x.shape[1:]} but x_train images {xtr.shape[1:]}")
    k = int(max(s.y.max() for s in (Split(ytr), val, test) if s is not None and len(s))) + 1
    maxv = 255.0 if xtr.dtype == np.uint8 else float(xtr.max()) if xtr.size else 1.0
    return Dataset("npz", str(p), Split(ytr, xtr), val, test, [str(i) for i in range(k)], tuple(xtr.shape[1:]), maxv)


class _BatchUnpickler(pickle.Unpickler):
    """CIFAR batches are pickles; allow only what they contain (numpy arrays), never arbitrary code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _cifar_batch(f: Path):
    try:
        with open(f, "rb") as fh:
            d = _BatchUnpickler(fh, encoding="bytes").load()
        d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
        data = np.asarray(d["data"], dtype=np.uint8)
        labels = np.asarray(d.get("labels", d.get("fine_labels")), dtype=np.int32)
    except Exception as exc:  # noqa: BLE001
        raise _bad(f, f"'{f.name}' is not a CIFAR-10 python batch: {exc}",
                   f"the folder must be cifar-10-batches-py unpacked from {CIFAR_URL}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise _bad(f, f"'{f.name}' holds data of shape {data.shape}; CIFAR-10 rows are 3,072 bytes (32×32×3)")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def load_cifar10(path: str | None) -> Dataset:
    p = Path(path).expanduser() if path else KERAS_CACHE.expanduser() / "cifar-10-batches-py"
    hint = (f"unpack cifar-10-python.tar.gz ({CIFAR_URL}) so that '{p}/data_batch_1' … 'data_batch_5' and "
            f"'test_batch' exist (keras.datasets.cifar10.load_data() leaves them in ~/.keras/datasets/cifar-10-batches-py)")
    if not p.is_dir():
        raise _missing("CIFAR-10 folder", p, hint)
    batches = sorted(p.glob("data_batch_*"))
    if not batches:
        raise _missing("data_batch_1 file", p / "data_batch_1", hint)
    parts = [_cifar_batch(f) for f in batches]
    xtr, ytr = np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts])
    test = Split(*reversed(_cifar_batch(p / "test_batch"))) if (p / "test_batch").exists() else None
    names = [str(i) for i in range(10)]
    if (p / "batches.meta").exists():
        try:
            with open(p / "batches.meta", "rb") as fh:
                meta = _BatchUnpickler(fh, encoding="bytes").load()
            raw = meta.get(b"label_names") or meta.get("label_names")
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw]
        except Exception:  # noqa: BLE001 - names are cosmetic
            pass
    return Dataset("cifar10", str(p), Split(ytr, xtr), None, test, names, (32, 32, 3), 255.0)


JUNK = {"thumbs.db", "desktop.ini", ".ds_store"}
DECODABLE = {"PNG", "JPEG", "MPO", "BMP", "DIB", "GIF"}     # what PIL calls the formats training decodes


def _class_files(folder: Path, skipped: list | None = None) -> dict[str, list[str]]:
    out = {}
    for d in sorted(x for x in folder.iterdir() if x.is_dir() and not x.name.startswith(".")):
        files = []
        for f in sorted(d.rglob("*")):
            if not f.is_file() or f.name.startswith(".") or f.name.lower() in JUNK:
                continue
            if f.suffix.lower() in IMAGE_EXTS:
                files.append(str(f))
            elif skipped is not None:
                skipped.append(f)
        out[d.name] = files
    return out


def _skipped_warning(skipped: list[Path], root: Path) -> Diagnostic:
    from collections import Counter

    kinds = Counter(f.suffix.lower() or "(no extension)" for f in skipped)
    shown = ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in kinds.most_common())
    examples = ", ".join(str(f.relative_to(root)) for f in skipped[:3]) + (" …" if len(skipped) > 3 else "")
    return Diagnostic("data-skipped", f"{len(skipped)} file{'s' * (len(skipped) != 1)} in the class folders "
                      f"{'are' if len(skipped) != 1 else 'is'} not an image type training reads and "
                      f"{'were' if len(skipped) != 1 else 'was'} left out ({shown}): {examples}", Loc(str(root)),
                      hint=f"training reads {', '.join(IMAGE_EXTS)}; convert the others or move them out",
                      severity="warning")


def _check_image(f: str) -> str | None:
    """Why the image file `f` cannot be decoded for training (None: it can). Verifies the container
    (PNG chunk CRCs, …) and decodes the pixels, as the input pipeline will."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(f) as im:
            fmt = im.format
            if fmt not in DECODABLE:
                return f"it is a {fmt} image; training decodes PNG, JPEG, BMP and GIF"
            im.verify()
        with Image.open(f) as im:
            if im.format in ("JPEG", "MPO"):          # decode at 1/8 scale: every byte is still parsed
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except UnidentifiedImageError:
        return "it is not an image file (or its header is damaged)"
    except FileNotFoundError:
        return "it no longer exists"
    except Exception as exc:  # noqa: BLE001 - every decoder failure is the file's problem
        return str(exc) or type(exc).__name__
    return None


def check_images(files: list[str], workers: int = 8) -> list[tuple[str, str]]:
    """(file, reason) for every image file that cannot be decoded, in file order."""
    from concurrent.futures import ThreadPoolExecutor

    if not files:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(files))) as pool:   # PIL decodes without the GIL
        reasons = list(pool.map(_check_image, files, chunksize=64))
    return [(f, r) for f, r in zip(files, reasons) if r]


def _tf_problem(f: str) -> str | None:
    """Why TensorFlow's decoder (the tf.data pipeline's) refuses `f`, or None."""
    import tensorflow as tf

    try:
        tf.io.decode_image(tf.io.read_file(f), expand_animations=False)
    except Exception as exc:  # noqa: BLE001 - the decoder's own words
        return error_text(exc)
    return None


def error_text(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message without TensorFlow's `{{function_node …}}` and `[Op:…]`."""
    import re

    text = re.sub(r"\{\{[^}]*\}\}", "", str(exc)).split(" [Op:")[0].strip()
    return (text.splitlines()[0].strip() if text else type(exc).__name__)[:limit]


def explain_failure(ds, exc: BaseException) -> DataError | None:
    """After training failed with `exc`: the image files that cannot be read now (changed since the
    check, or refused by the pipeline's own decoder), as a DataError naming them; None if none are."""
    import sys

    files = [f for s in (ds.train, ds.validation, ds.test) if s is not None and s.files for f in s.files]
    if not files:
        return None
    bad = check_images(files)
    if not bad and "tensorflow" in sys.modules:
        bad = [(f, why) for f in files if (why := _tf_problem(f))]
    if not bad:
        return None
    first = error_text(exc)
    err = unreadable_error(bad, len(files))
    d = err.diagnostics[0]
    err.diagnostics[0] = d._replace(notes=d.notes + (Note(f"training stopped: {first}"),))
    return err


def unreadable_error(bad: list[tuple[str, str]], total: int) -> DataError:
    """One error per unreadable file (up to 20, the rest counted)."""
    diags = [Diagnostic("data-format", f"cannot decode image '{Path(f).name}': {why}", Loc(f),
                        hint="remove or replace the file" if i == 0 else None)
             for i, (f, why) in enumerate(bad[:20])]
    if len(bad) > 20:
        diags.append(Diagnostic("data-format", f"… and {len(bad) - 20} more of the {total:,} image files cannot be "
                                "decoded", Loc(str(Path(bad[20][0]).parent))))
    return DataError(diags)


def _files_split(by_class: dict, names: list[str]) -> Split:
    files, labels = [], []
    for k, n in enumerate(names):
        files += by_class.get(n, [])
        labels += [k] * len(by_class.get(n, []))
    return Split(np.asarray(labels, dtype=np.int32), None, files)


def _split_hint(p: Path, opts: dict, split: str, layout: str) -> str:
    """The hint for a missing split sub-folder; says so when PATH is itself one of the split folders."""
    own = {opts.get(k) or k for k in SPLIT_NAMES} | {n for names in SPLIT_NAMES.values() for n in names}
    classes = [d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")]
    parent_has = [n for n in (opts.get(k) for k in SPLIT_NAMES) if n and (p.parent / n).is_dir()]
    if p.name in own or (classes and len(parent_has) >= 2):
        names = ", ".join(sorted(d.name for d in classes)[:4])
        return (f"'{p}' looks like the '{p.name}' split itself (its sub-folders {names} are the classes); pass the "
                f"folder that holds the splits: --data folder:{p.parent}")
    return layout.replace("PATH", str(p))


def load_folder(path: str | None, opts: dict) -> Dataset:
    if not path:
        raise DataError([Diagnostic("data-missing", "the data source is an image folder but no folder was given",
                                    None, hint="pass --data folder:PATH (one sub-folder per class, optionally "
                                               "inside train/, validation/ and test/)")])
    p = Path(path).expanduser()
    layout = ("put the images in PATH/<class>/*.png (one sub-folder per class), or in PATH/train/<class>/, "
              "PATH/validation/<class>/ and PATH/test/<class>/")
    if not p.is_dir():
        raise _missing("image folder", p, layout.replace("PATH", str(p)))
    subdirs = {d.name for d in p.iterdir() if d.is_dir()}
    splits = {}
    skipped: list[Path] = []
    for split, names in SPLIT_NAMES.items():
        wanted = (opts.get(split),) if opts.get(split) else names
        found = next((n for n in wanted if n in subdirs), None)
        if opts.get(split) and found is None:
            raise _missing(f"'{split}' sub-folder '{opts[split]}'", p / opts[split], _split_hint(p, opts, split, layout))
        if found:
            splits[split] = _class_files(p / found, skipped)
    flat = not splits
    if flat:
        splits["train"] = _class_files(p, skipped)
    if "train" not in splits:
        raise _missing("'train' sub-folder", p / "train", layout.replace("PATH", str(p)))
    names = sorted(splits["train"])
    where = p / "train" if not flat else p
    if len(names) < 2:
        raise _bad(where, f"'{where}' has {len(names)} class sub-folder{'s' * (len(names) != 1)}; "
                          "a classifier needs at least 2", layout.replace("PATH", str(p)))
    empty = [n for n in names if not splits["train"][n]]
    if empty:
        raise _bad(where / empty[0], f"class folder '{where / empty[0]}' holds no images ({', '.join(IMAGE_EXTS)})")
    for split in ("validation", "test"):
        extra = sorted(set(splits.get(split, {})) - set(names))
        if extra:
            raise _bad(p / split, f"the {split} images have classes that training lacks: {', '.join(extra)}",
                       "every class sub-folder of validation/ and test/ must also exist in train/")
    train = _files_split(splits["train"], names)
    val = _files_split(splits["validation"], names) if "validation" in splits else None
    test = _files_split(splits["test"], names) if "test" in splits else None
    every = [f for s in (train, val, test) if s is not None for f in s.files]
    bad = check_images(every)
    if bad:
        raise unreadable_error(bad, len(every))
    ds = Dataset("folder", str(p), train, val, test, names, None, 255.0)
    if skipped:
        ds.warnings.append(_skipped_warning(skipped, p))
    if flat and test is None:
        ds.train, ds.test = split_off(train, opts.get("test_size", 0.2), opts.get("random_state", 0))
        ds.notes.append(f"held out {opts.get('test_size', 0.2):.0%} of each class as the test set")
    return ds


def load_synthetic(spec, n: int) -> Dataset:
    """Random uint8 images of the spec's input shape; labels for its output. For benchmarks only."""
    g = spec.graph
    shape = tuple(g[g.inputs[0]].shape)
    if len(shape) == 1:                  # a flat input takes images of that many pixels: (n, 1, 1)
        shape = (shape[0], 1, 1)
    return synthetic(shape, g[next(iter(g.outputs.values()))].shape[-1], n)


def synthetic(shape: tuple, units: int, n: int) -> Dataset:
    k = max(2, units)
    rng = np.random.default_rng(0)

    def make(m):
        return Split(rng.integers(0, k, m, dtype=np.int32), rng.integers(0, 256, (m, *shape), dtype=np.uint8))

    m = max(1, n // 8)
    return Dataset("synthetic", f"{n} random images", make(n), make(m), make(m),
                   [str(i) for i in range(k)], shape, 255.0)


def split_off(s: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out `fraction` of every class (at least one image per class that has two), with a fixed seed."""
    rng = np.random.default_rng(seed)
    keep, out = [], []
    for c in np.unique(s.y):
        idx = np.flatnonzero(s.y == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction))
        k = min(max(k, 1 if len(idx) > 1 else 0), len(idx) - 1) if fraction > 0 else 0
        out.append(idx[:k])
        keep.append(idx[k:])
    keep, out = np.sort(np.concatenate(keep)), np.sort(np.concatenate(out))
    return s.take(keep), s.take(out)


def load(settings, spec) -> Dataset:
    """Read the data named by `settings.data`; carve a validation split if the source has none."""
    d = settings.data
    kind, path = d.source, d.path
    from .sequences import load_sequences

    if spec.graph.token_input is not None or kind == "text":
        try:
            if kind == "text" and spec.graph.token_input is None:
                inp = spec.graph[spec.graph.inputs[0]]
                raise DataError([Diagnostic(
                    "data-mismatch", f"text trains a spec whose input is token ids ([length], dtype: int32); the "
                    f"input '{inp.id}' is {tuple(inp.shape)} {getattr(inp.attrs, 'dtype', 'float32')}", inp.loc,
                    hint="declare the input as `{shape: [length], dtype: int32}` and start with a token_embedding")])
            if kind == "auto":
                d.source = "text"               # recorded in settings.json: the bundled text
            return load_sequences(kind, path, d.options, spec, settings.validation_split)
        except DataError as exc:             # a problem with no file of its own points at training.data
            loc = spec.source.loc(("training", "data")) if "data" in spec.training else Loc(spec.source.file)
            raise DataError([x._replace(loc=x.loc or loc) for x in exc.diagnostics]) from None
    auto, auto_note = kind == "auto", None
    if auto:
        kind, path = auto_source(spec)
        d.source, d.path = kind, path        # recorded in settings.json
        shape = tuple(spec.graph[spec.graph.inputs[0]].shape) if spec.graph.inputs else ()
        want = {(28, 28, 1): "mnist.npz", (32, 32, 3): "cifar-10-batches-py"}.get(shape)
        if want:
            auto_note = (f"auto: the spec names no data and there is no {KERAS_CACHE / want}, so the embedded digits "
                         f"were used; put {want} there or pass --data")
    try:
        ds = _read(kind, path, d, spec)
    except DataError as exc:                 # a problem with no file of its own points at training.data
        loc = spec.source.loc(("training", "data")) if "data" in spec.training else Loc(spec.source.file)
        raise DataError([x._replace(loc=x.loc or loc) for x in exc.diagnostics]) from None
    if auto and kind == "digits" and auto_note:
        ds.notes.append(auto_note)
    frac = settings.validation_split
    if ds.validation is None and frac is None:
        frac = 0.1
    if frac and ds.validation is None:
        ds.train, ds.validation = split_off(ds.train, frac, d.options.get("random_state", 0))
        ds.notes.append(f"validation: {frac:.0%} of the training images, the same ones on every run")
    return ds


def _read(kind, path, d, spec) -> Dataset:
    if kind == "digits":
        return load_digits(d.options)
    if kind == "npz":
        return load_npz(path)
    if kind == "cifar10":
        return load_cifar10(path)
    if kind == "folder":
        return load_folder(path, d.options)
    if kind == "synthetic":
        try:
            n = int(path) if path else d.options.get("samples", 2048)
        except ValueError:
            raise DataError([Diagnostic("data-format", f"synthetic:{path}: expected a number of images", None)]) \
                from None
        return load_synthetic(spec, n)
    raise ValueError(kind)  # pragma: no cover - config validates the kind


__all__ = ["Dataset", "Split", "DataError", "load", "auto_source", "split_off", "check_images"]
