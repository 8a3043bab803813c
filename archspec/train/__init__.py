"""Training: spec + data → a run folder (models, history, curves, TensorBoard logs, test metrics).

The stage, one module per concern::

    config     training: section (lang/training.py) + flags ─▶ Settings   (no Keras)
    data       Settings ─▶ Dataset (arrays or image files)      (numpy/scikit-learn; no Keras)
    sequences  token specs: text windows, token .npz ─▶ Dataset (numpy; text read by corpus, pure Python;
               tokens: the Tokenizer saved as tokenizer.json; dataset: the Dataset/Split containers)
    planning   Dataset × spec ─▶ Plan, or mismatch diagnostics  (before anything is built; no Keras)
    backend    --backend ─▶ KERAS_BACKEND, before Keras is imported   (no Keras)
    pipeline   Dataset ─▶ input: tf.data (TensorFlow) or a PyDataset (JAX, PyTorch; no TensorFlow)
    loop       build + compile under a precision policy, XLA switch and distribution strategy; fit
    distribute tf.distribute strategies (TensorFlow) or keras.distribution.DataParallel (JAX)
    callbacks  per-epoch checkpoint (atomic, resumable), best model, throughput, NaN stop
    artifacts  history CSV, curves PNG, metrics JSON, summary, resolved spec and settings
    inspection first-layer kernels, nearest neighbours in a hidden layer's embedding

Keras, TensorFlow and matplotlib are imported only inside `loop`, `pipeline`, `artifacts` and
`inspection`, when a run starts. See docs/train.md.
"""
from __future__ import annotations


def train(spec, flags: dict | None = None, out=None, backend: str | None = None, **kw):
    """Train `spec` (an :class:`archspec.Spec`); `flags` override its training section
    (:func:`archspec.train.config.resolve`). `backend` (jax, tensorflow, torch, auto) is settled before
    Keras is imported (:func:`archspec.train.backend.activate`). Returns a :class:`archspec.train.loop.RunResult`."""
    from .backend import activate
    from .config import resolve

    activate(backend)
    from .loop import run_training

    return run_training(spec, resolve(spec, flags), out, **kw)


__all__ = ["train"]
