"""Which Keras backend a run uses, settled before Keras is imported (no Keras, no TensorFlow here).

Keras reads its backend once, when it is first imported: from ``KERAS_BACKEND``, else from
``~/.keras/keras.json`` (``$KERAS_HOME/keras.json``), else TensorFlow. ``archspec train --backend``
therefore sets ``KERAS_BACKEND`` before anything imports Keras — the command line loads and checks the
spec without Keras, so that is always possible there; from the Python API it is possible until the
first Keras import, and afterwards only the backend already loaded can be asked for.

``--backend auto`` (and the default when ``KERAS_BACKEND`` is not set and keras.json names a backend
whose package is missing — Keras writes ``"tensorflow"`` there on its first start) picks TensorFlow if
it is installed, else JAX, else PyTorch. Whether a package is installed is asked of the import
system (``importlib.util.find_spec``), which costs microseconds; nothing is imported.

>>> choose("jax", env={}, installed={"jax"})
'jax'
>>> choose("auto", env={}, installed={"jax", "torch"})
'jax'
>>> choose(None, env={"KERAS_BACKEND": "torch"}, installed={"torch", "tensorflow"})
'torch'
>>> choose("tensorflow", env={}, installed={"jax"})
Traceback (most recent call last):
...
archspec.train.errors.RunError: --backend tensorflow: TensorFlow is not installed here (pip install tensorflow); installed backends: jax
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from .errors import RunError

BACKENDS = ("tensorflow", "jax", "torch")
CHOICES = BACKENDS + ("auto",)
PACKAGE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
AUTO_ORDER = ("tensorflow", "jax", "torch")


def installed(name: str) -> bool:
    """Is the package importable? (Without importing it; an import blocker counts as 'no'.)"""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def installed_backends() -> set[str]:
    return {b for b in BACKENDS if installed(PACKAGE[b])}


def configured(env=None) -> tuple[str | None, str]:
    """(backend, where it comes from) as Keras would read it: KERAS_BACKEND, else keras.json, else None."""
    env = os.environ if env is None else env
    if env.get("KERAS_BACKEND"):
        return env["KERAS_BACKEND"], "KERAS_BACKEND"
    path = Path(env.get("KERAS_HOME") or Path("~/.keras").expanduser()) / "keras.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        value = None
    return (value, str(path)) if isinstance(value, str) else (None, "")


def choose(requested: str | None, env=None, installed: set | None = None) -> str:
    """The backend to use for `--backend requested` (None: the configured one, see the module doc)."""
    have = installed_backends() if installed is None else set(installed)
    listed = ", ".join(b for b in BACKENDS if b in have) or "none"
    if requested in (None, "auto"):
        name, origin = configured(env) if requested is None else (None, "")
        if name is not None and (origin == "KERAS_BACKEND" or name in have):
            requested, flag = name, f"{origin}={name}" if origin == "KERAS_BACKEND" else f"{origin} says {name}"
        else:
            found = next((b for b in AUTO_ORDER if b in have), None)
            if found is None:
                raise RunError("no Keras backend is installed: pip install jax (or tensorflow, or torch)")
            return found
    else:
        flag = f"--backend {requested}"
    if requested not in BACKENDS:
        raise RunError(f"{flag}: Keras has no backend '{requested}'; use one of {', '.join(CHOICES)}")
    if requested not in have:
        raise RunError(f"{flag}: {NAMES[requested]} is not installed here (pip install {PACKAGE[requested]}); "
                       f"installed backends: {listed}")
    return requested


def of_run(path) -> str | None:
    """The backend a run folder (or a model file in one) was trained with, as its settings.json records it
    (``versions.backend``); None when there is no run folder or it does not say. Reads JSON only."""
    p = Path(path).expanduser()
    p = p if p.is_dir() else p.parent
    try:
        name = json.loads((p / "settings.json").read_text(encoding="utf-8")).get("versions", {}).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return name if name in BACKENDS else None


def activate(requested: str | None) -> str:
    """Choose the backend and make Keras use it: sets KERAS_BACKEND if Keras is not imported yet, else
    checks that the loaded Keras runs the chosen backend. Returns the backend's name."""
    keras = sys.modules.get("keras")
    loaded = keras.backend.backend() if keras is not None and hasattr(keras, "backend") else None
    if loaded and requested is None:
        return loaded
    name = choose(requested)
    if loaded:
        if loaded != name:
            raise RunError(f"Keras is already running the {loaded} backend in this process; the backend is chosen "
                           f"before Keras is imported (set KERAS_BACKEND={name}, or run `archspec train --backend "
                           f"{name}`, a fresh process)")
        return name
    os.environ["KERAS_BACKEND"] = name
    return name


__all__ = ["BACKENDS", "CHOICES", "choose", "activate", "installed", "installed_backends", "configured", "of_run"]
