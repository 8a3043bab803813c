"""Distribution strategies for `archspec train --distribute` (TensorFlow backend): all local GPUs
(MirroredStrategy) or several machines (MultiWorkerMirroredStrategy from TF_CONFIG), and the fixes
Keras 3's TensorFlow trainer needs to train under the latter."""
from __future__ import annotations

import json
import os

from .config import RunError


def make_strategy(kind: str):
    """(strategy or None, is_chief, worker label). Must run before TensorFlow executes any op."""
    if kind == "none":
        return None, True, None
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RunError(f"--distribute {kind} uses tf.distribute and needs KERAS_BACKEND=tensorflow "
                       f"(the backend is {keras.backend.backend()})")
    import tensorflow as tf

    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(), True, None
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise RunError("--distribute multi-worker reads the cluster from the TF_CONFIG environment variable, which is "
                       'not set; e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                       '"task": {"type": "worker", "index": 0}}\' on the first machine, index 1 on the second')
    try:
        cfg = json.loads(raw)
        task, cluster = cfg["task"], cfg["cluster"]
        ttype, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(f"TF_CONFIG is not valid: {exc}") from None
    chief = ttype == "chief" or (ttype == "worker" and index == 0 and "chief" not in cluster)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return strategy, chief, f"{ttype}-{index}"


# ---- model ----------------------------------------------------------------------------------------
def multi_worker_fixups(model, strategy, batch) -> None:
    """Make ``Model.fit``/``evaluate`` work under MultiWorkerMirroredStrategy with Keras 3's TensorFlow
    trainer, which fails there in two places (keras-team/keras#20585, tensorflow/tensorflow#72388):

    * ``_maybe_symbolic_build`` averages the first distributed batch with ``strategy.reduce`` — which does
      not accept an ``(x, y)`` tuple. We build the model, its metrics and optimizer from one local
      batch ourselves, and leave the strategy to be found from the enclosing ``strategy.scope()``.
    * the step outputs are reduced with ``strategy.reduce("MEAN", scalar, axis=0)``, which fails on
      scalars. Keras metrics live in ON_WRITE variables with SUM aggregation, so every replica already
      holds the global value: taking the first local one ("first") is exact.
    """
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if not getattr(tf_trainer.reduce_per_replica, "_archspec", False):
        original = tf_trainer.reduce_per_replica

        def reduce_per_replica(values, strategy, reduction):
            if reduction == "auto" and tf_trainer._collective_all_reduce_multi_worker(strategy):
                reduction = "first"
            return original(values, strategy, reduction)

        reduce_per_replica._archspec = True
        tf_trainer.reduce_per_replica = reduce_per_replica
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._distribute_strategy = None          # fit() then takes it from strategy.scope()


__all__ = ["make_strategy", "multi_worker_fixups"]
