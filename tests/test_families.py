"""The classic families in specs/ against keras.applications, which is the reference: no number here is
typed in by hand.

For each family the Keras model is built once (weights=None, the classifier top) and boiled down to
plain Python — totals and one record per layer — then freed, so the tests hold no Keras model.
Three levels of evidence:

* totals: params, trainable and non-trainable, as `count_params()` and the weight lists say;
* the ordered list of per-layer parameter counts of the layers that have parameters;
* layer for layer: the Keras class, parameter count, output shape and the attributes Keras's config
  shares with archspec's (kernel, strides, padding, use_bias, epsilon, momentum, max_value …), which
  is what the weight-copy step relies on.

Keras's `model.layers` is not definition order: `keras.src.ops.function.map_graph` sorts layers by
depth (longest path to the output, deepest first) and breaks ties by the order a depth-first walk from
the output, taking each layer's inputs in order, first reaches them. So a branch's layers interleave
with its siblings' and ResNet's projection shortcut lands among the body's layers. `keras_order`
applies that same rule to the archspec graph; the comparisons are then exact and ordered. The order it
gives depends only on the topology and the input order of each merge, so the compiled spec's own
`model.layers` comes out in this order as well.
"""
from __future__ import annotations

import gc
import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

import archspec  # noqa: E402
from archspec import ops  # noqa: E402

pytestmark = pytest.mark.keras

SPECS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")

# (id, spec file, --set overrides, keras.applications constructor, its keyword arguments)
FAMILIES = [
    ("resnet50", "resnet50.yaml", {}, "ResNet50", {}),
    ("inception_resnet_v2", "inception_resnet_v2.yaml", {}, "InceptionResNetV2", {}),
    ("vgg16", "vgg16.yaml", {}, "VGG16", {}),
    ("mobilenet_v2", "mobilenet_v2.yaml", {}, "MobileNetV2", {}),
    ("mobilenet_v2_alpha0.5", "mobilenet_v2.yaml", {"alpha": 0.5}, "MobileNetV2", {"alpha": 0.5}),
    ("densenet121", "densenet121.yaml", {}, "DenseNet121", {}),
    ("efficientnet_b0", "efficientnet_b0.yaml", {}, "EfficientNetB0", {}),
    ("convnext_tiny", "convnext_tiny.yaml", {}, "ConvNeXtTiny", {}),
]

# Families with parallel paths whose layers Keras interleaves by depth (ResNet's projection shortcut,
# Inception's branches): their definition order differs from `model.layers`. Chains with identity
# shortcuts or identity paths (VGG, MobileNetV2, DenseNet) keep definition order.
INTERLEAVED = {"resnet50", "inception_resnet_v2"}
# Keras's model.layers leaves out operations that are not layers (ConvNeXt's `inputs + x`); `keras_operations`
# keeps them, so these families are compared with them.
# archspec's ScaledAdd is Keras's CustomScaleLayer in inception_resnet_v2.py (x + scale·up).
KERAS_CLASS = {"ScaledAdd": "CustomScaleLayer"}
# attributes compared when both archspec's keras_kwargs and Keras's get_config have them
ATTRS = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "depth_multiplier", "use_bias",
         "activation", "units", "axis", "epsilon", "momentum", "center", "scale", "max_value", "negative_slope",
         "threshold", "pool_size", "keepdims", "noise_shape", "mean", "variance", "invert", "init_values",
         "target_shape", "offset", "rate")


# ---- plain-Python summaries ------------------------------------------------------------------------
def _norm(value):
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _attrs(config: dict, rank: int) -> dict:
    out = {}
    for key in ATTRS:
        if key not in config:
            continue
        v = _norm(config[key])
        if key == "activation" and v is None:
            v = "linear"
        if key == "activation" and v == "swish":
            v = "silu"                      # Keras's config names swish by its alias
        if key == "axis" and isinstance(v, tuple) and len(v) == 1:
            v = v[0]
        if key == "axis" and isinstance(v, int) and v < 0:
            v += rank                       # -1 and 3 name the same (channels) axis of a 4-D tensor
        out[key] = v
    return out


def _weights(ws) -> int:
    return sum(math.prod(w.shape) for w in ws)


def keras_operations(model) -> list:
    """`model.operations` (the layers, and operations such as ConvNeXt's `inputs + x`, a keras.ops Add)
    with nested Sequential models (ConvNeXt's stem and downsampling blocks) replaced by their layers."""
    import keras

    out = []
    for op in model.operations:
        out += op.layers if isinstance(op, keras.Sequential) else [op]
    return out


def keras_summary(ctor: str, kwargs: dict) -> dict:
    import keras

    keras.backend.clear_session()
    model = getattr(keras.applications, ctor)(weights=None, **kwargs)
    layers = []
    for layer in keras_operations(model):
        shape = tuple(layer.output.shape[1:])
        cls = type(layer).__name__
        config = layer.get_config() if isinstance(layer, keras.layers.Layer) else {}
        params = layer.count_params() if isinstance(layer, keras.layers.Layer) else 0
        layers.append({"name": layer.name, "class": cls, "params": params, "shape": shape,
                       "attrs": _attrs(config, len(shape) + 1)})
    out = {"params": model.count_params(), "trainable": _weights(model.trainable_weights),
           "non_trainable": _weights(model.non_trainable_weights), "layers": layers}
    del model
    keras.backend.clear_session()
    gc.collect()
    return out


def keras_order(graph) -> list[str]:
    """Node ids in the order Keras's functional API lists `model.layers` (keras.src.ops.function.map_graph):
    depth = longest path to an output, deepest first; ties in the order a depth-first walk from the
    outputs (inputs taken in order) first reaches the node."""
    first_seen: dict[str, int] = {}
    finished: list[str] = []            # post-order: inputs before the layers that use them
    done: set[str] = set()
    for out in graph.outputs.values():
        stack = [(out, False)]
        while stack:
            nid, expanded = stack.pop()
            if expanded:
                done.add(nid)
                finished.append(nid)
                continue
            if nid in done:
                continue
            first_seen.setdefault(nid, len(first_seen))
            stack.append((nid, True))
            stack.extend((p, False) for p in reversed(graph[nid].inputs))
    depth: dict[str, int] = {}
    for nid in reversed(finished):
        d = depth.setdefault(nid, 0)
        for p in graph[nid].inputs:
            depth[p] = max(depth.get(p, 0), d + 1)
    return sorted(finished, key=lambda n: (-depth[n], first_seen[n]))


def spec_summary(spec) -> dict:
    a = spec.analysis()
    layers = []
    for nid in keras_order(spec.graph):
        node = spec.graph[nid]
        op = ops.get(node.op)
        shape = tuple(node.shape)
        layers.append({"name": nid, "class": KERAS_CLASS.get(op.keras_class, op.keras_class),
                       "params": a.nodes[nid].params, "shape": shape,
                       "attrs": _attrs(op.keras_kwargs(node.attrs), len(shape) + 1)})
    return {"params": a.total.params, "trainable": a.total.trainable, "non_trainable": a.total.non_trainable,
            "layers": layers,
            "definition_order": [a.nodes[n.id].params for n in spec.graph if a.nodes[n.id].params > 0]}


@pytest.fixture(scope="module", params=FAMILIES, ids=[f[0] for f in FAMILIES])
def family(request):
    pytest.importorskip("keras")
    _, path, overrides, ctor, kwargs = request.param
    spec = archspec.load(os.path.join(SPECS, path), overrides=overrides)
    return spec_summary(spec), keras_summary(ctor, kwargs), request.param[0]


# ---- the tests -------------------------------------------------------------------------------------
def test_totals_match_keras(family):
    ours, ref, _ = family
    assert (ours["params"], ours["trainable"], ours["non_trainable"]) == \
        (ref["params"], ref["trainable"], ref["non_trainable"])


def test_parameter_layers_in_order(family):
    """The per-layer parameter counts of the layers with parameters, in `model.layers` order."""
    ours, ref, name = family
    keras_params = [lay["params"] for lay in ref["layers"] if lay["params"] > 0]
    assert [lay["params"] for lay in ours["layers"] if lay["params"] > 0] == keras_params
    if name in INTERLEAVED:
        # Keras's depth ordering interleaves parallel paths (module docstring), so the graph's
        # definition order is another order of the same layers.
        assert sorted(ours["definition_order"]) == sorted(keras_params)
    else:
        assert ours["definition_order"] == keras_params


def test_layers_mirror_keras(family):
    """Layer for layer: class, parameter count, output shape and the shared attributes."""
    ours, ref, _ = family
    assert len(ours["layers"]) == len(ref["layers"]), "layer counts differ"
    for k, (a, b) in enumerate(zip(ours["layers"], ref["layers"])):
        where = f"layer {k}: archspec {a['name']} vs keras {b['name']}"
        assert (a["class"], a["params"], a["shape"]) == (b["class"], b["params"], b["shape"]), where
        shared = a["attrs"].keys() & b["attrs"].keys()
        assert {x: a["attrs"][x] for x in shared} == {x: b["attrs"][x] for x in shared}, where
