"""Build a Keras 3 functional model from an expanded, shape-checked graph (imports Keras).

One graph node becomes one Keras layer, created by the op's own ``build_keras`` and named after the
node's scope path (:func:`archspec.compile.keras_name`). Inputs keep their declared dtype; a single
output is returned as a tensor, several as a dict keyed by the spec's output names, in spec order.

Keras's functional API walks the layer graph recursively, so a path longer than ~1,000 layers
overflows Python's recursion limit. Deep graphs are therefore built (and can be called, saved and
loaded, see :func:`deep`) on a worker thread with a large stack and a raised recursion limit.
"""
from __future__ import annotations

from ..graph import Graph
from ..ops import REGISTRY
from .deep import deep, graph_depth
from .names import keras_name


def build_model(spec):
    """`spec` (an :class:`archspec.Spec` or a :class:`~archspec.graph.Graph`) → ``keras.Model``."""
    graph: Graph = getattr(spec, "graph", spec)
    names = layer_names(graph)
    import keras  # noqa: F401  (on the calling thread, before any worker thread)

    return deep(graph_depth(graph), _build, graph, names, getattr(spec, "model_name", graph.name))


def layer_names(graph: Graph) -> dict[str, str]:
    """node id → Keras layer name; refuses two nodes that would share one (a name containing '.')."""
    from ..errors import Diagnostic, SpecError

    names, owner, diags = {}, {}, []
    for node in graph:
        name = keras_name(node.id)
        if name in owner:
            diags.append(Diagnostic(
                "duplicate-name", f"'{owner[name]}' and '{node.id}' would both be the Keras layer '{name}'",
                node.loc, node.id, "Keras layer names use '.' between scopes; rename the layer whose own name has a '.'"))
        owner.setdefault(name, node.id)
        names[node.id] = name
    if diags:
        raise SpecError(diags)
    return names


def _check_weights_fit(graph: Graph) -> None:
    """Refuse, before Keras allocates anything, a model whose weights (float32) do not fit in the memory
    this machine has free: `check` accepts a dense layer of 2**40 units (shapes and counts are fine), but
    building it is an out-of-memory crash inside TensorFlow or JAX (or the kernel's OOM killer). Building
    holds each weight's initial value next to the variable, hence twice the weights. The error is
    located at the largest layer."""
    from ..errors import Diagnostic, SpecError
    from ..humanize import human_bytes

    memory = _free_memory()
    if memory is None:
        return
    total, largest, biggest = 0, None, 0
    for node in graph:
        op = REGISTRY[node.op]
        if op.source or node.shape is None:
            continue
        t, nt = op.params(node.attrs, [graph.nodes[i].shape for i in node.inputs], node.shape)
        total += t + nt
        if t + nt > biggest:
            largest, biggest = node, t + nt
    if 2 * total * 4 > memory and largest is not None:
        raise SpecError([Diagnostic(
            "out-of-memory", f"the model's weights are {total:,} parameters ({human_bytes(total * 4)} in float32); "
            f"building them needs about twice that, more than the {human_bytes(memory)} this machine has free; "
            f"this layer holds {biggest:,} of them",
            largest.loc, largest.id, "make the layer smaller (units, filters, kernel) or its input smaller")])


def _free_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable), else the physical memory, else None."""
    import os

    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):      # no sysconf (Windows): no check
        return None


def _build(graph: Graph, names: dict[str, str], model_name: str):
    import keras

    from ..ops import keras_layers  # noqa: F401  (registers the custom layers)

    _check_weights_fit(graph)

    tensors = {}
    for node in graph:
        op = REGISTRY[node.op]
        if op.source:                                   # a model input: build_keras gives the keras.Input
            tensors[node.id] = op.build_keras(node.attrs, names[node.id])
            continue
        layer = op.build_keras(node.attrs, names[node.id])
        ins = [tensors[i] for i in node.inputs]
        tensors[node.id] = op.call_keras(layer, ins, node.attrs)
    inputs = [tensors[i] for i in graph.inputs]
    outputs = {name: tensors[nid] for name, nid in graph.outputs.items()}
    return keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs,
                       outputs=next(iter(outputs.values())) if len(outputs) == 1 else outputs,
                       name=model_name)
