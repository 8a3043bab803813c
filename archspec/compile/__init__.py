"""Graph → Keras 3 functional model. Keras is imported only by :mod:`.build` and the ops' Keras
layers (:mod:`archspec.ops.keras_layers`).

Layer names come from scope paths. Keras refuses ``/`` in a layer name, so the path separator
becomes a dot: the node ``stage3/block_2/conv2d`` is the layer ``stage3.block_2.conv2d``, and
``model.get_layer(keras_name(path))`` finds it. Every layer gets an explicit name, so a model's
names never depend on Keras's process-global counters.

See :mod:`.names`.
"""
from __future__ import annotations

import importlib
import sys

from .names import KERAS_SEP, keras_name  # noqa: F401  (public: archspec.compile.keras_name)

# ---- registering the custom layers without importing Keras -----------------------------------
# keras.saving.load_model resolves a custom class only through its registry (Keras 3 refuses to import
# modules outside Keras while loading), so archspec.ops.keras_layers must have run before a .keras file
# that uses ScaledAdd is loaded. `import archspec` must stay free of Keras (`archspec check` is fast),
# so it installs a one-shot import hook instead: when Keras finishes importing, the hook imports
# archspec.ops.keras_layers, which registers the layers. If Keras is already imported, they register now.
LAYERS_MODULE = "archspec.ops.keras_layers"


class _Loader:
    """Wraps Keras's own loader; after Keras has run, imports the archspec layers. (Loader and finder
    are written by protocol, not as importlib.abc subclasses: importing importlib.abc costs `import
    archspec` a few milliseconds.)"""

    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        _import_layers()

    def __getattr__(self, name):  # resource readers, get_filename, ... behave as Keras's loader
        return getattr(self._inner, name)


class _KerasHook:
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        import importlib.util

        _remove_hook()
        spec = importlib.util.find_spec("keras")
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def _remove_hook():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _KerasHook)]


def _import_layers():
    try:
        importlib.import_module(LAYERS_MODULE)
    except Exception:  # never break `import keras`; load_model then reports the unknown class itself
        pass


def register_on_keras_import() -> None:
    """Register archspec's custom Keras layers now if Keras is loaded, else as soon as it is."""
    if "keras" in sys.modules:
        _import_layers()
    elif not any(isinstance(f, _KerasHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasHook())


def build_model(spec):
    """See :func:`archspec.compile.build.build_model` (imports Keras)."""
    from .build import build_model as build

    return build(spec)


def save_model(model, path) -> None:
    """Save `model` as a ``.keras`` file atomically: the file is complete or absent, never partial.

    Keras writes the zip archive in place, so it goes to a temporary file beside it first
    (:func:`archspec.files.atomic_path`: removed on an exception, and by the next save of the same
    file after a SIGKILL), renamed over `path` once complete.
    """
    from ..files import atomic_path

    with atomic_path(path) as tmp:
        model.save(tmp, overwrite=True)


def load_model(path, **kwargs):
    """``keras.saving.load_model`` that also copes with very deep models.

    Plain ``keras.saving.load_model`` works for compiled models after ``import archspec``, but Keras
    rebuilds the layer graph recursively, which fails beyond ~3,000 layers along one path (~1,000
    outside TensorFlow); this runs the load on a big-stack thread when the saved model is that deep.
    """
    import json
    import zipfile

    import keras

    from .deep import deep

    _import_layers()
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
    layers = len((config.get("config") or {}).get("layers") or ())
    return deep(layers, keras.saving.load_model, path, **kwargs)


__all__ = ["keras_name", "build_model", "save_model", "load_model", "register_on_keras_import", "KERAS_SEP"]
