"""Read a Keras 3 functional (or Sequential) model into a small graph of archspec ops (imports Keras).

Each Keras layer becomes one :class:`KNode` holding the archspec op and its validated attributes. The
mapping Keras config → archspec attributes is the inverse of each op's ``keras_kwargs``; it is checked,
not trusted: the attributes are turned back into Keras keyword arguments and compared with the layer's
config, and every other config key must equal what a layer built from those arguments alone has (so
nothing that changes the computation is lost). Initializers are not compared — a spec describes an
architecture, not how its weights start — and regularizers, constraints, frozen layers and dtype
policies become warnings.

Wiring is read from ``model.get_config()["layers"][i]["inbound_nodes"]``, the serialized form Keras 3
itself reloads models from; constants in it (``x + 3.0`` in MobileNetV3) are kept.

Which op reads which Keras class, and how a config becomes attributes, belongs to the op
(:meth:`archspec.ops.base.Op.from_keras` and its ``keras_classes``, ``keras_ops``, ``probe_lambda``); this
module only walks the model and checks each op's answer.

Layers archspec cannot express are collected, all of them, into one :class:`UnsupportedModel`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .. import ops
from ..ops.base import KerasImportError, activation_name, keras_value
from . import blocks, trace

IGNORED = {"name", "trainable", "dtype", "build_config", "data_format"}
WARN_KEYS = ("regularizer", "constraint")
HINTS = {
    "StochasticDepth": "stochastic depth has no archspec op; a Dropout with noise_shape (None, 1, 1, 1) is one",
    "Sequential": "a model nested as a layer is flattened into the outer one only when it is built and called "
                  "once; build it with an Input, and call it once",
    "Functional": "a model nested as a layer is flattened into the outer one only when it is called once",
}


class UnsupportedModel(Exception):
    """The model uses layers (or settings) the spec language cannot express; `problems` lists them all."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class KNode:
    name: str                       # the Keras layer (or operation) name
    cls: str                        # the Keras class name
    op: str                         # the archspec op
    attrs: object                   # the op's validated Attrs
    inputs: list[str]
    in_shapes: list[tuple]
    layer: object = None            # the live Keras layer, for its weights
    auto: bool = False              # Keras made the name up (conv2d_17)
    note: str = ""                  # e.g. how a Lambda was recognized


@dataclass
class Instance:
    """One composite layer traced into its parts (importer/trace.py): which nodes of the graph it became."""
    name: str                       # the Keras layer traced (transformer_layer_0)
    cls: str                        # its class (TransformerEncoder)
    module: str
    inputs: list[str]               # the graph nodes its call's tensors come from, in the traced inputs' order
    nodes: list[str]                # the nodes it became, in the config's (topological) order
    output: str


@dataclass
class KGraph:
    name: str
    nodes: dict[str, KNode]         # topological order
    inputs: list[str]
    outputs: list[str]
    warnings: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)   # a dict-output model's keys, else layer names
    instances: dict[str, Instance] = field(default_factory=dict)   # composite layers traced, by Keras name
    idle: list = field(default_factory=list)    # weights a layer read as a block holds but never computes with

    def consumers(self) -> dict[str, list[str]]:
        out = {n: [] for n in self.nodes}
        for node in self.nodes.values():
            for i in node.inputs:
                out[i].append(node.name)
        return out


def read_model(model) -> KGraph:
    """The graph of `model` in archspec ops; raises UnsupportedModel listing every layer it cannot express."""
    import keras

    if isinstance(model, keras.Sequential):
        if getattr(model, "_functional", None) is None:
            raise UnsupportedModel([f"the Sequential model '{model.name}' is not built; give it an Input "
                                    "(keras.Input(shape=...)) or call build() first"])
        model = model._functional
    if not _is_functional(model):
        raise UnsupportedModel([f"'{model.name}' is a subclassed model ({type(model).__name__}); only functional "
                                "and Sequential models have a graph to read"])
    config, live = _graph_config(model)
    problems, warnings, nodes = [], [], {}
    instances: dict[str, Instance] = {}
    idle: list = []
    config, live = _flatten(config, live, problems, instances, idle)
    split: dict[str, list[str]] = {}
    config = _split_calls(config, live, copies=split)
    if split:               # a traced layer's part called several times (ESM's dropout): each call its node
        for inst in instances.values():
            inst.nodes = [c for n in inst.nodes for c in split.get(n, [n])]
    config = _skip_identities(config, live, instances)
    config = _drop_identities(config, instances)
    config, unreached = _prune(config, live, instances)
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"].get("name")
        try:
            node = _convert(entry, live.get(name), nodes, warnings)
        except _Problem as exc:
            problems.append(f"layer '{name}' ({_qualname(entry)}): {exc}")
            node = KNode(name, entry["class_name"], "?", None, [], [])
        nodes[name] = node
    if problems:
        raise UnsupportedModel(problems)
    nodes = _toposort(nodes)
    if split:                                             # (the copies in the order the graph computes them)
        position = {n: k for k, n in enumerate(nodes)}
        for inst in instances.values():
            inst.nodes = sorted(inst.nodes, key=lambda n: position.get(n, -1))
    problems = _shape_problems(nodes)
    if problems:
        raise UnsupportedModel(problems)
    inputs, _ = _refs(config["input_layers"])
    outputs, output_names = _refs(config["output_layers"])
    if len(set(outputs)) != len(outputs):
        raise UnsupportedModel(["the model lists one layer twice among its outputs"])
    idle.extend(_unreached_weights(unreached, nodes, idle))
    return KGraph(_clean_name(config.get("name") or model.name), nodes, inputs, outputs, warnings,
                  output_names, instances, idle)


def _graph_config(model) -> tuple[dict, dict]:
    """The functional config of `model` (its layers and their wiring) and its operations by name.

    A subclass of Functional — a KerasHub backbone saved directly, a backbone nested in another, a user's
    class with its own __init__ — has a get_config of its constructor's arguments (its own, or Keras's for
    a constructor it cannot read), so it is read through a plain functional model over the same input and
    output tensors, which shares its layers. A layer whose own get_config fails is
    refused by name: the graph is read from the layers' configs."""
    import keras
    from keras.src.models.functional import Functional

    plain = model
    if type(model) is not Functional:       # a subclass: its config holds its constructor's arguments (Keras's
        plain = keras.Model(model.input, model.output, name=model.name)    # own get_config does so too)
    try:
        with trace.stub_composite_configs(plain):          # layers to be traced need no config of their own
            config = plain.get_config()
    except Exception as exc:                               # noqa: BLE001  (a layer's own code failing)
        with trace.stub_composite_configs(plain):
            config = _config_around_failures(plain, exc)
    return trace.reduce_masks(config, plain), {op.name: op for op in plain.operations}


def _config_around_failures(model, exc) -> dict:
    """The model's config when some layers' own get_config fails: those layers stand in it as a stub
    naming the failure (refused by `_convert`, by name), so that every other layer is still read and every
    problem is listed. Raises UnsupportedModel when the failure is not a layer's."""
    failing = {}
    for op in model.operations:
        try:
            op.get_config()
        except Exception as e:                              # noqa: BLE001
            failing[op] = (f"its get_config() raises {type(e).__name__}: {_first_line(e)}; archspec reads a layer "
                           "from its config")
    if not failing:
        raise UnsupportedModel(_config_failures(model, exc))
    for op, why in failing.items():             # an instance attribute, removed again below
        op.get_config = (lambda name=op.name, why=why: {"name": name, "trainable": True, UNREADABLE: why})
    try:
        return model.get_config()
    except Exception as again:                              # noqa: BLE001
        raise UnsupportedModel(_config_failures(model, again)) from None
    finally:
        for op in failing:
            del op.get_config


UNREADABLE = "__archspec_unreadable__"      # the config key of a layer whose own get_config failed


def _config_failures(model, exc) -> list[str]:
    """Which layers' get_config fail (each named), else the model's own failure."""
    problems = []
    for op in model.operations:
        if trace.layer_is_composite(op):
            continue                                        # (traced, not read from its config)
        try:
            op.get_config()
        except Exception as e:                              # noqa: BLE001
            text = next((t.strip() for t in str(e).splitlines() if t.strip()), "")
            problems.append(f"layer '{op.name}' ({_layer_qualname(op)}): its get_config() raises "
                            f"{type(e).__name__}: {text}; archspec reads a layer from its config")
    return problems or [f"the model's get_config() raises {type(exc).__name__}: {exc}; archspec reads a model "
                        "from its config"]


def _first_line(exc) -> str:
    return next((t.strip() for t in str(exc).splitlines() if t.strip()), "no message")


def _layer_qualname(layer) -> str:
    return _qualified(type(layer).__module__, type(layer).__name__)


# ---- models used as layers ---------------------------------------------------------------------------
def _call_tensors(args: list, in_keys: list) -> list:
    """The arguments a nested model was called with, one per input: a dict of tensors (a KerasHub encoder)
    in the order of its input keys, a list, or the positional arguments."""
    if len(args) == 1 and isinstance(args[0], dict) and not _is_tensor(args[0]):
        return [args[0].get(k) for k in in_keys]
    return args[0] if len(args) == 1 and isinstance(args[0], list) else args


def _part_names(icfg: dict, feed: dict, name: str, traced: bool, taken: set) -> dict[str, str]:
    """Outer names for a nested model's layers (those not fed from outside): their own unless taken, then
    `<model>_<layer>`; a traced layer's parts always `<layer>_<part>`. Adds them to `taken`."""
    rename = {}
    for ie in icfg["layers"]:
        iname = ie.get("name") or ie["config"].get("name")
        if iname in feed:
            continue                        # its inputs are the outer tensors it was called on
        new, k = (f"{name}_{iname}", 2) if traced else (iname, 1)
        while new in taken:
            new, k = f"{name}_{iname}" + (f"_{k}" if k > 1 else ""), k + 1
        taken.add(new)
        rename[iname] = new
    return rename


def _output_refs(icfg: dict) -> list:
    """A model config's output references as a list of [layer, node, tensor]."""
    outs = icfg["output_layers"]
    if isinstance(outs, dict):
        outs = list(outs.values())
    return [outs] if outs and not isinstance(outs[0], (list, tuple)) else outs


def _flatten(config: dict, live: dict, problems: list, instances: dict | None = None,
             idle: list | None = None) -> tuple[dict, dict]:
    """`config` with every functional or Sequential model used as a layer replaced by its own layers, wired
    to the tensors the model was called on (recursively: models inside those too), and `live` extended with
    their layer objects. An inner layer whose name the outer model already uses is renamed
    `<model>_<layer>`. A spec is flat, so this is how ConvNeXt's `Sequential` stem reads as two layers.
    Composite layers are traced (importer/trace.py) and spliced the same way, their parts named
    `<layer>_<part>`; `instances` (given at the top level) records which nodes each became."""
    import copy

    import keras

    live = dict(live)
    config = _split_calls(config, live, composite=True)     # (a weightless one called twice: traced per call)
    taken = {e.get("name") or e["config"].get("name") for e in config["layers"]}
    layers, alias, found = [], {}, []
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"].get("name")
        inner = live.get(name)
        if blocks.is_block(entry):                          # a KerasHub layer read as a chain of ops
            try:
                parts, plive, out, unused = blocks.read_block(inner, entry, taken, live)
            except blocks.BlockError as exc:
                problems.append(f"layer '{name}' ({_qualname(entry)}): {exc}")
                continue
            layers.extend(parts)
            live.update(plive)
            for t, ref in enumerate(out):
                alias[(name, t)] = ref
            if idle is not None:
                idle.extend(unused)
            continue
        traced = trace.is_composite(inner, entry)
        if traced:
            try:
                inner, flat = trace.trace_layer(inner, entry)
            except Exception as exc:                        # noqa: BLE001  (TraceError; or the layer's own code)
                if not isinstance(exc, trace.TraceError):
                    exc = f"{type(exc).__name__} while tracing it: {_first_line(exc)}"
                problems.append(f"layer '{name}' ({_qualname(entry)}): a custom layer "
                                f"({entry.get('registered_name') or _qualname(entry)}) archspec has no op for, "
                                f"and tracing it into its parts fails: {exc}")
                continue
        elif not isinstance(inner, keras.Model):
            layers.append(entry)
            continue
        if isinstance(inner, keras.Sequential):
            inner = getattr(inner, "_functional", None)
        inbound = entry.get("inbound_nodes") or []
        if inner is None or not _is_functional(inner) or len(inbound) != 1:
            layers.append(entry)                # _convert says why (a subclassed model, a shared one)
            continue
        what = f"layer '{name}' ({_qualname(entry)}), traced into its parts" if traced else f"in the nested model '{name}'"
        inner_problems = []
        try:
            icfg, ilive = _flatten(*_graph_config(inner), inner_problems, None, idle)
        except UnsupportedModel as exc:
            problems.extend(f"{what}: {p}" for p in inner_problems + exc.problems)
            continue
        problems.extend(f"{what}: {p}" if traced else p for p in inner_problems)
        args = inbound[0].get("args", [])
        in_names, in_keys = _refs(icfg["input_layers"])
        if not traced:                                      # (a traced layer's inputs: the call's tensors)
            flat = _call_tensors(args, in_keys)
        fed = [a["config"]["keras_history"] for a in flat if _is_tensor(a)]
        if len(fed) != len(flat) or len(fed) != len(in_names):
            problems.append(f"layer '{name}' (a nested model): it is called on {len(flat)} arguments for its "
                            f"{len(in_names)} inputs ({', '.join(in_keys)}), not one tensor each, which is how "
                            "archspec flattens a nested model")
            continue
        feed = {n: list(ref) for n, ref in zip(in_names, fed)}
        rename = _part_names(icfg, feed, name, traced, taken)

        def inner_ref(ref, feed=feed, rename=rename):
            n, node_index, tensor_index = ref
            return list(feed[n]) if n in feed else [rename.get(n, n), node_index, tensor_index]

        for ie in icfg["layers"]:
            iname = ie.get("name") or ie["config"].get("name")
            if iname in feed:
                continue
            ie = _rewire(copy.deepcopy(ie), inner_ref)
            ie["name"] = ie["config"]["name"] = rename[iname]
            layers.append(ie)
            live[rename[iname]] = ilive.get(iname)
        outs = _output_refs(icfg)
        for t, ref in enumerate(outs):
            alias[(name, t)] = inner_ref(ref)
        if traced and instances is not None and len(outs) == 1 and rename:    # (none: it returns its input)
            found.append((Instance(name, entry["class_name"], entry.get("module") or "", [], list(rename.values()), ""),
                          [feed[n] for n in in_names], inner_ref(outs[0])))

    def outer_ref(ref):
        n, node_index, tensor_index = ref
        seen = 0
        while (n, tensor_index) in alias and seen < 100:    # a nested model fed by another one
            n, node_index, tensor_index = alias[(n, tensor_index)]
            seen += 1
        return [n, node_index, tensor_index]

    for inst, ins, out in found:             # wired as the outer graph is: to the nodes models and layers became
        inst.inputs, inst.output = [outer_ref(r)[0] for r in ins], outer_ref(out)[0]
        instances[inst.name] = inst
    config = dict(config, layers=[_rewire(e, outer_ref) for e in layers],
                  output_layers=_rewire_refs(config["output_layers"], outer_ref),
                  input_layers=config["input_layers"])
    return config, live


def _split_calls(config: dict, live: dict, composite: bool = False, copies: dict | None = None) -> dict:
    """`config` with layers called more than once written as one entry per call, where that computes the
    same: a layer without weights (a Dropout or Resizing applied to two tensors) becomes a layer of its own
    per call; a layer with weights whose op says what its later calls are (`Op.keras_reuse`: a token
    embedding looked up again, or called with reverse=True) keeps its first call, and each later one
    becomes that op's node, fed by the call's inputs and then the first call's output (the layer whose
    weights it reuses). Any other layer called twice is left for `_wiring` to refuse. The first call keeps
    the name, the others are `<name>_<k>` (k = 2, 3, …, skipping names the model uses) — or, for a later call
    with weights, its op's name (`tied_logits`, `shared_embedding`, then `_2`, … where taken), as a spec
    writes it. With `composite`:
    only the composite layers without weights (before they are traced, one trace per call). `copies`, when
    given, receives each split layer's name → the names of its calls' nodes."""
    import copy

    import keras

    taken = {e.get("name") or e["config"].get("name") for e in config["layers"]}
    layers, copies = [], ({} if copies is None else copies)
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"].get("name")
        inbound = entry.get("inbound_nodes") or []
        layer = live.get(name)
        if len(inbound) < 2 or layer is None or isinstance(layer, keras.Model) or (
                composite and (layer.weights or not trace.is_composite(layer, entry))):
            layers.append(entry)
            continue
        later = None
        if layer.weights:
            known = ops.of_keras_class(entry["class_name"], entry.get("module") or "", entry.get("registered_name"))
            later = [known.keras_reuse(_call_kwargs(node)) if known is not None else None for node in inbound[1:]]
            if any(op is None for op in later):
                layers.append(entry)
                continue
        names = [name]
        for k in range(2, len(inbound) + 1):
            base = later[k - 2] if later else name     # a later call with weights: named after its op
            new, j = (base, 1) if later else (f"{name}_{k}", k)
            while new in taken:
                j += 1
                new = f"{base}_{j}" if later else f"{name}_{k}_{j}"
            taken.add(new)
            names.append(new)
        for k, (new, node) in enumerate(zip(names, inbound)):
            if later and k:
                e = {"class_name": entry["class_name"], "module": entry.get("module"), "name": new,
                     "registered_name": entry.get("registered_name"), "config": {"name": new},
                     "inbound_nodes": [dict(node, kwargs={})],
                     "reuse": {"op": later[k - 1], "owner": name, "config": entry["config"]}}
                live[new] = None
            else:
                e = copy.deepcopy(entry)
                e["inbound_nodes"] = [node]
                if "name" in e:
                    e["name"] = new
                e["config"]["name"] = new
                live[new] = layer
            layers.append(e)
        copies[name] = names
    if not copies:
        return config

    def fix(ref):
        n, node_index, tensor_index = ref
        if n in copies:
            return [copies[n][node_index], 0, tensor_index]
        return [n, node_index, tensor_index]

    return dict(config, layers=[_rewire(e, fix) for e in layers],
                output_layers=_rewire_refs(config["output_layers"], fix))


def _prune(config: dict, live: dict, instances: dict) -> tuple[dict, list]:
    """`config` without the layers no output depends on — a nested model's outputs the outer model does not
    use, and what only they need — and those layers' live objects."""
    kept = trace._reachable(config)
    if len(kept) == len(config["layers"]):
        return config, []
    names = {e.get("name") or e["config"].get("name") for e in kept}
    dropped = [e.get("name") or e["config"].get("name") for e in config["layers"]]
    dropped = [n for n in dropped if n not in names]
    for key, inst in list(instances.items()):
        inst.nodes = [n for n in inst.nodes if n in names]
        if not inst.nodes or inst.output not in names:
            del instances[key]
    return dict(config, layers=kept), [live[n] for n in dropped if live.get(n) is not None]


def _unreached_weights(unreached: list, nodes: dict, idle: list) -> list:
    """The weights held only by the `unreached` layers (those `_prune` left out), not by a layer of the
    graph's `nodes` nor already `idle`: out of the parameter count (importer/weights.py), named in a warning."""
    kept = {id(v) for n in nodes.values() if n.layer is not None for v in n.layer.weights} | {id(v) for v in idle}
    out = []
    for layer in unreached:
        for v in layer.weights:
            if id(v) not in kept:
                kept.add(id(v))
                out.append(v)
    return out


def _drop_identities(config: dict, instances: dict) -> dict:
    """`config` without the `keras.ops` calls that return their one tensor input unchanged (a cast to the
    dtype it has: ``ops.keras_op_identity``), their users wired to that input; the traced instances that
    held them hold them no more."""
    alias: dict[str, list] = {}

    def fix(ref):
        n, node_index, tensor_index = ref
        return list(alias[n]) if n in alias and not tensor_index else [n, node_index, tensor_index]

    layers = []
    for entry in config["layers"]:
        entry = _rewire(entry, fix) if alias else entry
        inbound = entry.get("inbound_nodes") or []
        args = inbound[0].get("args", []) if len(inbound) == 1 else []
        if (len(args) == 1 and _is_tensor(args[0]) and not _call_kwargs(inbound[0])
                and ops.keras_op_identity(entry["class_name"], entry["config"], [args[0]["config"].get("dtype")],
                                          entry.get("module") or "")):
            alias[entry.get("name") or entry["config"].get("name")] = list(args[0]["config"]["keras_history"])
            continue
        layers.append(entry)
    if not alias:
        return config
    for key, inst in list(instances.items()):
        inst.nodes = [n for n in inst.nodes if n not in alias]
        inst.inputs = [fix([n, 0, 0])[0] for n in inst.inputs]
        inst.output = fix([inst.output, 0, 0])[0]
        if not inst.nodes:
            del instances[key]
    return dict(config, layers=layers, output_layers=_rewire_refs(config["output_layers"], fix))


def _skip_identities(config: dict, live: dict, instances: dict) -> dict:
    """`config` without Keras's Identity layers (trace.is_identity): each one's consumers read its input
    instead. An Identity that would leave a model output reading a model input directly stays (and is
    refused by name); so does one called on anything but one tensor."""
    alias = {}
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"].get("name")
        inbound = entry.get("inbound_nodes") or []
        if not trace.is_identity(live.get(name)) or len(inbound) != 1 or _call_kwargs(inbound[0]):
            continue
        args = inbound[0].get("args", [])
        if len(args) == 1 and _is_tensor(args[0]):
            alias[name] = list(args[0]["config"]["keras_history"])

    def fix(ref):
        n, node_index, tensor_index = ref
        seen = 0
        while n in alias and not tensor_index and seen < 1000:
            n, node_index, tensor_index = alias[n]
            seen += 1
        return [n, node_index, tensor_index]

    if not alias:
        return config
    inputs = {r[0] for r in _ref_list(config["input_layers"])}
    if any(fix(r)[0] in inputs for r in _ref_list(config["output_layers"])):
        return config
    for key, inst in list(instances.items()):
        inst.nodes = [n for n in inst.nodes if n not in alias]
        inst.inputs = [fix([n, 0, 0])[0] for n in inst.inputs]
        inst.output = fix([inst.output, 0, 0])[0]
        if inst.output not in inst.nodes:                  # (it computed nothing but the identity)
            del instances[key]
    layers = [e for e in config["layers"] if (e.get("name") or e["config"].get("name")) not in alias]
    return dict(config, layers=[_rewire(e, fix) for e in layers],
                output_layers=_rewire_refs(config["output_layers"], fix))


def _call_kwargs(node) -> dict:
    """A call's keyword arguments that change what it computes (not `mask`, `training` or unset ones)."""
    return {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None and k not in ("mask", "training")}


def _rewire(obj, fix):
    """`obj` (a layer entry) with every Keras-tensor reference `[layer, node, tensor]` passed through `fix`."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            obj["config"]["keras_history"] = fix(obj["config"]["keras_history"])
            return obj
        return {k: _rewire(v, fix) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rewire(v, fix) for v in obj)
    return obj


def _rewire_refs(value, fix):
    """A config's input_layers / output_layers (a ref, a list of refs or a dict of them) through `fix`."""
    if isinstance(value, dict):
        return {k: fix(v) for k, v in value.items()}
    if value and not isinstance(value[0], (list, tuple)):
        return fix(value)
    return [fix(v) for v in value]


def _ref_list(value) -> list:
    """A config's input_layers / output_layers (a ref, a list of refs or a dict of them) as a list of refs."""
    if isinstance(value, dict):
        return list(value.values())
    return [value] if value and not isinstance(value[0], (list, tuple)) else list(value)


def _refs(value) -> tuple[list[str], list[str]]:
    """Layer names of a config's input_layers / output_layers (a ref, a list of refs or a dict of them),
    and the names the model gives them (a dict's keys, else the layer names)."""
    if isinstance(value, dict):
        names = list(value)
        return [_ref(value[k]) for k in names], names
    refs = [value] if value and not isinstance(value[0], list) else value
    layers = [_ref(r) for r in refs]
    return layers, list(layers)


def _is_functional(model) -> bool:
    return any(c.__name__ == "Functional" for c in type(model).__mro__)


class _Problem(Exception):
    pass


def _qualname(entry) -> str:
    return _qualified(entry.get("module") or "", entry["class_name"])


def _qualified(module: str, cls: str) -> str:
    """`module.Class` as users import it: Keras's layers under keras.layers, not keras.src.layers.…"""
    module = "keras.layers" if module.startswith("keras.src.layers") else module
    return f"{module}.{cls}" if module else cls


def _ref(ref) -> str:
    name, node_index, tensor_index = ref
    if tensor_index:
        raise UnsupportedModel([f"the model output is output {tensor_index} of the multi-output layer '{name}'"])
    return name


def _clean_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", name or "model")
    return name if re.match(r"[A-Za-z_]", name) else "model_" + name


def _shape_problems(nodes: dict[str, KNode]) -> list[str]:
    """Each node's op, on the shapes archspec computes for its inputs, must accept them, and they must be
    the shapes Keras recorded where it knows them: an op read from a call it does not compute (a keras.ops
    reshape that folds the batch into an axis, its input's size unknown to Keras) is refused here, by
    name, rather than written as a spec that does not load. `nodes` in topological order."""
    from ..ops.base import ShapeError

    shapes: dict[str, tuple | None] = {}
    problems = []
    for name, node in nodes.items():
        op = ops.get(node.op)
        ins = [shapes.get(i) for i in node.inputs]
        shapes[name] = None
        if op is None or any(s is None for s in ins) and not op.source:
            continue
        where = f"layer '{name}' ({node.cls})"
        for got, want in zip(ins, node.in_shapes):
            if len(got) != len(want) or any(w is not None and w != g for g, w in zip(got, want)):
                problems.append(f"{where}: archspec computes its input as {got} where Keras has {tuple(want)}; "
                                "an op before it is not what Keras computes (an importer limitation)")
                break
        else:
            try:
                shapes[name] = tuple(op.infer(node.attrs, ins))
            except ShapeError as exc:
                problems.append(f"{where}: archspec's {op.name} cannot take {', '.join(map(str, ins))} here: {exc.message}")
    return problems


def _toposort(nodes: dict[str, KNode]) -> dict[str, KNode]:
    """Kahn's algorithm, stable in the config's own order (which Keras already keeps topological)."""
    order, done = [], set()
    pending = list(nodes)
    while pending:
        rest = []
        for n in pending:
            if all(i in done for i in nodes[n].inputs):
                order.append(n)
                done.add(n)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise UnsupportedModel([f"the layers {', '.join(rest[:5])} form a cycle or use unknown inputs"])
        pending = rest
    return {n: nodes[n] for n in order}


# ---- one layer -----------------------------------------------------------------------------------
def _wiring(entry, nodes, warnings, tensor_kwargs=(), live=None, flags=None) -> tuple[list[str], list[tuple], list]:
    """(input layer names, their shapes without the batch axis, the non-tensor call arguments as
    (position, value)). `tensor_kwargs`: the call's keyword arguments that are inputs of the op, in the
    order they follow the positional ones (MultiHeadAttention's `key`). `flags`: the op's
    keras_call_flags; the attributes they set are put in `flags["set"]`."""
    inbound = entry.get("inbound_nodes") or []
    if len(inbound) > 1:
        if live is not None and not live.weights:
            raise _Problem(f"it is called {len(inbound)} times; archspec has no layer reuse (this layer has no "
                           "weights, so a layer of its own for each call would compute the same)")
        raise _Problem(f"it is called {len(inbound)} times (shared weights); archspec has no weight sharing")
    if not inbound:
        return [], [], []
    args, kwargs = trace.bind(live, inbound[0].get("args", []),
                              {k: v for k, v in (inbound[0].get("kwargs") or {}).items() if v is not None})
    kwargs.pop("mask", None)
    if kwargs.get("training") is not None:
        kwargs.pop("training")
    extra = [kwargs.pop(k) for k in tensor_kwargs if _is_tensor(kwargs.get(k))]
    if flags is not None:
        for k in flags.get("ignored", ()):
            kwargs.pop(k, None)
        flags["set"] = {}
        for k, attr in flags["map"].items():
            v = kwargs.pop(k, None)
            if _is_tensor(v):
                extra.append(v)
                flags["set"][attr] = True
            elif v is True:
                flags["set"][attr] = True
            elif v not in (None, False):
                kwargs[k] = v
        for k, attr in flags.get("values", {}).items():          # keras_call_values: a constant sets an attribute
            if k in kwargs and not _is_tensor(kwargs[k]):
                flags["set"][attr] = kwargs.pop(k)
    kwargs = trace.without_defaults(live, kwargs)          # start_index=0 where 0 is the call's default
    if kwargs:
        raise _Problem(f"it is called with the keyword arguments {sorted(kwargs)}, which a spec cannot express")
    flat = list(args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args) + extra
    names, shapes, consts = [], [], []
    for a in flat:
        if _is_tensor(a):
            layer, node_index, tensor_index = a["config"]["keras_history"]
            if tensor_index:
                raise _Problem(f"it takes output {tensor_index} of the multi-output layer '{layer}'")
            names.append(layer)
            shapes.append(tuple(a["config"]["shape"][1:]))
        else:
            consts.append((len(names) + len(consts), a))
    return names, shapes, consts


def _is_tensor(a) -> bool:
    return isinstance(a, dict) and a.get("class_name") == "__keras_tensor__"


def _convert(entry, live, nodes, warnings) -> KNode:
    cls = entry["class_name"]
    cfg = entry["config"]
    name = entry.get("name") or cfg.get("name")
    module = entry.get("module") or ""
    if UNREADABLE in cfg:                   # its own get_config failed (see _config_around_failures)
        raise _Problem(cfg[UNREADABLE])
    if "reuse" in entry:                    # a later call of a layer with weights (see _split_calls)
        reuse = entry["reuse"]
        op = ops.get(reuse["op"])
        inputs, shapes, _ = _wiring(entry, nodes, warnings)
        attrs = _attrs(op, {}, shapes, op.from_keras_reuse(reuse["config"]))
        return KNode(name, cls, op.name, attrs, inputs + [reuse["owner"]], shapes, None, False,
                     f"a second call of '{reuse['owner']}' (its weights)")
    known = ops.of_keras_class(cls, module, entry.get("registered_name"))
    if known is None and not ops.is_keras_module(module) and module.split(".")[0] != "archspec":
        raise _Problem(f"a custom layer ({entry.get('registered_name') or _qualname(entry)}); archspec reads "
                       "Keras's own layers and its own, and has no op for this one")
    if known is not None and known.keras_call_masks:      # a mask trace.reduce_masks could not read: never an input
        calls = entry.get("inbound_nodes") or []
        left = [k for k in known.keras_call_masks if calls and (calls[0].get("kwargs") or {}).get(k) is not None]
        derived = [k for k in known.keras_call_derived if calls and (calls[0].get("kwargs") or {}).get(k) is not None]
        if derived and not left:
            raise _Problem(f"it is given an {derived[0]} tensor that is not the one archspec's {known.name} computes "
                           "itself from the padding mask (evaluated on random padding masks)")
        if left:
            raise _Problem(f"it is given an {left[0]} that is neither a padding mask over the keys, a causal mask nor "
                           f"both (evaluated on random padding masks: a prefix or bidirectional mask, say), which "
                           f"archspec's {known.name} cannot state")
    flags = ({"map": known.keras_call_flags, "ignored": known.keras_call_ignored, "values": known.keras_call_values}
             if known is not None and (known.keras_call_flags or known.keras_call_values) else None)
    inputs, shapes, consts = _wiring(entry, nodes, warnings, known.keras_call_inputs if known else (), live, flags)
    auto = _is_auto(name, cls)
    if module.startswith("keras.src.ops"):
        op, attrs, note = _operation(cls, inputs, consts, cfg, shapes, live)
        return KNode(name, cls, op, attrs, inputs, shapes, None, auto, note)
    if consts:
        raise _Problem(f"it is called with constant arguments {[c for _, c in consts]}, which a spec cannot express")
    if cls == "Lambda":
        op, attrs, note = _probe_lambda(live, shapes)
        return KNode(name, cls, op, attrs, inputs, shapes, live, auto, note)
    if known is not None and _holds_function(cfg):       # Activation(lambda x: gelu(x)): probed as a Lambda is
        if not known.lambda_form or live is None:
            raise _Problem(f"its config holds a Python function (a lambda); archspec's {known.name} takes "
                           "named settings only")
        op, attrs, note = _probe_lambda(live, shapes, [known])
        return KNode(name, cls, op, attrs, inputs, shapes, live, auto, note)
    op = known
    if op is None:
        raise _Problem(HINTS.get(cls) or f"archspec has no op for the Keras class {cls}")
    cfg = {**cfg, **op.keras_class_attrs.get(f"{module}.{cls}", {})}
    try:
        cfg = op.keras_config(cfg, shapes)
    except KerasImportError as exc:
        raise _Problem(str(exc)) from None
    if op.source:
        return KNode(name, cls, op.name, _attrs(op, cfg, shapes), [], [], live, auto)
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise _Problem(f"it is {cfg['data_format']}; archspec specs are channels-last (height, width, channels)")
    if live is not None and not getattr(live, "trainable", True):
        warnings.append(f"layer '{name}' is frozen (trainable=False); a spec does not record that")
    policy = cfg.get("dtype")
    pname = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
    if pname not in (None, "float32"):
        warnings.append(f"layer '{name}' uses the dtype policy {pname}; the spec builds float32 layers")
    attrs = _attrs(op, cfg, shapes)
    _check_rest(cls, cfg, op, attrs, name, warnings)
    if flags and flags["set"]:
        attrs = _attrs(op, cfg, shapes, {**attrs.model_dump(), **flags["set"]})
    return KNode(name, cls, op.name, attrs, inputs, shapes, live, auto)


def _is_auto(name: str, cls: str) -> bool:
    """Whether `name` is one Keras invents for an unnamed layer of class `cls` (conv2d, conv2d_17)."""
    from keras.src.utils.naming import to_snake_case

    return any(re.fullmatch(re.escape(base) + r"(_\d+)?", name) for base in {to_snake_case(cls), cls.lower()})


_norm = keras_value


def _attrs(op, cfg, shapes, values=None):
    """The op's validated attributes for a layer config, as the op reads it (or for `values` it gave)."""
    from ..fast.pydantic_lite import Invalid

    try:
        if values is None:
            values = op.from_keras(cfg, shapes)
        return op.Attrs.model_validate(values)
    except KerasImportError as exc:
        raise _Problem(str(exc)) from None
    except Invalid as exc:
        err = exc.errors()[0]
        raise _Problem(f"archspec's {op.name} cannot take {'.'.join(map(str, err['loc']))}="
                       f"{err.get('input')!r}: {err['msg']}") from None


def _same(a, b) -> bool:
    a, b = _norm(a), _norm(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0)
    return a == b


def _check_rest(cls, cfg, op, attrs, name, warnings):
    """The attributes give back the layer's config, and nothing else in it differs from a default layer."""

    kwargs = op.keras_kwargs(attrs)
    for k, v in kwargs.items():
        got = cfg.get(k)
        if k == "activation" and v is None:
            v = "linear"
        if k == "activation":
            got, v = activation_name(got), activation_name(v)
        if k == "axis" and isinstance(got, int) and got >= 0 and v < 0:
            continue                                        # checked when the axis was read
        if k == "axis" and isinstance(got, (list, tuple)) and len(got) == 1:
            got = got[0] if got[0] < 0 else v
        if k not in cfg or not _same(got, v):
            if k in cfg:
                raise _Problem(f"its {k}={cfg.get(k)!r} comes out as {v!r} in archspec (an importer bug)")
    reference = _reference_config(cls, repr(sorted(kwargs.items())), kwargs)
    if reference is None:
        return
    for k, v in cfg.items():
        if k in IGNORED or k in kwargs or k.endswith("_initializer") or k == "per_position":
            continue
        if k not in reference or _same(reference[k], v):
            if k not in reference and v not in (None, False, {}, [], ()):
                raise _Problem(f"its setting {k}={v!r} has no archspec attribute")
            continue
        if any(k.endswith(w) for w in WARN_KEYS) or k == "activity_regularizer":
            warnings.append(f"layer '{name}': {k} is not part of the spec (dropped)")
            continue
        raise _Problem(f"its setting {k}={v!r} (default {reference[k]!r}) has no archspec attribute")


_REFERENCE: dict = {}


def _reference_config(cls: str, key: str, kwargs: dict) -> dict | None:
    """The config of a layer built from `kwargs` alone (cached: models repeat the same layers)."""
    import keras

    if (cls, key) not in _REFERENCE:
        try:
            _REFERENCE[(cls, key)] = getattr(keras.layers, cls)(**kwargs).get_config()
        except Exception:                                  # noqa: BLE001  (unusual arguments: compare nothing)
            _REFERENCE[(cls, key)] = None
    return _REFERENCE[(cls, key)]


# ---- layers that are not plain Keras layers ---------------------------------------------------------
def _operation(cls, inputs, consts, cfg=None, shapes=None, live=None):
    """A keras.ops call recorded in the functional graph (MobileNetV3's `x + 3.0`, `x * (1 / 6)`): the first
    op that lists the operation in its `keras_ops` and accepts the call. Where the input shapes are known,
    the op's shape rule must accept them and give the shape Keras computed (a reshape to (-1, 8) folds the
    batch into the rows: no reshape of archspec's)."""
    for op in ops.of_keras_op(cls):
        values = op.from_keras_op(cls, len(inputs), consts, {k: v for k, v in (cfg or {}).items() if k != "name"})
        if values is not None:
            c = consts[0][1] if consts else None
            note = f"keras.ops.{cls.lower()} with {c:g}" if isinstance(c, (int, float)) and not isinstance(c, bool) else ""
            attrs = _attrs(op, {}, [], values)
            _same_shape(op, attrs, cls, shapes, live)
            return op.name, attrs, note
    raise _Problem(f"the operation keras.ops.{cls.lower()} on {len(inputs)} tensor(s) and constants "
                   f"{[c for _, c in consts]} has no archspec op")


def _same_shape(op, attrs, cls, shapes, live) -> None:
    """Raise a problem when `op` with `attrs`, on the known input `shapes`, refuses them or gives another
    shape than the one Keras computed for the operation `live` (its one output, batch axis aside)."""
    from ..ops.base import ShapeError

    if not shapes or any(d is None for s in shapes for d in s):
        return
    try:
        got = tuple(op.infer(attrs, [tuple(s) for s in shapes]))
    except ShapeError as exc:
        raise _Problem(f"keras.ops.{cls.lower()} here is no {op.name} of archspec's ({exc.message}): it moves data "
                       "into or out of the batch axis (as a video model folding its frames into the batch does), and a spec's "
                       "shapes leave the batch axis alone") from None
    nodes = getattr(live, "_inbound_nodes", None) or []
    outs = list(nodes[0].output_tensors) if len(nodes) == 1 else []
    want = tuple(outs[0].shape[1:]) if len(outs) == 1 else None
    if want is not None and None not in want and want != got:
        raise _Problem(f"keras.ops.{cls.lower()} gives {want} (batch axis aside), archspec's {op.name} {got}; "
                       "it moves the batch axis")


def _holds_function(cfg: dict) -> bool:
    """Whether a layer config holds a serialized Python function (a lambda's bytecode) as a setting."""
    for v in cfg.values():
        if isinstance(v, dict) and (v.get("class_name") == "__lambda__" or (
                isinstance(v.get("value"), (list, tuple)) and v["value"] and isinstance(v["value"][0], str))):
            return True
    return False


def _probe_lambda(layer, shapes, readers=None):
    """Recognize a Lambda by what it computes, asking every op that has a `probe_lambda` (or `readers`)."""
    if layer is None:
        raise _Problem("a Lambda whose function cannot be called")
    readers = readers or ops.lambda_readers()
    for op in readers:
        try:
            values = op.probe_lambda(layer, shapes)
        except Exception as exc:                           # noqa: BLE001  (the user's Python, on test inputs)
            raise _Problem(f"a Lambda that fails on test inputs ({type(exc).__name__}: {exc})") from None
        if values is not None:
            attrs = _attrs(op, {}, [], values)
            return op.name, attrs, f"Lambda recognized as {op.name} ({op.label(attrs)})"
    raise _Problem(("a Lambda" if layer.__class__.__name__ == "Lambda" else "its Python function (a lambda)")
                   + " computes arbitrary Python; archspec recognizes only " + " and ".join(op.lambda_form for op in readers))
