"""Training: spec + data → a run folder (models, history, curves, TensorBoard logs, test metrics).

The stage, one module per concern::

    config     training: section + flags ─▶ Settings            (pydantic; no Keras)
    data       Settings ─▶ Dataset (arrays or image files)      (numpy/scikit-learn; no Keras)
    compat     Dataset × spec ─▶ Plan, or mismatch diagnostics  (before anything is built; no Keras)
    pipeline   Dataset ─▶ tf.data input (decode, resize, rescale, augment, cache, prefetch)
    loop       build + compile under a precision policy, XLA switch and distribution strategy; fit
    distribute tf.distribute strategies (mirrored, multi-worker from TF_CONFIG)
    callbacks  per-epoch checkpoint (atomic, resumable), best model, throughput, NaN stop
    artifacts  history CSV, curves PNG, metrics JSON, summary, resolved spec and settings
    inspect    first-layer kernels, nearest neighbours in a hidden layer's embedding

Keras, TensorFlow and matplotlib are imported only inside `loop`, `pipeline`, `artifacts` and
`inspect`, when a run starts. See docs/train.md.
"""
from __future__ import annotations


def train(spec, flags: dict | None = None, out=None, **kw):
    """Train `spec` (an :class:`archspec.Spec`); `flags` override its training section
    (:func:`archspec.train.config.resolve`). Returns a :class:`archspec.train.loop.RunResult`."""
    from .config import resolve
    from .loop import run_training

    return run_training(spec, resolve(spec, flags), out, **kw)


__all__ = ["train"]
