"""archspec — an architecture-spec compiler for neural networks.

A spec (YAML or JSON) describes a network as a graph of layers, branches, residuals and
parameterized blocks. The pipeline, each stage a function of the previous one's result::

    text ─parse─▶ Source ─expand─▶ Graph (shapes inferred) ─┬─ analyze  → params, MACs, FLOPs, memory
                                                            ├─ design   → warnings
                                                            ├─ render   → table / JSON / CSV / Markdown / diagram
                                                            └─ compile  → keras.Model   (imports Keras lazily)

>>> import archspec
>>> spec = archspec.load_text('''
... archspec: 1
... name: demo
... inputs: {image: [28, 28, 1]}
... model:
...   - conv2d: {filters: 8, kernel: 3, activation: relu}
...   - max_pool: {}
...   - flatten: {}
...   - dense: {units: 10, activation: softmax}
... ''')
>>> spec
<Spec demo: image(28, 28, 1) -> dense(10,); 4 layers, 13,610 params, 62,192 MACs>
>>> print(spec.graph.dump())
image     input             -> (28, 28, 1)
conv2d    conv2d(image)     -> (26, 26, 8)  conv 3×3 · 8
max_pool  max_pool(conv2d)  -> (13, 13, 8)  max pool 2×2
flatten   flatten(max_pool) -> (1352,)  flatten
dense     dense(flatten)    -> (10,)  dense · 10
"""
from __future__ import annotations

from .api import Spec, load, load_text
from .errors import Diagnostic, SpecError
from .version import __version__

__all__ = ["Spec", "load", "load_text", "Pricer", "Price", "SpecError", "Diagnostic", "__version__"]

# A saved .keras model may use archspec's custom layers (ScaledAdd); they register with Keras as soon as
# Keras is imported, so `import archspec; keras.saving.load_model(path)` works without importing Keras here.
from .compile import register_on_keras_import as _register_layers  # noqa: E402

_register_layers()


def __getattr__(name):
    # The compiled model's custom layers must be registered before keras.saving.load_model,
    # without making `import archspec` pay for Keras.
    if name == "layers":
        from .ops import keras_layers

        return keras_layers
    if name in ("Pricer", "Price"):     # pricing many candidates in process (archspec/pricing.py)
        from . import pricing

        return getattr(pricing, name)
    if name == "from_keras":            # Keras model → spec text; Keras itself is imported by the model's owner
        from .importer import from_keras

        return from_keras
    raise AttributeError(name)
