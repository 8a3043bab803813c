"""Export a trained model for inference through Keras's own ``model.export``: a TensorFlow SavedModel,
an ONNX file or a TFLite (LiteRT) flat buffer; ``.keras`` / ``.h5`` are Keras's own save formats.

What each Keras backend can export (Keras 3.15; the packages each route needs are checked up front,
before training when the spec's ``save:`` asks for an export, without importing Keras):

==============  ========================  =========================  ======================
format          tensorflow backend        jax backend                torch backend
==============  ========================  =========================  ======================
saved_model     yes                       yes (needs tensorflow)     no
onnx            yes (needs tf2onnx)       yes (needs jax2onnx)       yes (torch.onnx)
tflite          yes                       no                         yes (needs litert-torch)
==============  ========================  =========================  ======================

A run's input preprocessing — ``rescale`` and flattening — goes into the exported model (a Rescaling
and a Reshape layer in front), so the artifact takes pixels as the data stores them; ``raw=True``
exports the bare network. After writing, the artifact is loaded in its own runtime (onnxruntime,
``tf.saved_model.load``, the TFLite interpreter) and run on the same inputs as the Keras model, and
the largest difference is reported.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("saved_model", "onnx", "tflite")
KERAS_FORMAT = {"saved_model": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}
SUFFIXES = {".keras": "keras", ".h5": "h5", ".onnx": "onnx", ".tflite": "tflite"}
# (backend, format) -> the modules that route needs (pip name in brackets when it differs)
NEEDS = {
    ("tensorflow", "saved_model"): ["tensorflow"], ("tensorflow", "onnx"): ["tf2onnx", "onnx"],
    ("tensorflow", "tflite"): ["tensorflow"],
    ("jax", "saved_model"): ["tensorflow"], ("jax", "onnx"): ["jax2onnx"],
    ("torch", "onnx"): ["onnx"], ("torch", "tflite"): ["litert_torch"],
}
PIP = {"tensorflow": "tensorflow-cpu", "litert_torch": "litert-torch", "tf2onnx": "tf2onnx", "onnx": "onnx",
       "jax2onnx": "jax2onnx"}


class ExportError(Exception):
    """The model cannot be exported in that format here (message says why and what to do)."""


def backend_name() -> str:
    """The Keras backend a run will use, without importing Keras: the loaded one, else what
    `archspec.train.backend.choose` settles (KERAS_BACKEND, keras.json if installed, else auto)."""
    import sys

    if "keras" in sys.modules:
        try:
            return sys.modules["keras"].backend.backend()
        except AttributeError:
            pass
    from .backend import choose
    from .errors import RunError

    try:
        return choose(None)
    except RunError:
        return os.environ.get("KERAS_BACKEND") or "tensorflow"


def format_of(name: str) -> str:
    """`save:` name → format: by suffix; a name without one is a SavedModel folder."""
    suffix = Path(name).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if not suffix or name.endswith(("/", os.sep)):
        return "saved_model"
    raise ExportError(f"'{name}': unknown model format '{suffix}'; use .keras, .h5 (legacy), .onnx, .tflite, or a "
                      "name without a suffix for a TensorFlow SavedModel folder")


def check_supported(fmt: str, backend: str | None = None) -> None:
    """Raise ExportError if `fmt` cannot be written with `backend` in this environment."""
    if fmt in ("keras", "h5"):
        return
    backend = backend or backend_name()
    if (backend, fmt) not in NEEDS:
        can = [f for (b, f) in NEEDS if b == backend]
        raise ExportError(f"Keras cannot export {fmt} from the {backend} backend"
                          + (f" (it can: {', '.join(can)})" if can else "") +
                          f"; train with KERAS_BACKEND=tensorflow, or export the run later with "
                          f"KERAS_BACKEND=tensorflow archspec export RUN --format {fmt}")
    missing = [m for m in NEEDS[(backend, fmt)] if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(f"{fmt} export on the {backend} backend needs {' and '.join(missing)}, which is not "
                          f"installed: pip install {' '.join(PIP.get(m, m) for m in missing)}")


@dataclass
class Exported:
    path: Path
    format: str
    bytes: int
    input_name: str
    input_shape: tuple
    preprocessing: str          # what the artifact does before the network ('' for none)
    max_diff: float | None      # artifact vs Keras on the check inputs; None if the runtime is absent
    runtime: str                # what ran the check (or why it did not)
    samples: int
    inputs: list = None         # [(name, dtype, shape)] of every input (the first is input_name/input_shape)


def inference_model(model, rescale: float | None = None, flatten_from: tuple | None = None):
    """`model` with the run's preprocessing in front (float32): Rescaling, then Reshape to the flat input."""
    import keras

    if rescale is None and flatten_from is None:
        return model, ""
    shape = tuple(flatten_from) if flatten_from else tuple(model.inputs[0].shape[1:])
    inp = keras.Input(shape=shape, name=model.inputs[0].name.split(":")[0], dtype="float32")
    x, what = inp, []
    if rescale is not None:
        x = keras.layers.Rescaling(rescale, name="rescale")(x)
        what.append(f"×{rescale:g}")
    if flatten_from:
        x = keras.layers.Reshape(tuple(model.inputs[0].shape[1:]), name="flatten_input")(x)
        what.append(f"reshape {'×'.join(map(str, shape))} → {model.inputs[0].shape[-1]}")
    out = model(x)
    return keras.Model(inp, out, name=model.name), ", ".join(what)


def float32_copy(model, rebuild=None):
    """`model` itself if every layer computes in float32, else `rebuild()` (the same network under float32)
    with its weights: ONNX and TFLite export need a float32 dtype policy."""
    mixed = any(getattr(getattr(layer, "dtype_policy", None), "name", "float32") != "float32" for layer in model.layers)
    if not mixed:
        return model
    if rebuild is None:
        raise ExportError("the model computes in mixed precision; export needs float32 (export it from its run "
                          "folder, which rebuilds it in float32)")
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        clean = rebuild()
    finally:
        keras.config.set_dtype_policy(previous)
    clean.set_weights(model.get_weights())
    return clean


def _dtype(tensor) -> str:
    return str(getattr(tensor, "dtype", "float32")).replace("tf.", "")


def _is_int(dtype: str) -> bool:
    return dtype.startswith(("int", "uint"))


def _is_mask(dtype: str) -> bool:
    return dtype == "bool"


def takes_ids(tensor) -> bool:
    """Whether a model input takes integers (token ids, masks) rather than pixels or features."""
    return _is_int(_dtype(tensor))


def id_range(model) -> int:
    """How many token ids the model's integer inputs may hold: the smallest embedding table it has
    (a layer with `input_dim`), else 2."""
    dims = [int(layer.input_dim) for layer in model.layers if isinstance(getattr(layer, "input_dim", None), int)]
    return min(dims) if dims else 2


def check_inputs_for(model, n: int = 8) -> list:
    """Inputs to run an exported model and Keras on: pixels in the range the artifact takes for a float
    input (0–1/rescale), token ids within the embedding table for the first integer input, and masks of
    ones with a padded tail for further integer inputs of the same length and for boolean inputs (padding masks)."""
    import numpy as np

    rng = np.random.default_rng(0)
    out, ids_seen = [], False
    for t in model.inputs:
        shape, dtype = tuple(t.shape[1:]), _dtype(t)
        if _is_mask(dtype):
            out.append(_padded_masks(n, shape).astype(bool))
        elif not _is_int(dtype):
            scale = next((1 / layer.scale for layer in model.layers if layer.name == "rescale"), 1.0)
            out.append(rng.random((n, *shape), dtype=np.float32) * scale)
        elif not ids_seen:
            out.append(rng.integers(0, id_range(model), (n, *shape)).astype(dtype))
            ids_seen = True
        else:
            out.append(_padded_masks(n, shape).astype(dtype))
    return out


def _padded_masks(n: int, shape: tuple):
    """n masks of ones, some rows right-padded (the first kept whole)."""
    import numpy as np

    mask = np.ones((n, *shape), dtype=np.int32)
    if len(shape) == 1 and shape[0] > 1:
        for i in range(1, n, 2):
            mask[i, shape[0] - i % shape[0]:] = 0
    return mask


def _as_inputs(model, x) -> list:
    import numpy as np

    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(xs) != len(model.inputs):
        raise ExportError(f"the model takes {len(model.inputs)} inputs; {len(xs)} check inputs were given")
    return [np.asarray(a).astype(_dtype(t) if _is_int(_dtype(t)) or _is_mask(_dtype(t)) else np.float32)
            for a, t in zip(xs, model.inputs)]


def export(model, path: Path, fmt: str, check_inputs=None, preprocessing: str = "") -> Exported:
    """Write `model` (float32, preprocessing already in front) to `path` as `fmt`, atomically: the
    artifact is first run in its own runtime on `check_inputs` (one array per model input; default
    :func:`check_inputs_for`) and compared with Keras, and only an artifact that loads there replaces `path`."""
    import numpy as np

    check_supported(fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    xs = _as_inputs(model, check_inputs if check_inputs is not None else check_inputs_for(model))
    feed = xs[0] if len(xs) == 1 else xs
    expected = np.asarray(model.predict(feed, verbose=0))      # also marks the model as called
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")    # exporters check the suffix
    _remove(tmp)
    try:
        try:
            if fmt == "keras":
                from ..compile import save_model

                save_model(model, tmp)
            elif fmt == "h5":
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.save(tmp)
            else:
                _quiet_export(model, tmp, fmt)
        except ExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - a converter failure is reported, the half-written file removed
            raise ExportError(f"Keras's {fmt} export failed: {_first_line(exc)}") from exc
        try:
            got, runtime = run_artifact(tmp, fmt, xs)
        except Exception as exc:  # noqa: BLE001 - an artifact its own runtime refuses is not written
            raise ExportError(f"the exported {fmt} model does not run in its runtime: {_first_line(exc)}"
                              + (f" ({_hint(exc)})" if _hint(exc) else "")) from exc
        _remove(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)
    diff = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - expected))) if got is not None else None
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
    described = [(t.name.split(":")[0], _dtype(t), tuple(t.shape[1:])) for t in model.inputs]
    return Exported(path, fmt, size, described[0][0], described[0][2], preprocessing, diff, runtime, len(xs[0]),
                    described)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _hint(exc: BaseException) -> str:
    """What to do about a converter's known gap, read off the runtime's message."""
    text = str(exc)
    if "Erf" in text:
        return ("tf2onnx cannot convert the exact GELU's erf; use activation: gelu_approximate (GPT-2's tanh form), "
                "or export saved_model / tflite")
    return ""


def export_run_model(model, path: Path, settings, sample_shape=None, rebuild=None, raw: bool = False,
                     fmt: str | None = None) -> Exported:
    """Export a run's model: float32, with the run's rescale / flatten in front for the inference
    formats (ONNX, TFLite, SavedModel); `.keras` / `.h5` keep the bare network, ready to train on."""
    fmt = fmt or format_of(str(path))
    model = float32_copy(model, rebuild)
    pre = ""
    if fmt not in ("keras", "h5") and not raw and not _is_int(_dtype(model.inputs[0])):   # token ids: as they are
        flat = tuple(sample_shape) if sample_shape and len(model.inputs[0].shape) == 2 else None
        model, pre = inference_model(model, settings.rescale, flat)
    return export(model, path, fmt, preprocessing=pre)


def _quiet_export(model, path: Path, fmt: str) -> None:
    import contextlib
    import io
    import warnings

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model.export(str(path), format=KERAS_FORMAT[fmt], verbose=False)


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists():
        p.unlink()


ONNX_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
              "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
              "tensor(bool)": "bool"}


def run_artifact(path: Path, fmt: str, x):
    """(outputs, runtime description) of the exported artifact on `x` (an array, or one per input in the
    model's order), each fed in the dtype the artifact declares; (None, why) without its runtime."""
    import numpy as np

    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if fmt in ("keras", "h5"):
        import keras

        m = keras.models.load_model(path, compile=False)
        return np.asarray(m.predict(xs[0] if len(xs) == 1 else xs, verbose=0)), f"keras {keras.__version__}"
    if fmt == "onnx":
        if importlib.util.find_spec("onnxruntime") is None:
            return None, "not checked: onnxruntime is not installed (pip install onnxruntime)"
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {i.name: np.asarray(a).astype(ONNX_TYPES.get(i.type, np.asarray(a).dtype))
                for i, a in zip(sess.get_inputs(), xs)}
        return sess.run(None, feed)[0], f"onnxruntime {ort.__version__}"
    if importlib.util.find_spec("tensorflow") is None:
        return None, "not checked: tensorflow is not installed"
    import tensorflow as tf

    if fmt == "saved_model":
        loaded = tf.saved_model.load(str(path))
        args = tf.constant(xs[0]) if len(xs) == 1 else [tf.constant(a) for a in xs]
        return np.asarray(loaded.serve(args)), f"tf.saved_model {tf.__version__}"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # tf.lite.Interpreter's deprecation notice
        interp = tf.lite.Interpreter(model_path=str(path))
    details = interp.get_input_details()
    for d, a in zip(details, xs):
        interp.resize_tensor_input(d["index"], list(np.shape(a)))
    interp.allocate_tensors()
    for d, a in zip(details, xs):
        interp.set_tensor(d["index"], np.asarray(a).astype(d["dtype"]))
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"]), f"tf.lite {tf.__version__}"


def describe(e: Exported) -> str:
    size = f"{e.bytes / 1e6:.1f} MB" if e.bytes >= 1e6 else f"{e.bytes / 1e3:.0f} kB"
    inputs = e.inputs or [(e.input_name, "float32", e.input_shape)]
    listed = ", ".join(f"'{name}' {dtype} (batch, {'×'.join(map(str, shape))})" for name, dtype, shape in inputs)
    pre = f", preprocessing inside: {e.preprocessing}" if e.preprocessing else ""
    lines = [f"{e.path}: {e.format}, {size}; input{'s' * (len(inputs) > 1)} {listed}{pre}"]
    if e.max_diff is None:
        lines.append(f"  {e.runtime}")
    else:
        lines.append(f"  checked with {e.runtime}: max |difference| from Keras {e.max_diff:.1e} on {e.samples} inputs")
    return "\n".join(lines) + "\n"


__all__ = ["FORMATS", "ExportError", "Exported", "backend_name", "format_of", "check_supported", "export",
           "export_run_model",
           "inference_model", "float32_copy", "run_artifact", "describe", "check_inputs_for", "id_range"]
