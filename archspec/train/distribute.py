"""Distribution for `archspec train --distribute`, always through an existing engine:

=================  ==========================================  ==================================================
``--distribute``   TensorFlow backend                          JAX backend
=================  ==========================================  ==================================================
``mirrored``       ``tf.distribute.MirroredStrategy``           ``keras.distribution.DataParallel`` over
                   (all local GPUs)                             ``jax.devices()`` (all local accelerators)
``multi-worker``   ``tf.distribute.MultiWorkerMirroredStrategy``  ``keras.distribution.initialize`` (one process per
                   from ``TF_CONFIG``                           machine, ``jax.distributed``), then DataParallel over
                                                                every process's devices
=================  ==========================================  ==================================================

Both are synchronous data parallelism: every device holds the whole model, takes its slice of each
global batch, and the gradients are averaged before every update, so the result is one model trained
on the global batch. Also here: the fixes Keras 3's TensorFlow trainer needs under
MultiWorkerMirroredStrategy. The PyTorch backend does not distribute (Keras offers no API for it).
"""
from __future__ import annotations

import json
import os
from contextlib import nullcontext
from dataclasses import dataclass

from .config import RunError

JAX_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID")
TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\' on the first machine, index 1 on the second')


@dataclass
class Distribution:
    """How a run is spread: the engine object (a tf.distribute strategy or a keras.distribution
    Distribution, None for one device), whether this process writes the run folder, its worker label,
    this process's share of each batch (index, count) and how many devices split each batch."""

    engine: object = None
    chief: bool = True
    worker: str | None = None
    shard: tuple = (0, 1)
    devices: int = 1
    backend: str = ""

    def scope(self):
        return self.engine.scope() if self.engine is not None else nullcontext()


def _tf_config() -> tuple[dict, str, int]:
    raw = os.environ.get("TF_CONFIG")
    try:
        cfg = json.loads(raw)
        task, cluster = cfg["task"], cfg["cluster"]
        return cluster, task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(f"TF_CONFIG is not valid: {exc}") from None


def make_strategy(kind: str) -> Distribution:
    """The Distribution for `--distribute kind`. Must run before the backend executes any op."""
    import keras

    backend = keras.backend.backend()
    if kind == "none":
        return Distribution(backend=backend)
    if backend == "jax":
        return _jax(kind)
    if backend != "tensorflow":
        raise RunError(f"--distribute {kind} needs the tensorflow (tf.distribute) or jax (keras.distribution) "
                       f"backend; Keras offers no distribution API for {backend}")
    import tensorflow as tf

    if kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        return Distribution(strategy, devices=strategy.num_replicas_in_sync, backend=backend)
    if not os.environ.get("TF_CONFIG"):
        raise RunError("--distribute multi-worker reads the cluster from the TF_CONFIG environment variable, which is "
                       f"not set; e.g. {TF_CONFIG_EXAMPLE}")
    cluster, ttype, index = _tf_config()
    chief = ttype == "chief" or (ttype == "worker" and index == 0 and "chief" not in cluster)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Distribution(strategy, chief, f"{ttype}-{index}", devices=strategy.num_replicas_in_sync, backend=backend)


def _jax(kind: str) -> Distribution:
    import keras

    if kind == "multi-worker":
        env = {k: os.environ.get(k) for k in JAX_ENV}
        if not all(env.values()):
            if not os.environ.get("TF_CONFIG"):
                raise RunError("--distribute multi-worker on JAX reads the cluster from KERAS_DISTRIBUTION_JOB_ADDRESSES "
                               "(the coordinator's host:port first), KERAS_DISTRIBUTION_NUM_PROCESSES and "
                               "KERAS_DISTRIBUTION_PROCESS_ID, or from TF_CONFIG; none is set. e.g. "
                               + TF_CONFIG_EXAMPLE)
            env = dict(zip(JAX_ENV, jax_cluster(*_tf_config())))
        try:
            count, index = int(env[JAX_ENV[1]]), int(env[JAX_ENV[2]])
        except ValueError as exc:
            raise RunError(f"{JAX_ENV[1]} / {JAX_ENV[2]}: {exc}") from None
        if not 0 <= index < count:
            raise RunError(f"{JAX_ENV[2]}={index} is not in 0…{count - 1}")
        if count > 1:
            _cpu_collectives()
        keras.distribution.initialize(env[JAX_ENV[0]], count, index)
        import jax

        shard = (jax.process_index(), jax.process_count())
    else:
        shard = (0, 1)
    devices = keras.distribution.list_devices()
    # our pipeline gives each process its own part of every batch (make_inputs(shard=...))
    engine = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    return Distribution(engine, shard[0] == 0, f"worker-{shard[0]}" if shard[1] > 1 else None, shard,
                        len(devices), "jax")


def jax_cluster(cluster: dict, ttype: str, index: int) -> tuple[str, str, str]:
    """TF_CONFIG's cluster and task → Keras's KERAS_DISTRIBUTION_* values for JAX: every address, chief
    first (the first is jax.distributed's coordinator), the process count, this process's number.

    >>> jax_cluster({"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "worker", 1)
    ('a:1,b:1,c:1', '3', '2')
    >>> jax_cluster({"worker": ["a:1", "b:1"]}, "worker", 0)
    ('a:1,b:1', '2', '0')
    """
    workers = list(cluster.get("chief", [])) + list(cluster.get("worker", []))
    if ttype == "worker":
        index += len(cluster.get("chief", []))
    elif ttype != "chief":
        raise RunError(f"TF_CONFIG task type '{ttype}': JAX processes are 'chief' or 'worker'")
    return ",".join(workers), str(len(workers)), str(index)


def _cpu_collectives() -> None:
    """Cross-process all-reduce of CPU devices (tests on one machine, CPU-only clusters) needs gloo."""
    import jax

    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, ValueError):      # an older or newer jax: it knows what it does
        pass


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
