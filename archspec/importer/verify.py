"""Prove an import exact: the spec's graph matches the Keras graph node for node, and the compiled spec,
given the original weights layer by layer, computes the same outputs (imports Keras).

Matching needs no names: it walks both graphs back from their outputs in step, pairing each node's
inputs in order, and checks at every pair the op, every attribute and the number of inputs; the pairing
must cover both graphs one to one. The weights then go across through that pairing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .reader import KGraph, read_model


class RoundTripError(Exception):
    """The spec does not reproduce the Keras model."""


@dataclass
class RoundTrip:
    layers: int
    params_keras: int
    params_compiled: int
    params_spec: int
    max_abs_diff: float                  # over every output, on a random batch
    max_abs_diff_features: float         # the tensors entering the output layers (before a softmax)
    output_scale: float                  # max |output| of the reference, for context
    pairs: dict = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return (self.params_keras == self.params_compiled == self.params_spec and self.max_abs_diff <= 1e-4
                and self.max_abs_diff_features <= 1e-4 * max(1.0, self.output_scale))

    def summary(self) -> str:
        same = "=" if self.params_keras == self.params_compiled == self.params_spec else "≠"
        return (f"round trip: {self.layers} layers matched, params {self.params_keras:,} (Keras) {same} "
                f"{self.params_compiled:,} (compiled spec); max |Δ| outputs {self.max_abs_diff:.3g}, "
                f"features {self.max_abs_diff_features:.3g}")


def match(graph, kg: KGraph) -> dict[str, str]:
    """spec node id → Keras layer name, pairing both graphs back from their outputs."""
    outs = list(graph.outputs.values())
    if len(outs) != len(kg.outputs) or len(graph.inputs) != len(kg.inputs):
        raise RoundTripError(f"the spec has {len(graph.inputs)} inputs and {len(outs)} outputs, the Keras model "
                             f"{len(kg.inputs)} and {len(kg.outputs)}")
    pairs: dict[str, str] = {}
    todo = list(zip(outs, kg.outputs)) + list(zip(graph.inputs, kg.inputs))
    while todo:
        s, k = todo.pop()
        if s in pairs:
            if pairs[s] != k:
                raise RoundTripError(f"the spec layer '{s}' stands for both '{pairs[s]}' and '{k}'")
            continue
        sn, kn = graph[s], kg.nodes[k]
        if sn.op != kn.op:
            raise RoundTripError(f"the spec layer '{s}' is a {sn.op}, the Keras layer '{k}' a {kn.op}")
        if sn.attrs != kn.attrs:
            diff = {f: (getattr(sn.attrs, f), getattr(kn.attrs, f)) for f in type(sn.attrs).model_fields
                    if getattr(sn.attrs, f) != getattr(kn.attrs, f)}
            raise RoundTripError(f"the spec layer '{s}' differs from the Keras layer '{k}': "
                                 + ", ".join(f"{f} {a!r} vs {b!r}" for f, (a, b) in diff.items()))
        if len(sn.inputs) != len(kn.inputs):
            raise RoundTripError(f"the spec layer '{s}' takes {len(sn.inputs)} inputs, the Keras layer '{k}' "
                                 f"{len(kn.inputs)}")
        pairs[s] = k
        todo.extend(zip(sn.inputs, kn.inputs))
    if len(set(pairs.values())) != len(pairs) or len(pairs) != len(graph) or len(pairs) != len(kg.nodes):
        raise RoundTripError(f"the pairing covers {len(pairs)} of {len(graph)} spec layers and "
                             f"{len(set(pairs.values()))} of {len(kg.nodes)} Keras layers")
    return pairs


def roundtrip(model, text: str, name: str = "<import>", seed: int = 0, batch: int = 2,
              kg: KGraph | None = None) -> RoundTrip:
    """Load `text`, match it against `model`, compile it, copy the weights across and compare outputs.

    Weights still at a constant initial value (batch-norm statistics, zero biases) are set to random
    values in both models for the comparison, so that every layer matters; the original model's
    weights are restored afterwards."""
    import numpy as np

    from .. import ops
    from ..api import load_text
    from ..compile import keras_name

    spec = load_text(text, name)
    kg = kg or read_model(model)
    pairs = match(spec.graph, kg)
    compiled = spec.to_keras()
    rng = np.random.default_rng(seed)
    saved = []
    for sid, kname in pairs.items():
        layer = kg.nodes[kname].layer
        if layer is None or not layer.weights:
            continue
        weights = layer.get_weights()
        fresh = [_randomized(w, v.path if hasattr(v, "path") else v.name, rng) for w, v in zip(weights, layer.weights)]
        if any(f is not w for f, w in zip(fresh, weights)):
            saved.append((layer, weights))
            layer.set_weights(fresh)
        target = compiled.get_layer(keras_name(sid))
        target.set_weights(ops.get(spec.graph[sid].op).keras_weights(layer, target, fresh))
    try:
        xs = inputs_for(spec.graph, batch, rng)
        outs = list(spec.graph.outputs.values())
        ref = _reference(model, kg, xs)
        got = (_outputs(compiled, list(spec.graph.outputs), xs),
               _producers(compiled, [i for o in outs for i in spec.graph[o].inputs], keras_name, xs))
    finally:
        for layer, weights in saved:
            layer.set_weights(weights)
    diff_out = max(float(np.max(np.abs(a - b))) for a, b in zip(ref[0], got[0]))
    feats = (ref[1], got[1]) if len(ref[1]) == len(got[1]) else ([], [])
    diff_feat = max((float(np.max(np.abs(a - b))) for a, b in zip(*feats)), default=0.0)
    scale = max(float(np.max(np.abs(a))) for a in ref[0] + list(feats[0]))
    from .weights import graph_params

    return RoundTrip(len(pairs), graph_params(model, kg.idle), compiled.count_params(), spec.analysis().total.params,
                     diff_out, diff_feat, scale, pairs)


def inputs_for(graph, batch: int, rng) -> list:
    """Inputs that exercise every part of an imported model: floats uniform in [0, 1); integer ids drawn
    from the whole range the ops reading them accept (:meth:`Op.token_ids`: a token embedding's
    vocabulary, a segment table's size); any other integer or boolean input (a padding mask) ones with a
    right-padded tail on every other row (half the keys on the second) — the first row kept whole and each row's first key kept, so
    masked attention is compared, and no row is all padding."""
    import numpy as np

    from .. import ops

    succs = graph.succs
    out = []
    for i in graph.inputs:
        node = graph[i]
        shape, dtype = (batch,) + tuple(node.shape), _dtype(node)
        if not (dtype.startswith(("int", "uint")) or dtype == "bool"):
            out.append(rng.uniform(0, 1, size=shape).astype(dtype))
            continue
        limits = [n for n in (ops.get(graph[s].op).token_ids(graph[s].attrs) for s in succs.get(i, ())
                              if graph[s].inputs and graph[s].inputs[0] == i) if n]
        if limits:
            out.append(rng.integers(0, min(limits), size=shape).astype(dtype))
            continue
        mask = np.ones(shape, dtype=dtype)
        length = shape[-1] if len(shape) > 1 else 1
        for row in range(1, batch, 2) if length > 1 else ():
            mask[row, ..., length - 1 - (row // 2 + length // 2 - 1) % (length - 1):] = 0
        out.append(mask)
    return out


def _dtype(node) -> str:
    return "float32" if node.attrs.dtype in ("float16", "bfloat16") else node.attrs.dtype


def _randomized(w, name: str, rng):
    import numpy as np

    if w.size == 0 or np.ptp(w) > 0:
        return w                                          # already random (initialized or trained)
    name = name.lower()
    if "variance" in name or "gamma" in name:
        return rng.uniform(0.5, 1.5, size=w.shape).astype(w.dtype)
    return rng.normal(0, 0.1, size=w.shape).astype(w.dtype)


def _reference(model, kg: KGraph, xs):
    """The Keras model's outputs and the tensors entering its output layers; only its outputs where an output
    layer is no layer of the model's own (a part of a traced composite layer, of a nested model) or is
    called more than once (a model re-traced on fixed input shapes)."""
    import keras
    import numpy as np

    struct = getattr(model, "_outputs_struct", None)
    wanted = [struct[k] for k in kg.output_names] if isinstance(struct, dict) else list(model.outputs)
    inputs = _inputs_in_order(model, kg.inputs)
    outs = keras.Model(inputs, wanted)(xs, training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [np.asarray(o) for o in outs], _producers(model, [i for o in kg.outputs for i in kg.nodes[o].inputs],
                                                     None, xs, inputs)


def _inputs_in_order(model, names: list[str]) -> list:
    """The model's input tensors in the order of the graph's inputs (a dict-input model flattens its inputs
    by key, the graph keeps the config's order)."""
    by_name = {t._keras_history.operation.name: t for t in model.inputs}
    return [by_name[n] for n in names] if set(names) <= set(by_name) else list(model.inputs)


def _producers(model, names, rename, xs, inputs=None):
    """The outputs of the layers `names` (the inputs of the output layers, in the graph's order), as numpy
    arrays; none where a layer is not one of the model's own, called once (the features are then not
    compared, the outputs still are)."""
    import keras
    import numpy as np

    try:
        tensors = [model.get_layer(rename(n) if rename else n).output for n in names]
        values = keras.Model(inputs or model.inputs, tensors)(xs, training=False)
    except (ValueError, AttributeError):
        return []
    return [np.asarray(v) for v in (values if isinstance(values, (list, tuple)) else [values])]


def _outputs(model, out_names, xs):
    """The model's outputs as numpy arrays, taken by the model's own output structure (a dict's keys
    `out_names`, else in order) — not by layer name: an output may come from a layer with no layer of its
    own (tied_logits and shared_embedding call an embedding's layer again)."""
    import keras
    import numpy as np

    out = model.output
    tensors = ([out[k] for k in out_names] if isinstance(out, dict) else
               list(out) if isinstance(out, (list, tuple)) else [out])
    values = keras.Model(model.inputs, tensors)(xs, training=False)
    return [np.asarray(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
