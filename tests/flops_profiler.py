"""TensorFlow's own FLOP count of a compiled spec, per op type and per layer (test helper; imports TF).

The model is traced once with batch size 1 (archspec counts per example), its variables are frozen into
constants (`convert_variables_to_constants_v2`) so every shape is static, and the frozen graph is given
to `tf.compat.v1.profiler.profile` with `ProfileOptionBuilder.float_operation()`. The profiler counts an
op only if TensorFlow registered a "flops" statistic for its type (tensorflow/python/ops/nn_ops.py,
tensorflow/python/profiler/internal/flops_registry.py) and its shapes are fully known; it skips every
other op silently. `per_layer` asks the same registry op by op and files each op under the Keras layer
whose name scope holds it, which is how a disagreement is traced to one layer.
"""
from __future__ import annotations

import contextlib
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

MAC_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum")


@dataclass
class Profile:
    total: int                                       # the profiler's total_float_ops
    by_type: dict[str, int]                          # op type -> FLOPs, from the profiler's "op" view
    by_layer: dict[str, int] = field(default_factory=dict)               # node id -> FLOPs
    layer_types: dict[str, Counter] = field(default_factory=dict)       # node id -> op type -> FLOPs
    unmatched: dict[str, int] = field(default_factory=dict)             # op name -> FLOPs outside any layer

    @property
    def mac_flops(self) -> int:
        return sum(v for k, v in self.by_type.items() if k in MAC_OPS)


def register_einsum_flops() -> None:
    """TensorFlow registers no "flops" statistic for `Einsum`, which Keras's MultiHeadAttention uses for
    QKᵀ and attention × V, so the profiler would skip them silently. This registers one through TF's own
    mechanism (`ops.RegisterStatistics`, as nn_ops.py does for MatMul): 2 × the product of the sizes of
    every index of the equation, read from the op's equation attribute and the graph's static shapes —
    for "aecd,abcd->acbe" (B=1, S, N, H; T) that is 2·N·T·S·H, a multiply and an add per term."""
    from tensorflow.python.framework import graph_util, ops

    def einsum_flops(graph, node):
        equation = node.attr["equation"].s.decode()
        if "..." in equation:
            raise ValueError("ellipsis einsum")   # counted as unknown, as the profiler does
        sizes = {}
        for labels, name in zip(equation.split("->")[0].split(","), node.input):
            shape = graph_util.tensor_shape_from_node_def_name(graph, name)
            shape.assert_is_fully_defined()
            sizes.update(zip(labels, shape.as_list()))
        return ops.OpStats("flops", 2 * math.prod(sizes.values()))

    try:
        ops.RegisterStatistics("Einsum", "flops")(einsum_flops)
    except KeyError:                                # registered already in this process
        pass


@contextlib.contextmanager
def grouped_convolutions_in_the_graph():
    """Keras on TensorFlow runs a grouped Conv2D inside a nested `tf.function(jit_compile=True)` (plain
    Conv2D kernels refuse groups on CPU), which the profiler cannot look into: it counts nothing for it nor
    for anything downstream. While tracing for the profiler (the graph is never run), this emits the plain
    `Conv2D` op instead — the same call Keras makes inside that function — whose shape function and FLOPs
    statistic handle groups (filter depth = input depth / groups)."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn

    original = nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        fmt = nn._convert_data_format(data_format, len(inputs.shape))
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), data_format=fmt, dilations=dilation_rate)

    nn.conv = conv
    try:
        yield
    finally:
        nn.conv = original


def frozen_graph(model, see_grouped: bool = False):
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec((1, *t.shape[1:]), t.dtype) for t in model.inputs]
    fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    with grouped_convolutions_in_the_graph() if see_grouped else contextlib.nullcontext():
        concrete = fn.get_concrete_function(*specs)
    return convert_variables_to_constants_v2(concrete).graph


def profile(graph) -> Profile:
    import tensorflow as tf

    register_einsum_flops()
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    root = tf.compat.v1.profiler.profile(graph, options=opts, cmd="op")
    by_type, node = {}, root
    while node.children:                   # the "op" view is a chain: each op type holds the next one
        node = node.children[0]
        by_type[node.name] = by_type.get(node.name, 0) + int(node.float_ops)
    return Profile(int(root.total_float_ops), by_type)


def per_layer(graph, layer_names: dict[str, str]) -> tuple[dict, dict, dict]:
    """FLOPs per graph node id, using the profiler's registry; `layer_names` maps Keras name -> node id."""
    from tensorflow.python.framework import ops as tf_ops

    register_einsum_flops()
    by_layer, types, unmatched = Counter(), defaultdict(Counter), {}
    for op in graph.get_operations():
        try:
            flops = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
        except ValueError:                 # no statistic registered, or shapes unknown: the profiler skips it
            continue
        if not flops:
            continue
        parts = op.name.split("/")
        # "<model>_1/<layer>_1/<op>": the tf.function graph re-uniquifies each name scope with a suffix
        scope = parts[1] if len(parts) > 2 else ""
        node = layer_names.get(scope) or layer_names.get(re.sub(r"_\d+$", "", scope))
        if node is None:
            unmatched[op.name] = int(flops)
            continue
        by_layer[node] += int(flops)
        types[node][op.type] += int(flops)
    return dict(by_layer), dict(types), unmatched


def profile_spec(spec, model=None, see_grouped: bool = False) -> Profile:
    from archspec.compile import keras_name

    model = model if model is not None else spec.to_keras()
    graph = frozen_graph(model, see_grouped)
    p = profile(graph)
    p.by_layer, p.layer_types, p.unmatched = per_layer(graph, {keras_name(n.id): n.id for n in spec.graph})
    return p
