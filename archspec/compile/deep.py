"""Running Keras on very deep graphs.

Keras 3 walks a functional model's layer graph recursively (``keras.src.ops.function._build_map_helper``
when a model is built, cloned or deserialized), a few Python frames per layer, so a path longer than
~1,000 layers raises RecursionError under Python's default limit — and merely raising the limit on
the main thread risks overflowing its C stack (8 MiB). :func:`deep` runs such work on a worker
thread with a large stack and a recursion limit sized to the depth. Shallow graphs run inline.

Keras keeps some settings per thread (the global dtype policy, the distribution) and TensorFlow keeps
its ``tf.distribute`` strategy scope per thread; the worker thread inherits them from the caller.
"""
from __future__ import annotations

import sys
import threading

from ..graph import Graph

INLINE_DEPTH = 400              # up to this many layers along a path, no thread is needed
FRAMES_PER_LAYER = 12           # generous: Keras uses about 4 Python frames per layer along a path
STACK_BYTES = 512 * 1024 * 1024  # virtual; only the pages actually touched are committed


def graph_depth(graph: Graph) -> int:
    """Layers along the longest path from an input to an output."""
    depth: dict[str, int] = {}
    for n in graph:
        depth[n.id] = 1 + max((depth[i] for i in n.inputs), default=0)
    return max(depth.values(), default=0)


def deep(depth: int, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, on a big-stack thread when `depth` (layers along a path) calls for it."""
    if depth <= INLINE_DEPTH:
        return fn(*args, **kwargs)
    limit = max(sys.getrecursionlimit(), depth * FRAMES_PER_LAYER + 2000)
    stack = max(STACK_BYTES, depth * 64 * 1024)
    context = _capture_context()
    result: dict = {}

    def work():
        try:
            with _restore_context(context):
                result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised on the calling thread
            result["error"] = exc

    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(limit)    # process-wide in CPython; restored below
    try:
        threading.stack_size(stack)
        try:
            thread = threading.Thread(target=work, name="archspec-deep")
        finally:
            threading.stack_size(old_stack)
        thread.start()
        thread.join()
    finally:
        sys.setrecursionlimit(old_limit)
    if "error" in result:
        raise result["error"]
    return result["value"]


def _capture_context() -> dict:
    """The caller thread's per-thread Keras and TensorFlow settings that building depends on."""
    ctx: dict = {}
    keras = sys.modules.get("keras")
    if keras is None:
        return ctx
    ctx["dtype_policy"] = keras.config.dtype_policy()
    try:
        ctx["distribution"] = keras.distribution.distribution()
    except Exception:  # backends without the distribution API
        pass
    tf = sys.modules.get("tensorflow")
    if tf is not None and keras.backend.backend() == "tensorflow" and tf.distribute.has_strategy():
        ctx["strategy"] = tf.distribute.get_strategy()
    return ctx


class _restore_context:
    def __init__(self, ctx: dict):
        self.ctx = ctx
        self.scope = None

    def __enter__(self):
        if not self.ctx:
            return self
        import keras

        keras.config.set_dtype_policy(self.ctx["dtype_policy"])
        if self.ctx.get("distribution") is not None:
            keras.distribution.set_distribution(self.ctx["distribution"])
        if "strategy" in self.ctx:
            self.scope = self.ctx["strategy"].scope()
            self.scope.__enter__()
        return self

    def __exit__(self, *exc):
        if self.scope is not None:
            self.scope.__exit__(*exc)
        return False


__all__ = ["deep", "graph_depth", "INLINE_DEPTH"]
