"""Composite layers, keyword tensors and computed masks: what the reader needs to read KerasHub's layers
(imports Keras).

* **Composite layers.** A subclassed layer that is neither Keras's nor archspec's and that no op reads
  (KerasHub's TransformerEncoder, a user's block) is *traced*: its ``call`` runs on symbolic tensors of
  the shapes it was called with, inside a functional scope, so that every sub-layer it calls and every
  ``keras.ops`` function it applies is recorded as a node of a small functional model. The sub-layers in
  that model are the layer's own objects (so their weights copy across); the reader splices the model
  into the outer graph as it splices a nested model. A layer whose computation cannot be traced — Python
  control flow on tensor values, weights of its own used directly, layers with weights made while it is
  called, a computation that depends on the batch size — is refused by name, with the reason. A layer
  without weights called several times (MiT's DropPath) is traced once per call.
* **Keyword tensors.** :func:`bind` puts the keyword arguments that name a layer's positional parameters
  (``attention(query=x, value=x)``) back in their positions.
* **Computed masks.** An attention mask computed by ``keras.ops`` from a padding-mask input (KerasHub's
  ``merge_padding_and_attention_mask``, its causal mask) is evaluated on random padding masks and, where
  it equals a padding mask over the keys, a causal mask or both, replaced by the call options the op
  declares for that (``keras_call_masks``: MultiHeadAttention's ``value_mask`` and ``use_causal_mask``).
  Recognized by what it computes, never by reading its code; a mask that is none of these is left as it
  is (and the reader refuses the call, naming the keyword). A tensor computed from the padding mask that
  the op computes itself (``keras_call_derived``: Falcon's ALiBi bias) is evaluated the same way and leaves
  the call where it equals the op's own.
* **Configs from attributes.** A layer an op reads whose own get_config fails because Keras could not make
  one (KerasHub's Gemma layers are given a DTypePolicy object) has its config read from the attributes its
  constructor keeps under the same names (:func:`config_from_attributes`), or stays unreadable.
"""
from __future__ import annotations

import inspect

from .. import ops

TRACE_BATCHES = (3, 4)       # fixed batch sizes for layers that need one (a causal mask broadcast to the batch)


class TraceError(Exception):
    """A composite layer cannot be traced into its parts; the message says why, after "layer 'x' (class): "."""


def is_tensor_ref(a) -> bool:
    return isinstance(a, dict) and a.get("class_name") == "__keras_tensor__"


def is_composite(layer, entry) -> bool:
    """Whether the reader should trace `layer` (a config `entry`): another library's (or the user's) layer
    subclass that no archspec op reads. Models, Keras's and archspec's own layers never are."""
    import keras

    if layer is None or isinstance(layer, keras.Model) or not isinstance(layer, keras.layers.Layer):
        return False
    module = entry.get("module") or ""
    if ops.is_keras_module(module) or module.split(".")[0] == "archspec":
        return False
    return ops.of_keras_class(entry["class_name"], module, entry.get("registered_name")) is None


def layer_is_composite(layer) -> bool:
    """:func:`is_composite` for a live layer (its module, class and registered name)."""
    import keras

    cls = type(layer)
    entry = {"module": cls.__module__, "class_name": cls.__name__,
             "registered_name": keras.saving.get_registered_name(cls)}
    return is_composite(layer, entry)


def is_identity(layer) -> bool:
    """Whether `layer` is Keras's own Identity layer (keras.layers.Identity), which returns its input whatever
    its config says; the reader drops it from the graph (HGNetV2 and Swin make it with settings its
    get_config cannot serialize, so it is read without its config)."""
    import keras

    return type(layer) is keras.layers.Identity


class _Patches:
    """Attributes set on objects (layers, their classes) while a config is read or a layer traced, each put
    back on exit as it was: one the object had of its own is restored, one it inherited is removed again.
    The context managers below say what they set and why; this is how they set it."""

    def __init__(self):
        self._undo: list = []

    def patch(self, obj, name: str, value):
        self._undo.append((obj, name, name in vars(obj), vars(obj).get(name)))
        setattr(obj, name, value)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for obj, name, had, old in reversed(self._undo):
            if had:
                setattr(obj, name, old)
            elif name in vars(obj):
                delattr(obj, name)
        self._undo.clear()
        return False


class stub_composite_configs(_Patches):
    """While a model's config is read: a composite layer (one that will be traced) whose own get_config fails
    (KerasHub's ViT MLP, DeiT's encoder, Llama's decoder in keras-hub 0.32) gives the base config — its name,
    trainable, dtype — since archspec reads it by tracing, not from its config; so does a keras.layers.Identity
    (:func:`is_identity`: it computes the identity whatever its config)."""

    def __init__(self, model):
        self.ops = [op for op in model.operations if layer_is_composite(op) or is_identity(op)]
        self.read = [op for op in model.operations if _read_by_an_op(op)]
        super().__init__()

    def __enter__(self):
        import keras

        for op in self.read:                               # an op reads it: its config from its attributes
            try:
                op.get_config()
            except Exception:                              # noqa: BLE001  (the layer's own code failing)
                cfg = config_from_attributes(op)
                if cfg is not None:
                    self.patch(op, "get_config", lambda cfg=cfg: dict(cfg))
                continue
            if _reads_live_args(op):                       # the constructor arguments its config lacks
                self.patch(op, "get_config", lambda op=op: live_config(op))
        for op in self.ops:
            try:
                op.get_config()
                continue
            except Exception:                              # noqa: BLE001  (the layer's own code failing)
                pass

            def base(op=op):
                return {"name": op.name, "trainable": op.trainable,
                        "dtype": keras.dtype_policies.serialize(op.dtype_policy)}

            self.patch(op, "get_config", base)
        return self


def _read_by_an_op(layer) -> bool:
    """Whether `layer` is another library's layer that an archspec op reads (not Keras's, not archspec's)."""
    return _op_reading(layer) is not None


def _reads_live_args(layer) -> bool:
    """Whether `layer` is another library's layer read by an op with `keras_live_args`."""
    op = _op_reading(layer)
    return op is not None and op.keras_live_args


def _op_reading(layer):
    import keras

    if not isinstance(layer, keras.layers.Layer) or isinstance(layer, keras.Model):
        return None
    cls = type(layer)
    module = cls.__module__
    if ops.is_keras_module(module) or module.split(".")[0] == "archspec":
        return None
    return ops.of_keras_class(cls.__name__, module, keras.saving.get_registered_name(cls))


_UNSTATED = ("name", "dtype", "trainable", "kwargs", "autocast")


def config_from_attributes(layer) -> dict | None:
    """The config of a layer whose own get_config fails where Keras cannot make one (KerasHub's Gemma layers,
    given a DTypePolicy object, have none; Llama's attention sets no rope_scaling_factor its get_config reads):
    each constructor parameter read from the attribute of the same name, as a layer keeps them (`self.epsilon
    = epsilon`). None unless every parameter that can change what the layer computes is there as a plain value
    (initializers, regularizers and constraints are no part of a spec); the op then reads the config as it
    reads any other."""
    import keras

    try:
        params = inspect.signature(type(layer).__init__).parameters
    except (TypeError, ValueError):
        return None
    cfg = {"name": layer.name, "trainable": layer.trainable, "dtype": keras.dtype_policies.serialize(layer.dtype_policy)}
    plain = (str, int, float, bool, type(None))
    for k, p in list(params.items())[1:]:
        if k in _UNSTATED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if k.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        v = getattr(layer, k, inspect.Parameter.empty)
        if isinstance(v, (list, tuple)) and all(isinstance(x, plain) for x in v):
            v = list(v)
        elif not isinstance(v, plain):
            return None                                    # a setting it does not keep as it was given
        cfg[k] = v
    return cfg


def live_config(layer) -> dict:
    """`layer.get_config()` completed by the constructor arguments it leaves out, as the layer keeps them
    (attribute `arg`, else `_arg`): KerasHub's Qwen3Attention states no head_dim nor layer_norm_epsilon,
    SmolLM3Attention none of its arguments. Only plain values (numbers, strings, lists of them, None) are
    taken; an argument the layer does not keep stays absent (the op refuses what it needs and lacks)."""
    cfg = type(layer).get_config(layer)
    try:
        params = inspect.signature(type(layer).__init__).parameters
    except (TypeError, ValueError):
        return cfg
    for name, p in list(params.items())[1:]:
        if name in cfg or name in _UNSTATED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        for attr in (name, "_" + name):
            value = getattr(layer, attr, inspect.Parameter.empty)
            if value is not inspect.Parameter.empty and _plain(value):
                cfg[name] = list(value) if isinstance(value, tuple) else value
                break
    return cfg


def _plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, (list, tuple)) and all(_plain(v) for v in value)


def bind(layer, args: list, kwargs: dict) -> tuple[list, dict]:
    """(args, kwargs) with the tensor keyword arguments that name the next positional parameters of
    `layer.call` moved into position: MultiHeadAttention called as ``layer(query=x, value=x)`` takes
    (x, x), as ``layer(x, value=y)`` (x, y); a list of tensors too (T5Gemma's cross-attention called as
    ``layer(inputs=[x, context])``). Keywords after a missing one stay keywords."""
    if layer is None or not kwargs:
        return list(args), dict(kwargs)
    try:
        params = list(inspect.signature(layer.call).parameters.values())
    except (TypeError, ValueError, AttributeError):     # (no call: a block's WeightView, importer/blocks.py)
        return list(args), dict(kwargs)
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    args, kwargs = list(args), dict(kwargs)
    for name in positional[len(args):]:
        v = kwargs.get(name)
        if not (is_tensor_ref(v) or isinstance(v, (list, tuple)) and v and all(map(is_tensor_ref, v))):
            break                                       # (training=False stays a keyword: it is no input)
        args.append(kwargs.pop(name))
    return args, kwargs


def without_defaults(layer, kwargs: dict) -> dict:
    """`kwargs` without the non-tensor keyword arguments that equal the default of `layer.call` (KerasHub's
    TokenAndPositionEmbedding calls its PositionEmbedding with start_index=0, the default; T5Gemma 2's decoder
    its attention with cache=(None, None) where the default is None): the same call."""
    if layer is None or not kwargs:
        return kwargs
    try:
        params = inspect.signature(layer.call).parameters
    except (TypeError, ValueError, AttributeError):
        return kwargs
    out = {}
    for k, v in kwargs.items():
        p = params.get(k)
        default = p.default if p is not None else inspect.Parameter.empty
        same = (default is not inspect.Parameter.empty and not is_tensor_ref(v) and type(v) is type(default)
                and v == default) or (default is None and _nones(v))
        if not same:
            out[k] = v
    return out


# ---- tracing ---------------------------------------------------------------------------------------------
# Layers of another library that archspec has no op for, by what they compute: a composite layer holding one
# is refused naming it, before tracing (which would fail on some part of it, less clearly).
_MOE = ("a mixture of experts (a router sends each token to its top-k of several expert MLPs and weighs "
        "their outputs); archspec has no mixture-of-experts op")
UNSUPPORTED = {f"keras_hub.src.models.{k}": why for k, why in {
    "mixtral.mixtral_decoder.MixtralSparseMoeBlock": _MOE,
    "qwen_moe.qwen_moe_decoder.QwenSparseMoeBlock": _MOE,
    "qwen3_moe.qwen3_moe_decoder.Qwen3SparseMoeBlock": _MOE,
    "qwen3_5_moe.qwen3_5_moe_decoder.Qwen3_5MoeSparseMoeBlock": _MOE,
    "gpt_oss.gpt_oss_decoder.GptOssSparseMoeBlock": _MOE,
    "gemma4.gemma4_moe.Gemma4MoEBlock": _MOE,
}.items()}


def trace_layer(layer, entry):
    """A functional model computing what `layer` computes at the call `entry` records (its single
    inbound node), over the same sub-layer objects, and the tensor references of the call's tensor
    arguments in the order of the model's inputs. Raises :class:`TraceError` when it cannot be traced."""
    for part in layer._flatten_layers(include_self=True):
        why = UNSUPPORTED.get(f"{type(part).__module__}.{type(part).__name__}")
        if why:
            raise TraceError(f"its part '{part.name}' ({type(part).__name__}) is {why}" if part is not layer
                             else f"it is {why}")
    inbound = entry.get("inbound_nodes") or []
    if len(inbound) != 1:
        if len(inbound) > 1 and layer.weights:
            raise TraceError(f"it is called {len(inbound)} times with the same weights (one block shared by "
                             "several layers, as ALBERT's encoder); the spec language has no way to share a block's "
                             "weights (only a token embedding's: shared_embedding, tied_logits)")
        raise TraceError(f"it is called {len(inbound)} times; archspec traces a composite layer called once")
    args, kwargs = bind(layer, inbound[0].get("args", []), {k: v for k, v in (inbound[0].get("kwargs") or {}).items()
                                                            if v is not None and k not in ("training", "mask")})
    own = [v.path for v in list(layer._trainable_variables) + list(layer._non_trainable_variables)]
    if own:
        raise TraceError(f"it holds weights of its own ({', '.join(own[:3])}) that its call uses directly; "
                         "archspec traces layers built from other layers and keras.ops")
    refs = list(_tensors(args)) + list(_tensors(list(kwargs.values())))
    if not refs:
        raise TraceError("it is called on no tensor")
    errors = []
    for batch in (None,) + TRACE_BATCHES:
        inline = False
        try:
            model = _trace(layer, args, kwargs, refs, batch)
        except TraceError as exc:
            errors.append(str(exc))
            try:                        # its parts may return None beside a tensor (DeiT's encoder blocks)
                with _inline_parts(layer):
                    model = _trace(layer, args, kwargs, refs, batch)
                inline = True
            except TraceError:
                continue
        if batch is not None:
            _same_for_other_batch(layer, args, kwargs, refs, model, batch, inline)
        return model, refs
    raise TraceError(errors[0])


class _inline_parts(_Patches):
    """While tracing (a second try): the layer's composite parts without weights of their own are run inline —
    calling one runs its ``call`` on the tensors, recording its own parts in the traced graph — so a part that
    returns a non-tensor beside its output (DeiT's encoder block returns (x, None) without attention scores),
    which a functional graph cannot hold as a layer, still traces."""

    def __init__(self, layer):
        self.classes = {type(s) for s in layer._flatten_layers(include_self=False) if layer_is_composite(s)
                        and not list(s._trainable_variables) + list(s._non_trainable_variables)
                        and "__call__" not in vars(type(s))}
        self.layer = layer
        super().__init__()

    def __enter__(self):
        def inline(self, *args, **kwargs):
            return self.call(*args, **kwargs)

        for c in self.classes:
            self.patch(c, "__call__", inline)
        self.renamed = self._unique_names()
        return self

    def _unique_names(self):
        """Parts of inlined layers that share a name (each encoder block's `ln_1`) get their path's name
        (`transformer_block_1_ln_1`): a functional graph names its layers uniquely. The layer objects keep it
        when the trace succeeds (the graph read from it names them so)."""
        seen: dict[str, list] = {}
        parent = {}
        for p in self.layer._flatten_layers(include_self=True):
            for c in p._flatten_layers(include_self=False, recursive=False):
                parent.setdefault(id(c), p)
        for s in self.layer._flatten_layers(include_self=False):
            seen.setdefault(s.name, []).append(s)
        renamed = []
        for same in seen.values():
            if len(same) > 1:
                for s in same:
                    p = parent.get(id(s))
                    if p is not None and p is not self.layer:
                        renamed.append((s, s.name))
                        s.name = f"{p.name}_{s.name}"
        return renamed

    def __exit__(self, kind, *exc):
        super().__exit__(kind, *exc)
        if kind is not None:                    # the trace failed: the parts keep their own names
            for s, name in self.renamed:
                s.name = name
        return False


def _tensors(values):
    for v in values:
        if is_tensor_ref(v):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from _tensors(v)
        elif isinstance(v, dict):
            yield from _tensors(list(v.values()))


def _trace(layer, args, kwargs, refs, batch):
    import keras

    inputs, made = [], {}
    for k, ref in enumerate(refs):
        cfg = ref["config"]
        t = keras.Input(tuple(cfg["shape"][1:]), batch_size=batch, dtype=cfg.get("dtype") or "float32",
                        name=f"in{k}" if k else "in")
        inputs.append(t)
        made[id(ref)] = t

    def fill(v):
        if is_tensor_ref(v):
            return made[id(v)]
        if isinstance(v, (list, tuple)):
            return type(v)(fill(x) for x in v)
        if isinstance(v, dict) and v.get("class_name") is None:
            return {k: fill(x) for k, x in v.items()}
        return v

    sub = {id(s) for s in layer._flatten_layers(include_self=False)}
    with _lenient_specs(layer), _none_outputs(layer):
        try:
            out = layer.call(*[fill(a) for a in args], **{k: fill(v) for k, v in kwargs.items()})
        except Exception as exc:                           # noqa: BLE001  (the layer's own Python)
            raise TraceError(_why(exc)) from None
    outs = keras.tree.flatten(out)          # (numbered as Keras numbers a layer's outputs: a dict's by key)
    keep = next((k for k, o in enumerate(outs) if not isinstance(o, keras.KerasTensor)), len(outs))
    if not keep:
        raise TraceError("its call does not return tensors computed from its inputs")
    if len(outs) > 1:                       # flat; constants after the outputs dropped (DeiT's encoder: empty
        out = outs[:keep] if keep > 1 else outs[0]          # tuples as tensors)
    try:
        model = keras.Model(inputs, out, name=layer.name)
    except Exception as exc:                               # noqa: BLE001
        raise TraceError(f"its computation is not a graph of layers and keras.ops ({_why(exc)})") from None
    for op in model.operations:
        if isinstance(op, keras.layers.InputLayer) or not isinstance(op, keras.layers.Layer):
            continue
        if id(op) not in sub and op.weights:     # (one without weights, DeepLabV3's Resizing, is traced as it is)
            raise TraceError(f"it makes the layer '{op.name}' ({type(op).__name__}) while it is called, "
                             "so the traced graph would not hold its weights")
    return model


def _same_for_other_batch(layer, args, kwargs, refs, model, batch: int, inline: bool = False):
    """A layer traced with a fixed batch size must compute the same graph for another one (else its
    computation depends on the batch size: a constant reshape, a mask built for that batch)."""
    if inline:
        with _inline_parts(layer):
            other = _trace(layer, args, kwargs, refs, next(b for b in TRACE_BATCHES if b != batch))
    else:
        other = _trace(layer, args, kwargs, refs, next(b for b in TRACE_BATCHES if b != batch))
    a, b = _skeleton(model), _skeleton(other)
    if a != b:
        unread = _unread_mask(model)
        if unread is not None:
            raise TraceError(unread)
        at = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        with stub_composite_configs(model):
            layers = config_of(model)["layers"]
        part = layers[at] if at < len(layers) else None
        where = (f" from its part '{part.get('name') or part['config'].get('name')}' ({part['class_name']}) on"
                 if part else "")
        raise TraceError(f"it needs a fixed batch size to be traced and what it computes depends on it{where} "
                         "(a shape or constant made for that batch size — a causal mask given to a layer "
                         "archspec reads no mask for, a reshape to the batch size)")


def _unread_mask(model) -> str | None:
    """Why the traced `model` depends on the batch size when one of its layers is given a mask that its op
    reads (`keras_call_masks`) but that is none of the masks it can state: the layer, the keyword, the reason."""
    with stub_composite_configs(model):
        cfg = reduce_masks(config_of(model), model)
    for entry in cfg["layers"]:
        op = ops.of_keras_class(entry["class_name"], entry.get("module") or "", entry.get("registered_name"))
        if op is None or not op.keras_call_masks:
            continue
        for node in entry.get("inbound_nodes") or []:
            for key in op.keras_call_masks:
                if (node.get("kwargs") or {}).get(key) is not None:
                    name = entry.get("name") or entry["config"].get("name")
                    return (f"its part '{name}' ({entry['class_name']}) is given an {key} that is neither a padding "
                            "mask over the keys, a causal mask nor both, nor another mask its op reads (evaluated on "
                            "random padding masks: a sliding window shorter than the sequence or a bidirectional "
                            "mask, say), which archspec's op cannot state")
            for key in op.keras_call_derived:
                if (node.get("kwargs") or {}).get(key) is not None:
                    name = entry.get("name") or entry["config"].get("name")
                    return (f"its part '{name}' ({entry['class_name']}) is given an {key} tensor that is not the one "
                            f"archspec's {op.name} computes itself from the padding mask (evaluated on random padding "
                            "masks)")
    return None


def _skeleton(model):
    """The model's config, its masks read (a causal mask is built for the batch), without the batch axes of
    tensor shapes."""
    with stub_composite_configs(model):
        cfg = reduce_masks(config_of(model), model)
    index = {(e.get("name") or e["config"].get("name")): k for k, e in enumerate(cfg["layers"])}

    def strip(v):
        if is_tensor_ref(v):
            c = v["config"]
            layer, node, t = c["keras_history"]
            return ("T", tuple(c["shape"][1:]), c.get("dtype"), index.get(layer, layer), t)
        if isinstance(v, dict):
            if "batch_shape" in v:
                v = dict(v, batch_shape=list(v["batch_shape"])[1:])
            return {k: strip(x) for k, x in v.items() if k != "name"}   # (ops' names count up per call)
        if isinstance(v, (list, tuple)):
            return [strip(x) for x in v]
        return v

    return strip([e for e in cfg["layers"]])


def config_of(model) -> dict:
    """`model.get_config()`; a sub-layer whose own get_config fails is a TraceError naming it."""
    try:
        return model.get_config()
    except Exception as exc:                               # noqa: BLE001  (a layer's own code failing)
        for op in model.operations:
            try:
                op.get_config()
            except Exception as e:                         # noqa: BLE001
                text = next((t.strip() for t in str(e).splitlines() if t.strip()), "")
                raise TraceError(f"its part '{op.name}' ({type(op).__module__}.{type(op).__name__}): its get_config() "
                                 f"raises {type(e).__name__}: {text}; archspec reads a layer from its config") from None
        raise TraceError(f"its traced graph cannot be read ({type(exc).__name__}: {exc})") from None


class _lenient_specs(_Patches):
    """While tracing: a sub-layer whose ``call`` takes keywords its ``compute_output_spec`` does not
    (KerasHub's CachedMultiHeadAttention: ``cache=None``) is given them only when they are set; None is
    what its call does without them."""

    def __init__(self, layer):
        self.layers = [s for s in layer._flatten_layers(include_self=False)]
        super().__init__()

    def __enter__(self):
        from keras.src.ops.operation import Operation

        for s in self.layers:
            # a part read as an op whose own compute_output_shape is not Keras's: its output spec from its call
            # (SmolLM3's attention states two outputs, the attention and its scores; its call returns one)
            if _reads_live_args(s) and not ops.is_keras_module(type(s).compute_output_shape.__module__):
                self.patch(s, "compute_output_spec", _spec_from_call(s, Operation.compute_output_spec))
        for s in self.layers:
            spec = getattr(s, "compute_output_spec", None)
            if spec is None or "compute_output_spec" in vars(s):
                continue
            try:
                params = inspect.signature(spec).parameters
            except (TypeError, ValueError):
                continue
            if any(p.kind == p.VAR_KEYWORD for p in params.values()):
                continue

            def lenient(*a, _spec=spec, _known=frozenset(params), **kw):
                return _spec(*a, **{k: v for k, v in kw.items() if k in _known or v is not None})

            self.patch(s, "compute_output_spec", lenient)
        return self


def _spec_from_call(layer, from_call):
    """`layer`'s output spec from running its call on symbols, each tensor marked sparse given as a dense one
    (Keras marks 1.0 − x sparse, a Python float counting as sparse: T5Gemma's additive masks; its call adds
    them to dense scores) and each keyword holding only Nones as None (:func:`_nones`)."""
    import keras

    def dense(v):
        return keras.KerasTensor(v.shape, v.dtype) if isinstance(v, keras.KerasTensor) and v.sparse else v

    def spec(*a, **kw):
        a, kw = keras.tree.map_structure(dense, (a, {k: None if _nones(v) else v for k, v in kw.items()}))
        return from_call(layer, *a, **kw)
    return spec


def _nones(v) -> bool:
    """Whether `v` is a list or tuple holding only Nones (T5Gemma 2's decoder passes its attention
    cache=(None, None) where the call's default is None): no tensor and no setting, as None is."""
    return isinstance(v, (list, tuple)) and bool(v) and all(x is None or _nones(x) for x in v)
class _none_outputs(_Patches):
    """While tracing: a sub-layer whose call returns None beside its tensors (GPT-NeoX's attention returns
    (output, cache) with the cache None when it is called without one) is recorded in the traced graph with
    its tensors as its outputs, and its caller still receives the whole tuple — a functional graph's node
    holds tensors only. A sub-layer that returns tensors alone is recorded as Keras records it; Keras's own
    layers are left alone (none returns None so). A part that returns another non-tensor beside its tensors
    still fails here and is run inline on the second try (:class:`_inline_parts`)."""

    def __init__(self, layer):
        self.layers = [s for s in layer._flatten_layers(include_self=False)
                       if not ops.is_keras_module(type(s).__module__)]
        self.pending: dict[int, object] = {}
        super().__init__()

    def __enter__(self):
        import keras

        for s in self.layers:
            spec = s.compute_output_spec

            def tensors_only(*a, _s=s, _spec=spec, **kw):
                out = _spec(*a, **kw)
                flat = keras.tree.flatten(out)
                kept = [t for t in flat if isinstance(t, keras.KerasTensor)]
                if not kept or len(kept) == len(flat) or any(t is not None and not isinstance(t, keras.KerasTensor)
                                                             for t in flat):
                    return out
                self.pending[id(_s)] = out                 # the structure, its Nones in place
                return kept[0] if len(kept) == 1 else kept

            self.patch(s, "compute_output_spec", tensors_only)
        for cls in {type(s) for s in self.layers}:
            call = cls.__call__

            def whole(this, *a, _call=call, **kw):
                out = _call(this, *a, **kw)
                structure = self.pending.pop(id(this), None)
                if structure is None:
                    return out
                got = iter(keras.tree.flatten(out))
                return keras.tree.map_structure(lambda t: next(got) if t is not None else None, structure)

            self.patch(cls, "__call__", whole)
        return self


def _why(exc) -> str:
    text = str(exc).strip().splitlines()
    text = next((t.strip() for t in text if t.strip() and "Exception encountered" not in t), "")
    return f"its call cannot run on symbolic tensors ({type(exc).__name__}: {text[:200]})"


# ---- computed masks --------------------------------------------------------------------------------------
def reduce_masks(config: dict, model) -> dict:
    """`config` (of the functional `model`) with every attention-style mask keyword that is computed from a
    padding-mask input (or from nothing: a causal mask) replaced by the call options its op declares; the
    nodes that only computed the mask drop out of the config."""
    import keras

    live = {op.name: op for op in model.operations}
    changed = False
    for entry in config["layers"]:
        layer = live.get(entry.get("name") or entry["config"].get("name"))
        op = ops.of_keras_class(entry["class_name"], entry.get("module") or "", entry.get("registered_name"))
        if op is None or not op.keras_call_masks or len(entry.get("inbound_nodes") or []) != 1:
            continue
        node_cfg = entry["inbound_nodes"][0]
        kwargs = node_cfg.get("kwargs") or {}
        special = set(op.keras_call_masks) | set(op.keras_call_derived)     # never the query or the keys
        for key, (pad_kw, causal_kw, *additive_kw) in op.keras_call_masks.items():
            if key not in kwargs or kwargs[key] is None:
                continue
            node = _live_node(model, layer)
            value = node.arguments.kwargs.get(key) if node is not None else None
            if value is None:
                continue
            args, kw = bind(layer, node_cfg.get("args", []), {k: v for k, v in kwargs.items() if k not in special})
            query = next(iter(_tensors(args)), None)
            keys = list(_tensors(args))[1:2] or [query]
            if query is None:
                continue
            tq, tk = query["config"]["shape"][1], keys[0]["config"]["shape"][1]
            read = _read_mask(model, config, value, tq, tk)
            context_ref = response_ref = None
            if read is None and len(additive_kw) > 1 and len(list(_tensors(args))) == 2:
                read = _read_merged_mask(model, value, tq, tk)       # x's keys then the context's
                if read is not None:
                    *read, context_ref = read
            if read is None and len(additive_kw) > 2 and tq == tk:
                read = _read_prefix_mask(model, value, tq)           # a padding and a response mask
                if read is not None:
                    *read, response_ref = read
            if read is None or read[2] and not additive_kw:
                continue
            pad_ref, causal, additive = read
            new = {k: v for k, v in kwargs.items() if k != key}
            if pad_ref is not None:
                new[pad_kw] = pad_ref
            if context_ref is not None:
                new[additive_kw[1]] = context_ref
            if response_ref is not None:
                new[additive_kw[2]] = response_ref
            if causal:
                new[causal_kw] = True
            if additive:
                new[additive_kw[0]] = True
            node_cfg["kwargs"] = new
            changed = True
        for key, expected in op.keras_call_derived.items():
            kwargs = node_cfg.get("kwargs") or {}
            node = _live_node(model, layer)
            value = node.arguments.kwargs.get(key) if node is not None and kwargs.get(key) is not None else None
            pad = kwargs.get(next(iter(op.keras_call_masks.values()))[0]) if op.keras_call_masks else None
            if value is not None and _is_derived(model, value, expected, layer, pad):
                node_cfg["kwargs"] = {k: v for k, v in kwargs.items() if k != key}
                changed = True
    if changed:
        config = dict(config, layers=_reachable(config))
    del keras
    return config


def _is_derived(model, value, expected, layer, pad_ref) -> bool:
    """Whether the tensor `value` of `model` equals `expected(layer, padding mask)` for random padding masks
    given to the padding-mask input `pad_ref` (the one the layer's mask was read from; none: all ones)."""
    import keras
    import numpy as np

    if not isinstance(value, keras.KerasTensor):
        return False
    sources = [t for t in model.inputs if _depends(value, t)]
    name = pad_ref["config"]["keras_history"][0] if pad_ref is not None else None
    if len(sources) > 1 or (sources and sources[0]._keras_history.operation.name != name):
        return False
    rng = np.random.default_rng(1)
    try:
        probe = keras.Model(sources, value) if sources else None
        for _ in range(3):
            if sources:
                batch, keys = sources[0].shape[0] or 2, sources[0].shape[1]
                pad = rng.integers(0, 2, (batch, keys)).astype(sources[0].dtype)
                pad[0] = 1
                got = np.asarray(probe([pad]))
            else:
                got = np.asarray(value)
                pad = np.ones((got.shape[0], got.shape[-1]), "int32")
            want = expected(layer, pad)
            if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6, atol=1e-6):
                return False
    except Exception:                                      # noqa: BLE001  (a tensor that cannot be evaluated so)
        return False
    return True


def _live_node(model, layer):
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            if node.operation is layer:
                return node
    return None


def _read_mask(model, config, value, tq, tk):
    """(the padding-mask input's tensor reference or None, causal, additive) when the mask `value` — a
    KerasTensor of `model`, or a constant — is, for every padding mask tried, the padding mask over the keys,
    the causal mask, or both (additive: given as 0 and −10⁹, :func:`_kept`); None otherwise."""
    import keras
    import numpy as np

    if tq is None or tk is None:
        return None
    sources = []
    if isinstance(value, keras.KerasTensor):
        sources = [t for t in model.inputs if _depends(value, t)]
        if len(sources) > 1:
            return None
        try:
            probe = keras.Model(sources, value) if sources else None
        except Exception:                                  # noqa: BLE001
            return None
    rng = np.random.default_rng(0)
    causal = np.tril(np.ones((tq, tk), bool)) if tq == tk else None
    verdicts, additive = set(), set()
    for _ in range(3):
        if sources:
            src = sources[0]
            if tuple(src.shape[1:]) != (tk,):
                return None
            batch = src.shape[0] or 2                    # (traced with a fixed batch: that one)
            pad = rng.integers(0, 2, (batch, tk)).astype(src.dtype)
            pad[0, 0], pad[1, -1] = 0, 1
            got = np.asarray(probe([pad]))
        else:
            got, pad = np.asarray(value), None
        additive.add(got.dtype.kind == "f" and bool((got < 0).any()))
        got = _kept(got)
        if got is None:
            return None
        if got.ndim == 2 and pad is not None and got.shape == pad.shape:
            got = got[:, None, :]                        # (batch, keys): a mask per key token, as Keras broadcasts it
        try:
            got = np.broadcast_to(got, (got.shape[0] if got.ndim == 3 else 1, tq, tk))
        except ValueError:
            return None
        candidates = {}
        if pad is not None:
            padm = np.broadcast_to(pad.astype(bool)[:, None, :], (pad.shape[0], tq, tk))
            candidates["pad"] = padm
            if causal is not None:
                candidates["both"] = padm & causal
        elif causal is not None:
            candidates["causal"] = causal[None]
        match = [k for k, c in candidates.items() if got.shape[0] in (1, c.shape[0]) and np.array_equal(
            np.broadcast_to(got, c.shape), c)]
        if len(match) != 1:
            return None
        verdicts.add(match[0])
    if len(verdicts) != 1 or len(additive) != 1:
        return None
    kind = verdicts.pop()
    pad_ref = _input_ref(sources[0], tk) if kind in ("pad", "both") else None
    return pad_ref, kind in ("causal", "both"), additive.pop()


def _input_ref(t, n: int) -> dict:
    """A call argument's reference to the model input `t`, (batch, n), as a functional config writes it."""
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, n], "dtype": str(t.dtype),
                                                         "keras_history": [t._keras_history.operation.name, 0, 0]}}


def _two_mask_probe(model, value):
    """(the two (batch, n) model inputs the mask `value` is computed from, a model from them to it), or None:
    what the readers of masks made from two masks try their candidates on."""
    import keras

    if not isinstance(value, keras.KerasTensor):
        return None
    sources = [t for t in model.inputs if _depends(value, t)]
    if len(sources) != 2 or any(len(t.shape) != 2 for t in sources):
        return None
    try:
        return sources, keras.Model(sources, value)
    except Exception:                                      # noqa: BLE001
        return None


def _read_merged_mask(model, value, tq, tk):
    """(x's padding-mask reference, causal, additive, the context's padding-mask reference) when the mask
    `value` (queries, x's tq keys then the context's tk) is, for every pair of padding masks tried, x's padding
    mask (and causal mask) over x's keys joined by the context's padding mask over its keys — T5Gemma 2's
    merged self- and cross-attention mask; None otherwise. Each part needs its own padding-mask input."""
    import numpy as np

    found = None if tq is None or tk is None else _two_mask_probe(model, value)
    if found is None:
        return None
    sources, probe = found
    causal = np.tril(np.ones((tq, tq), bool))
    for own, ctx in ((0, 1), (1, 0)):                      # which input is x's mask, which the context's
        if (sources[own].shape[1], sources[ctx].shape[1]) != (tq, tk):
            continue
        rng, verdicts, additive = np.random.default_rng(0), set(), set()
        for _ in range(3):
            batch = sources[0].shape[0] or 2
            pads = [None, None]
            for i, n in ((own, tq), (ctx, tk)):
                pad = rng.integers(0, 2, (batch, n)).astype(sources[i].dtype)
                pad[0, 0], pad[1 % batch, -1] = 0, 1
                pads[i] = pad
            try:
                got = np.asarray(probe(pads))
            except Exception:                              # noqa: BLE001
                return None
            additive.add(got.dtype.kind == "f" and bool((got < 0).any()))
            got = _kept(got)
            if got is None or got.shape[-1] != tq + tk:
                return None
            got = np.broadcast_to(got, (batch, tq, tq + tk)) if got.ndim == 3 else None
            if got is None:
                return None
            cpart = np.broadcast_to(pads[ctx].astype(bool)[:, None, :], (batch, tq, tk))
            opad = np.broadcast_to(pads[own].astype(bool)[:, None, :], (batch, tq, tq))
            match = [kind for kind, part in (("pad", opad), ("both", opad & causal))
                     if np.array_equal(got, np.concatenate([part, cpart], -1))]
            if len(match) != 1:
                verdicts = None
                break
            verdicts.add(match[0])
        if not verdicts or len(verdicts) != 1 or len(additive) != 1:
            continue
        return _input_ref(sources[own], tq), verdicts.pop() == "both", additive.pop(), _input_ref(sources[ctx], tk)
    return None


def _read_prefix_mask(model, value, tokens):
    """(the padding mask's reference, False, additive, the response mask's reference) when the mask `value`
    (tokens × tokens) is, for every pair of padding and response masks tried, PaliGemma's prefix-LM mask
    (the attention op's prefix_lm: :func:`archspec.ops.attention.prefix_lm_keep`); None otherwise."""
    import numpy as np

    from ..ops.attention import prefix_lm_keep

    found = None if tokens is None else _two_mask_probe(model, value)
    if found is None:
        return None
    sources, probe = found
    if any(t.shape[1] is None or t.shape[1] > tokens for t in sources) or sources[0].shape[1] != sources[1].shape[1]:
        return None
    n = sources[0].shape[1]
    for pad_i, resp_i in ((0, 1), (1, 0)):
        rng, additive, ok = np.random.default_rng(0), set(), True
        for _ in range(3):
            batch = sources[0].shape[0] or 2
            masks = [rng.integers(0, 2, (batch, n)).astype(t.dtype) for t in sources]
            try:
                got = np.asarray(probe(masks))
            except Exception:                              # noqa: BLE001
                return None
            additive.add(got.dtype.kind == "f" and bool((got < 0).any()))
            got = _kept(got)
            want = prefix_lm_keep(masks[pad_i], masks[resp_i], tokens)
            if got is None or got.ndim != 3 or got.shape[-1] != tokens or got.shape[-2] not in (1, tokens) \
                    or got.shape[0] not in (1, batch) or not np.array_equal(np.broadcast_to(got, want.shape), want):
                ok = False
                break
        if ok and len(additive) == 1:
            return _input_ref(sources[pad_i], n), False, additive.pop(), _input_ref(sources[resp_i], n)
    return None


def _kept(mask):
    """Which scores a mask keeps, as booleans: a mask of 1 (attend) and 0, or an additive one of 0 (attend) and
    −10⁹ or less — what Keras's masked softmax adds, and what KerasHub's T5Gemma layers add to the scores
    themselves, (1 − mask)·−10⁹ — None for any other values. A heads axis of 1 ((batch, 1, queries or 1,
    keys), as an additive mask is shaped to broadcast over the scores) is dropped."""
    import numpy as np

    if mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.dtype.kind == "f" and (mask < 0).any():
        if not np.all((mask == 0) | (mask <= -1e9)):
            return None
        return mask == 0
    return mask.astype(bool)


def _depends(tensor, source) -> bool:
    seen, todo = set(), [tensor]
    while todo:
        t = todo.pop()
        if t is source:
            return True
        hist = getattr(t, "_keras_history", None)
        if hist is None or id(t) in seen:
            continue
        seen.add(id(t))
        node = hist.operation._inbound_nodes[hist.node_index]
        todo.extend(node.arguments.keras_tensors)
    return False


def _reachable(config) -> list:
    """The config's layers that the outputs need (inputs always kept)."""
    by_name = {(e.get("name") or e["config"].get("name")): e for e in config["layers"]}
    need, todo = set(), _ref_names(config["output_layers"])
    while todo:
        n = todo.pop()
        if n in need or n not in by_name:
            continue
        need.add(n)
        todo.extend(ref["config"]["keras_history"][0] for ref in _tensors([by_name[n].get("inbound_nodes") or []]))
    inputs = set(_ref_names(config["input_layers"]))
    return [e for e in config["layers"] if (e.get("name") or e["config"].get("name")) in need | inputs]



def _ref_names(value) -> list[str]:
    """Layer names of a config's input_layers / output_layers (a ref, a list of refs or a dict of them)."""
    if isinstance(value, dict):
        value = list(value.values())
    refs = [value] if value and not isinstance(value[0], (list, tuple)) else value
    return [r[0] for r in refs]
