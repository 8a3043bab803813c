"""The op contract. Every layer type is one subclass of :class:`Op`, registered once, holding its
whole story: attribute schema, shape rule, parameter count, MACs, FLOPs, label, Keras builder, the
mapping from Keras layers back to the op (for ``archspec import``) and the flags other stages read
(is it a merge, does it slide a spatial window, ...). No stage outside ``archspec.ops`` branches on an
op's name: it asks the registry (:data:`archspec.ops.REGISTRY`, :func:`archspec.ops.role`).

Counting conventions (docs/conventions.md):
* params: exactly Keras's `count_params()`, split trainable / non-trainable as Keras does.
* MACs: multiply-accumulates of the layers that do matrix work (conv, dense, attention: its four
  projections, QKᵀ and attention × V); 0 for every other op.
* FLOPs: TensorFlow-profiler style (2 per MAC plus the element-wise work the profiler counts).
Each op states its counts in words, `macs_rule` and `flops_rule`, beside `macs` and `flops`/`extra_flops`;
docs/conventions.md's tables are generated from those (tools/gen_docs.py) and test_ops.py holds them together.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from ..fast.pydantic_lite import BeforeValidator, Field, Model, model_validator  # noqa: F401  (ops declare with these)
from .shapes import size


class Category(StrEnum):
    """What kind of layer an op is: the diagram's colour, which warnings apply, what the backward pass keeps.
    A str enum, so an op may write its category as the plain string; registration converts it (and
    refuses a string that is none of these)."""

    IO = "io"                 # a model input
    CONV = "conv"             # convolutions
    DENSE = "dense"           # fully connected
    ATTN = "attn"             # attention
    TOKEN = "token"           # sequence tokens: class tokens, position embeddings
    NORM = "norm"             # normalization and learned scales
    ACT = "act"               # activations
    POOL = "pool"             # pooling, local and global
    MERGE = "merge"           # joins several tensors: concat, add, ...
    RESHAPE = "reshape"       # layout: reshape, flatten, padding, cropping, upsampling, rescaling
    REG = "reg"               # regularization: dropout
    OTHER = "other"


class ShapeError(Exception):
    """An op cannot accept its input shapes. `code` is a codes.ERRORS key."""

    def __init__(self, message: str, code: str = "shape-mismatch", hint: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message, self.code, self.hint, self.field = message, code, hint, field


class KerasImportError(Exception):
    """A Keras layer's config that this op cannot express (raised by :meth:`Op.from_keras`); the message
    says what, in words that follow "layer 'name' (class): "."""


class Attrs(Model):
    """An op's attributes: a declared model (archspec/fast/pydantic_lite.py), frozen, unknown keys refused."""


# what an attribute means, for fields whose op does not describe them itself
# (Field(description=...)): the JSON Schema's descriptions, docs/ops.md, the editor's completions
ATTR_DOCS = {
    "filters": "number of output channels", "units": "number of output units",
    "kernel": "kernel size: n (n×n) or [height, width]", "strides": "stride: n or [height, width]",
    "dilation": "dilation rate: n or [height, width]", "padding": "'valid' (no padding) or 'same' (output = ceil(input / stride))",
    "use_bias": "add a bias vector", "activation": "activation applied to the output (null: none)",
    "groups": "number of channel groups (grouped convolution)", "depth_multiplier": "output channels per input channel",
    "pool_size": "pooling window: n or [height, width]", "rate": "fraction of units dropped (not kept)",
    "axis": "axis, counting the batch axis as Keras does (-1: channels)", "momentum": "moving-average momentum",
    "epsilon": "small constant added to the variance", "center": "learn an offset (beta)", "scale": "learn a scale (gamma)",
    "size": "upsampling factor: n or [height, width]", "cropping": "rows/columns cropped: n, [h, w] or [[top, bottom], [left, right]]",
    "target_shape": "output shape without the batch axis (one entry may be -1)", "shape": "output shape without the batch axis",
    "offset": "added after scaling", "output_padding": "extra rows/columns on one side of the output",
    "keepdims": "keep the pooled axes with size 1", "data_format": "channels_last only",
    "interpolation": "how new pixels are computed", "max_value": "upper bound of the output (null: none)",
    "negative_slope": "slope below the threshold (leaky ReLU)", "threshold": "inputs below it are zeroed (or sloped)",
    "seed": "random seed of the dropout mask (null: random)",
}


def _pair(v):
    if isinstance(v, bool):
        raise ValueError("expected an integer or a pair of integers")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return tuple(v)
    if isinstance(v, (list, tuple)):
        raise ValueError(f"expected 2 values (height, width), got {len(v)}")
    return v


PosInt = Annotated[int, Field(ge=1, strict=False)]
NonNegInt = Annotated[int, Field(ge=0)]
# `json_schema_input_type`: what the JSON Schema (lang/jsonschema.py) says the field accepts
Pair = Annotated[tuple[PosInt, PosInt], BeforeValidator(_pair, json_schema_input_type=PosInt | tuple[PosInt, PosInt])]
NonNegPair = Annotated[tuple[NonNegInt, NonNegInt],
                       BeforeValidator(_pair, json_schema_input_type=NonNegInt | tuple[NonNegInt, NonNegInt])]
Padding = Literal["valid", "same"]
Padding1D = Literal["valid", "same", "causal"]


def _one(v):
    """Keras stores a 1-D layer's sizes as 1-tuples (kernel_size=(3,)): take the number out."""
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise ValueError(f"expected one value (a sequence has one axis), got {len(v)}")
        return v[0]
    return v


One = Annotated[PosInt, BeforeValidator(_one, json_schema_input_type=PosInt)]     # a 1-D size: 3 or [3]

ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_approximate", "silu", "swish", "mish",
               "sigmoid", "hard_sigmoid", "hard_silu", "hard_swish", "tanh", "softmax", "log_softmax",
               "softplus", "softsign", "exponential",
               # Keras 3's newer ones (each keeps the shape; with its default parameters, as a name gives it)
               "celu", "hard_tanh", "log_sigmoid", "hard_shrink", "soft_shrink", "tanh_shrink", "squareplus",
               "sparse_plus", "sparse_sigmoid", "sparsemax")
# Keras 3 activations (keras.activations) a name cannot stand for, and why; every other one is in ACTIVATIONS
# (tests/test_differential.py holds the two lists to Keras's own)
REFUSED_ACTIVATIONS = {
    "glu": "glu halves the last axis (one half gates the other), so the layer's output is not the shape its "
           "units/filters say; write the two halves and a multiply explicitly",
    "threshold": "threshold needs its `threshold` and `default_value` arguments, which an activation name cannot "
                 "carry; use `relu: {threshold: ...}` for a thresholded ReLU",
}


def _activation(v):
    if isinstance(v, str) and v in REFUSED_ACTIVATIONS:
        raise ValueError(f"the Keras activation '{v}' is not available in archspec: {REFUSED_ACTIVATIONS[v]}")
    return v


ActivationName = Annotated[Literal[ACTIVATIONS], BeforeValidator(  # type: ignore[valid-type]
    _activation, json_schema_input_type=Literal[ACTIVATIONS])]
# activations Keras has no name for: archspec's registered functions (ops/keras_layers.py) —
# gelu_approximate is GELU's tanh form, keras.activations.gelu(x, approximate=True), as BERT and GPT-2 use it
ARCHSPEC_ACTIVATIONS = frozenset({"gelu_approximate"})
# per element, TensorFlow-profiler style (only softmax is counted)
ACTIVATION_FLOPS = {"softmax": 5, "log_softmax": 5}
# the FLOPs of the layers that multiply-accumulate (their `flops_rule`)
WEIGHTED_FLOPS = "2 per MAC, + 1 per output element for the bias add, + the fused activation's (as `activation`)"
# What an activation's gradient keeps, as XLA keeps it in a compiled training step (measured on XLA:CPU,
# jax 0.10, per block of repeated conv/dense layers: docs/training-estimates.md): the forward tensor it
# reads ("input", the pre-activation, or "output") and how many more tensors of its size XLA stores as
# residuals (sigmoid's σ, gelu's erf terms). The piecewise-linear ones (slope = a comparison) store
# nothing of their own; their input is recomputed inside the backward fusion when it is the output of a
# cheap element-wise op whose inputs are kept anyway (conv → batch norm → relu keeps 2 tensors, not 3).
# Not measured, assumed like their nearest kin: selu, mish, softplus, softsign (as swish), log_softmax (as
# softmax); Keras 3's newer names: hard_tanh, hard_shrink, soft_shrink, sparse_sigmoid
# (piecewise linear, as relu), celu (as elu), log_sigmoid, tanh_shrink, squareplus, sparse_plus (as
# softplus), sparsemax (as softmax).
ACTIVATION_RESIDUALS = {
    "relu": ("input", 0), "relu6": ("input", 0), "leaky_relu": ("input", 0), "hard_sigmoid": ("input", 0),
    "hard_silu": ("input", 0), "hard_swish": ("input", 0),
    "silu": ("input", 1), "swish": ("input", 1), "elu": ("input", 1), "selu": ("input", 1), "mish": ("input", 1),
    "softplus": ("input", 1), "softsign": ("input", 1), "gelu": ("input", 2), "gelu_approximate": ("input", 1),
    "sigmoid": ("output", 1), "tanh": ("output", 1), "exponential": ("output", 1),
    "softmax": ("output", 2), "log_softmax": ("output", 2),
    "hard_tanh": ("input", 0), "hard_shrink": ("input", 0), "soft_shrink": ("input", 0), "sparse_sigmoid": ("input", 0),
    "celu": ("input", 1), "log_sigmoid": ("input", 1), "tanh_shrink": ("input", 1), "squareplus": ("input", 1),
    "sparse_plus": ("input", 1), "sparsemax": ("output", 2),
}
# What XLA:GPU stores of an activation's own beyond the tensor it reads, in float32-sized tensors of its size
# (Op.workspace, platform "gpu"): measured in deviceless XLA:GPU compiles for an H200 (jax 0.10.2), blocks of
# dense → gelu → dense repeated 2 and 6 times: gelu keeps one float32 residual in float32 (13.05 tensors per
# block against 9.05 without it) and two bfloat16 ones — the same bytes — under mixed_bfloat16 (17.12 against
# 9.10; the `multiply` fusions' outputs in the buffer assignment). Swish, sigmoid, the piecewise-linear ones
# and softmax stored none there (the MBConv block with squeeze-excite: 32.30 tensors, 32.26 estimated without).
GPU_ACTIVATION_RESIDUALS = {"gelu": 1, "gelu_approximate": 1}
# Under a mixed policy, the activation residuals counted as float32 tensors (Op.mixed_float32), per platform:
# XLA:CPU keeps gelu_approximate's (GELU's tanh form) one residual of a float32 step (its tanh, beside the
# pre-activation: GPT-2's and BERT's MLPs, buffer assignment) as three bfloat16 ones (the tanh and two products),
# counted as one float32 tensor, 4 of the 6 bytes; XLA:GPU keeps gelu's one float32 residual as two bfloat16 ones,
# the same bytes (GPU_ACTIVATION_RESIDUALS)
MIXED_WIDE_RESIDUALS = {"cpu": {"gelu_approximate": 1}, "gpu": GPU_ACTIVATION_RESIDUALS}
# the activations XLA recomputes rather than stores (piecewise linear: no residual of their own)
CHEAP_ACTIVATIONS = frozenset(k for k, (reads, extra) in ACTIVATION_RESIDUALS.items() if reads == "input" and not extra)
# activations whose gradient reads their output


class MixedKeeps(NamedTuple):
    """What an op's backward keeps in float32 under a mixed policy (`Op.mixed_float32`)."""

    inputs: bool        # the inputs it keeps
    output: bool        # its output, where it keeps it
    inside: int         # elements per example of what it keeps inside
    scratch: bool       # its backward step's temporaries (`Op.backward_scratch`)


class Op:
    """Base class; subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    keras_class: ClassVar[str]
    Attrs: ClassVar[type[Attrs]]
    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    primary: ClassVar[str | None] = None       # `- activation: relu` sets this attribute
    category: ClassVar[Category] = Category.OTHER   # a Category, or its string (converted by ops.register)
    window: ClassVar[bool] = False             # has a spatial kernel/pool window (for warnings)
    doc: ClassVar[str] = ""
    #: the FLOP convention in words, beside `flops`/`extra_flops` (the table of docs/conventions.md and
    #: docs/flops.md is generated from these); None: the op counts 0 FLOPs
    flops_rule: ClassVar[str | None] = None
    #: the MAC count in words (docs/conventions.md's MAC table); None: no multiply-accumulates
    macs_rule: ClassVar[str | None] = None
    # (attributes, input shapes, expected output shape, expected (trainable, non-trainable) params);
    # asserted by the fast op tests and checked against Keras by the parity tests
    examples: ClassVar[list[tuple[dict, list[tuple], tuple, tuple[int, int]]]] = []

    # ---- flags other stages read (instead of lists of op names) -----------------------------
    roles: ClassVar[tuple[str, ...]] = ()      # named jobs the language and importer ask for (see ops.role)
    source: ClassVar[bool] = False             # a graph source (a model input), not a layer
    branch_merge: ClassVar[bool] = False       # may close a `branches:` structure (`merge: <name>`)
    weighted: ClassVar[bool] = False           # a conv/dense layer: the core of a conv → bn → act unit
    unit_helper: ClassVar[bool] = False        # normalization, activation or padding around a weighted layer
    transparent: ClassVar[bool] = False        # keeps the values' layout (dropout, activations)
    dropout: ClassVar[bool] = False            # drops a fraction `rate` of its input while training
    scales_input: ClassVar[bool] = False       # maps raw input values to a range (rescaling, normalization)
    abbrev: ClassVar[str | None] = None        # short name in imported block names (conv_bn_relu); default: name
    internal: ClassVar[bool] = False           # never written as a layer entry (input: made from `inputs:`)
    custom_layer: ClassVar[bool] = False       # keras_class is archspec's own layer (ops/keras_layers.py)
    shared_layer: ClassVar[bool] = False       # no layer of its own: call_keras calls an input's layer again
    summary: ClassVar[bool] = False            # stands for a whole block call in a pricing graph (ops/summary.py)
    #: a shared layer's input whose producer owns the weights it uses (tied_logits: 1, the token_embedding):
    #: their gradient exists from this op's backward step on, not only from the owner's
    weights_from: ClassVar[int | None] = None

    # ---- Keras import (archspec import): Keras layer → this op ------------------------------
    keras_classes: ClassVar[tuple[str, ...]] = ()    # Keras layer classes read as this op (default: keras_class)
    keras_names: ClassVar[dict[str, str]] = {}       # attribute → Keras config key, where the names differ
    keras_ops: ClassVar[tuple[str, ...]] = ()        # keras.ops operations of a functional graph read as this op
    keras_call_inputs: ClassVar[tuple[str, ...]] = ()  # call keywords that are inputs, after the positional ones
    # call keywords that set a boolean attribute when given (a tensor, read as the next input, or True):
    # attention's value_mask → padding_mask, use_causal_mask → causal
    keras_call_flags: ClassVar[dict[str, str]] = {}
    # a call keyword holding a mask computed from the inputs (KerasHub's attention_mask) → the call keywords
    # (padding-mask tensor, causal flag) that say the same when the mask is found to be a padding mask over
    # the keys, a causal mask or both (importer/trace.py evaluates it on random padding masks); a third keyword,
    # where given, is set True when the mask is additive (0 attend, −10⁹ masked: T5Gemma's), else such a mask
    # is not read
    keras_call_masks: ClassVar[dict[str, tuple[str, ...]]] = {}
    # call keywords given a constant that set an attribute to it: KerasHub's PositionEmbedding called with
    # start_index=1 → start (a tensor there is no constant: the call is refused)
    keras_call_values: ClassVar[dict[str, str]] = {}
    # call keywords the op's Keras layers take into **kwargs and never read (with keras_call_flags only)
    keras_call_ignored: ClassVar[tuple[str, ...]] = ()
    # a call keyword holding a tensor the caller computes from the padding mask that the op computes itself
    # (Falcon's ALiBi bias) → a function (the live layer, a padding mask array (batch, keys)) giving the array
    # the tensor must equal; one found equal on random padding masks leaves the call (importer/trace.py)
    keras_call_derived: ClassVar[dict[str, Any]] = {}
    # settings a Keras class implies without stating them in its config (module.Class → {key: value}), read
    # as if its config held them: KerasHub's WhisperCachedMultiHeadAttention is MultiHeadAttention without a
    # key bias, its config the same as MultiHeadAttention's
    keras_class_attrs: ClassVar[dict[str, dict[str, Any]]] = {}
    lambda_form: ClassVar[str | None] = None         # what a Lambda computes to be read as this op (probe_lambda)
    # another library's layer read as this op: constructor arguments its config lacks (or all of them, where its
    # get_config fails) are read from the live layer's attributes of the same name (KerasHub's LlamaAttention,
    # whose get_config raises; Qwen3Attention, whose config omits head_dim) — see importer/trace.py
    keras_live_args: ClassVar[bool] = False

    # ---- shape and costs -------------------------------------------------------------------
    def infer(self, a: Attrs, ins: list[tuple]) -> tuple:
        return ins[0]

    def params(self, a: Attrs, ins: list[tuple], out: tuple) -> tuple[int, int]:
        """(trainable, non_trainable) parameter counts."""
        return (0, 0)

    def macs(self, a: Attrs, ins: list[tuple], out: tuple) -> int:
        return 0

    def flops(self, a: Attrs, ins: list[tuple], out: tuple) -> int:
        return 2 * self.macs(a, ins, out) + self.extra_flops(a, ins, out)

    def extra_flops(self, a: Attrs, ins: list[tuple], out: tuple) -> int:
        return 0

    # ---- what a node of this op stands for (a summary node: a whole block call, ops/summary.py) --
    def layers(self, a: Attrs) -> int:
        """How many layers a node of this op counts as: 1; 0 for a graph source (a model input). Only an op
        with `summary` set may answer from the attributes (passes.analyze asks the others once per op)."""
        return 0 if self.source else 1

    def hidden(self, a: Attrs) -> int:
        """Layers and scopes inside the node, beyond the node itself, that the graph does not hold."""
        return 0

    def output_elements(self, a: Attrs, cost: tuple) -> int:
        """Elements per example of the node's output tensor; `cost` is the node's cached cost tuple."""
        return cost[4]

    def output_name(self, a: Attrs, short: str) -> str:
        """The name a model output made by this node takes (`short`: the node's own short name)."""
        return short

    def peak_profile(self, a: Attrs) -> dict | None:
        """The node's own peak-memory profile (passes.analyze.profile) when it runs many layers; None for a layer."""
        return None

    #: check_producers is called with the ops that produce this op's inputs (tied_logits reuses an embedding)
    reads_producers: ClassVar[bool] = False

    def check_producers(self, a: Attrs, producers: list[tuple[str, Attrs | None]]) -> None:
        """Raise :class:`ShapeError` when an input comes from the wrong kind of layer; `producers` are
        (op name, attributes) of the layers feeding each input, in order."""

    def window_size(self, a: Attrs) -> tuple[int, int] | None:
        """The spatial window (after dilation) this op slides, for the kernel-exceeds-input warning."""
        return None

    # ---- presentation ----------------------------------------------------------------------
    def label(self, a: Attrs) -> str:
        return self.name.replace("_", " ")

    def token_ids(self, a: Attrs) -> int | None:
        """How many integer ids this op accepts on its first input (0 … n − 1); None: it reads no ids.
        Training checks the data's largest token id against it before anything is built."""
        return None

    def activation_of(self, a: Attrs) -> str | None:
        act = getattr(a, "activation", None)
        return None if act in (None, "linear") else act

    def cancels_bias(self, a: Attrs) -> bool:
        """Whether a bias added right before this layer is redundant (batch norm's beta shifts anyway)."""
        return False

    def short_name(self, a: Attrs) -> str:
        """The name part of an imported block made of this layer (`relu` for an Activation of relu)."""
        return self.abbrev or self.name

    # ---- Keras -----------------------------------------------------------------------------
    def keras_kwargs(self, a: Attrs) -> dict[str, Any]:
        return a.model_dump()

    def keras_config(self, cfg: dict, shapes: list[tuple]) -> dict:
        """A Keras layer's `cfg` as a fresh layer would state it: values Keras fills in when it builds the layer
        (or spells differently) put back, so the importer's comparison with a fresh layer is fair."""
        return cfg

    def from_keras(self, cfg: dict, shapes: list[tuple]) -> dict[str, Any]:
        """Attribute values of this op for a Keras layer's `cfg` (the inverse of :meth:`keras_kwargs`);
        `shapes` are its input shapes without the batch axis. Raises :class:`KerasImportError` for a
        config the op cannot express. The importer validates the result and checks that turning it back
        into Keras arguments gives the same layer.
        """
        values = {}
        for f, field in self.Attrs.model_fields.items():
            key = self.keras_names.get(f, f)
            if key in cfg:
                values[f] = keras_value(cfg[key])
        if "activation" in values:
            act = values["activation"] = activation_name(values["activation"])
            if isinstance(act, dict) or (act is not None and act not in ACTIVATIONS):
                raise KerasImportError(f"its activation {act!r} is not one of archspec's named activations")
            if act == "linear" and self.Attrs.model_fields["activation"].default is None:
                values["activation"] = None              # optional activations: None means linear
        if "axis" in values:
            axis = values["axis"]
            if isinstance(axis, tuple):
                if len(axis) != 1:
                    raise KerasImportError(f"it works over the axes {list(axis)}; archspec takes one axis")
                axis = axis[0]
            if shapes and axis >= 0:
                axis -= len(shapes[0]) + 1                # Keras counts the batch axis; -1 is channels
            values["axis"] = axis
        return values

    def from_keras_op(self, cls: str, n_tensors: int, consts: list[tuple[int, Any]],
                      cfg: dict | None = None) -> dict[str, Any] | None:
        """Attribute values for a `keras.ops` call recorded in a functional graph (MobileNetV3's `x + 3.0`),
        or None when this op does not express it. `consts` are (argument position, value) of the non-tensor
        arguments; `cfg` the operation's own settings (`keras.ops.gelu`'s `approximate`, `concatenate`'s
        `axis`). Consulted only for ops listing `cls` in :attr:`keras_ops`."""
        return None

    def keras_weights(self, source, target, weights: list) -> list:
        """`weights` — the values of the Keras layer `source`'s weights, in `source.weights` order — as the
        layer `target` that this op built for it takes them (`target.set_weights`). Default: as they are, in
        that order (the same class, or one built to hold the same weights in the same order)."""
        return weights

    def keras_reuse(self, call_kwargs: dict) -> str | None:
        """The op that a later call of this op's Keras layer (the same weights, called again) is, given that
        call's keyword arguments — e.g. a token embedding looked up again (`shared_embedding`) or called with
        reverse=True (`tied_logits`); None: a layer called twice is refused (archspec has no general weight
        sharing). The later call becomes a node fed by the call's own inputs and then the first call's
        output, whose layer it reuses (the op's `shared_layer`)."""
        return None

    def from_keras_reuse(self, owner_cfg: dict) -> dict[str, Any]:
        """Attribute values of this op standing for a later call of a layer with config `owner_cfg`."""
        return {}

    def probe_lambda(self, call, shapes: list[tuple]) -> dict[str, Any] | None:
        """Attribute values when the Lambda layer `call` (NumPy arrays in and out, batch axis included)
        computes what this op does, judged on random inputs of `shapes`; None otherwise."""
        return None

    def build_keras(self, a: Attrs, name: str):
        """A fresh Keras layer for these attributes (imports Keras lazily): `keras_class` of keras.layers,
        or of archspec's own layers (:mod:`archspec.ops.keras_layers`) where `custom_layer` is set."""
        if self.custom_layer:
            from . import keras_layers as layers
        else:
            import keras

            layers = keras.layers
        return getattr(layers, self.keras_class)(**self.keras_kwargs(a), name=name)

    # ---- training (docs/training-estimates.md) ----------------------------------------------
    #: the forward tensors this op's gradient reads, kept from the forward to the backward pass.
    #: None: by category — conv, dense and norm layers keep their input (the weight gradient needs it).
    keeps_inputs: ClassVar[bool | None] = None
    keeps_output: ClassVar[bool] = False
    #: pure data movement (concatenation, reshape) that compilers fuse into its consumers: a backward
    #: step that reads its output keeps its inputs instead (a DenseNet keeps the pieces, not every concat)
    view: ClassVar[bool] = False
    #: a cheap element-wise op (batch norm's affine map with its batch statistics, a sum, a piecewise-linear
    #: activation): when only element-wise backward steps read its output and its inputs are kept anyway,
    #: XLA recomputes the output inside their fusion instead of storing it (see `recomputes`)
    recomputable: ClassVar[bool] = False
    #: how many more tensors of its output's size XLA:CPU's backward keeps beyond what backward_keeps
    #: names (layer norm's inverse deviation and gamma broadcast: 2, measured; see `workspace`, and
    #: `batch_workspace` for the two more it keeps at large batches)
    residuals: ClassVar[int] = 0

    #: Keras computes this op in float32 whatever the dtype policy: it casts a 16-bit input up and the result
    #: back (batch, layer, group and RMS normalization: "prone to overflow with float16/bfloat16 inputs")
    float32_math: ClassVar[bool] = False

    def fused_into_readers(self, platform: str) -> bool:
        """Whether an element-wise backward (a normalization's, an activation's) that reads this view's output
        keeps the view's inputs instead, as a kernel's does (`view`): the compiler fuses the view into every
        fusion that reads it rather than storing it. XLA:GPU does so with a concatenation (DenseNet-121's
        batch norms keep the pieces of their block's growing concatenation, `loop_concatenate_fusion`, never
        the concatenation); XLA:CPU stores it for them. False for most ops."""
        return False

    def kept_after(self, a: Attrs, producer: "Op", pa: Attrs, out: tuple, platform: str) -> int:
        """Elements per example this op's backward keeps beyond `backward_keeps` because of the layer that
        produces its input (batch norm after a biased convolution, on XLA:CPU); 0 for most ops."""
        return 0

    def recomputes(self, a: Attrs) -> bool:
        """Whether XLA may recompute this layer's output in an element-wise backward fusion (`recomputable`;
        an activation layer: when its activation is piecewise linear)."""
        return self.recomputable

    def recomputes_mixed(self, a: Attrs, platform: str) -> bool:
        """`recomputes` under a mixed policy: an op Keras computes in float32 (`float32_math`) ends in a cast back
        to bfloat16, and XLA:CPU stores that cast rather than recompute it (conv → batch norm → relu keeps the
        conv's output in float32, batch norm's in bfloat16 and relu's in float32: 5.14 bfloat16-sized tensors
        per block, measured). On a GPU, as in float32 (the H200's ResNet-50 and MobileNetV2 agreed so)."""
        return self.recomputes(a) and not (self.float32_math and platform == "cpu")

    @property
    def fused_backward(self) -> bool:
        """Whether this op's backward is element-wise (activations, normalizations, merges) and so can
        recompute a cheap producer's output; convolutions, matmuls, pooling and attention call kernels
        that read stored operands."""
        return self.category in ("act", "norm", "merge")

    def backward_keeps(self, a: Attrs, ins: list[tuple], out: tuple) -> tuple[bool, bool, int]:
        """(inputs, output, extra): which forward tensors stay alive until this op's backward step, and how
        many more elements per example it keeps inside (a fused activation's pre-activation, attention's
        projections and probabilities)."""
        keep_in = (self.category in (Category.CONV, Category.DENSE, Category.NORM) if self.keeps_inputs is None
                   else self.keeps_inputs)
        keep_out = self.keeps_output
        act = self.activation_of(a)
        if act is None:
            return keep_in, keep_out, 0
        reads, _ = ACTIVATION_RESIDUALS.get(act, ("input", 1))
        if self.category == "act":                      # the layer is the activation: it reads its input or output
            return keep_in or reads == "input", keep_out or reads == "output", 0
        if reads == "output":                           # fused into a conv/dense layer: the output is kept
            return keep_in, True, 0
        return keep_in, keep_out, size(out)             # ... or its pre-activation, inside the layer

    def workspace(self, a: Attrs, ins: list[tuple], out: tuple, platform: str) -> int:
        """Elements per example of the residuals XLA stores for this op's backward beyond `backward_keeps`:
        on XLA:CPU `residuals` and its activation's (sigmoid's σ, gelu's erf terms); on a GPU only gelu's
        one (`GPU_ACTIVATION_RESIDUALS`; layer norm's and the others' XLA:GPU recomputes)."""
        act = self.activation_of(a)
        if platform != "cpu":
            return GPU_ACTIVATION_RESIDUALS.get(act, 0) * size(out) if act else 0
        return (self.residuals + (ACTIVATION_RESIDUALS.get(act, ("input", 1))[1] if act else 0)) * size(out)

    def kernel_family(self, a: Attrs, ins: list[tuple], out: tuple) -> str:
        """Which kind of kernel runs this op, for a device's efficiency (Device.efficiency): "matmul" for
        multiply-accumulates (convolutions, dense layers, attention), "elementwise" for the rest."""
        return "matmul" if self.macs(a, ins, out) else "elementwise"

    def executed_flops(self, a: Attrs, ins: list[tuple], out: tuple, platform: str,
                       input_grad: bool = True) -> dict[str, int]:
        """FLOPs per example of the forward and backward steps by kernel family, as the platform runs them:
        the counted ones (flops + backward_flops) unless a backend does more work than the op needs."""
        return {self.kernel_family(a, ins, out): self.flops(a, ins, out) + self.backward_flops(a, ins, out, input_grad)}

    def batch_workspace(self, a: Attrs, ins: list[tuple], out: tuple, platform: str, batch: int) -> int:
        """Elements per example of residuals XLA stores beyond `workspace` only from some batch size on (XLA:CPU
        keeps two more of a normalization's from 4,096 normalized rows in the batch: `norm.py`). 0 for most ops."""
        return 0

    def shared_workspace(self, a: Attrs, ins: list[tuple], out: tuple, platform: str) -> tuple[object, int]:
        """(key, elements per example) of a buffer XLA materializes once for all the layers whose key is equal,
        when there are two or more of them (a single reader fuses it), and keeps from the first of them in the
        forward pass to its backward step (the end of theirs): XLA:CPU broadcasts the scaling constant of
        `dot_product_attention` to the scores' shape once per model, and every such attention layer's backward
        reads it. (None, 0) for most ops."""
        return None, 0

    def lent_params(self, a: Attrs, ins: list[tuple], out: tuple) -> int:
        """Trainable weights this op holds only for a layer that borrows them (`weights_from`: an untied
        token embedding's output projection table, read by `tied_logits`). With no such layer in the graph
        they take no part in the loss: their gradient is a zero JAX folds into the optimizer's update, and
        XLA allocates no buffer for it (a Llama backbone's 32,000 × 256 table, buffer assignment); their
        optimizer slots are kept all the same. 0 for most ops."""
        return 0

    def early_gradient(self, platform: str) -> bool:
        """Whether this op's weight gradient is a buffer XLA fills by scatter-adding into zeros, allocated
        before the backward pass starts and alive through all of it (a token embedding's table, on XLA:CPU)
        rather than created at the op's own backward step."""
        return False

    def backward_scratch(self, a: Attrs, ins: list[tuple], out: tuple, platform: str) -> tuple[int, int]:
        """(elements per example, elements whatever the batch) of the temporaries this op's backward step
        holds while it runs and frees when it ends — XLA:CPU computes a grouped convolution's filter gradient
        as a dense one (every input channel against every output channel) and then selects the groups'
        blocks: two buffers of the dense filter's size (`_Conv`). (0, 0) for most ops."""
        return 0, 0

    def mixed_float32(self, a: Attrs, ins: list[tuple], out: tuple, platform: str, inside: int) -> MixedKeeps:
        """Under a mixed policy (bfloat16 or float16 activations): which of what this op's backward keeps XLA stores
        in float32 rather than the 16-bit compute dtype — `inside` is the elements per example it keeps inside
        (`backward_keeps`' extra, `workspace`, `kept_after`). Two reasons, measured in XLA:CPU's buffer assignment
        (docs/training-estimates.md, "Mixed precision"):

        * XLA:CPU has no bfloat16 convolution or matmul: it upcasts their operands to float32 and runs them in
          float32, so a kernel op (multiply-accumulates: conv, dense) keeps its operands and its backward scratch
          (a grouped convolution's dense filter gradient) in float32. A fused activation runs after Keras casts
          the kernel's result back: its pre-activation and residuals (inside) and an output it keeps are 16-bit
          (conv → relu: 3.14 bfloat16-sized tensors per block, the conv's float32 operand and relu's bfloat16
          input). CPU-only: a GPU runs the kernels in bfloat16.
        * Keras computes some ops in float32 whatever the policy (`float32_math`: the normalizations): what
          they keep inside (layer norm's centred input and deviation) is float32 on every backend; the input
          they keep is XLA:CPU's float32 cast (its producers are float32 kernels there) — on a GPU the 16-bit
          tensor (the bfloat16 convolution output in a deviceless XLA:GPU compile's buffer assignment).
        * On a GPU, gelu's residual (`GPU_ACTIVATION_RESIDUALS`): two bfloat16 tensors where a float32 step keeps
          one float32, counted as that one float32 tensor.

        Everything else (activations' inputs and residuals, pooling, merges) stays in the compute dtype."""
        act = self.activation_of(a)
        wide_act = MIXED_WIDE_RESIDUALS["cpu" if platform == "cpu" else "gpu"].get(act, 0) * size(out) if act else 0
        if platform == "cpu" and self.macs(a, ins, out) > 0:
            return MixedKeeps(True, False, wide_act, True)
        if self.float32_math:
            return MixedKeeps(platform == "cpu", False, inside, False)
        return MixedKeeps(False, False, wide_act, False)

    def backward_flops(self, a: Attrs, ins: list[tuple], out: tuple, input_grad: bool = True) -> int:
        """FLOPs of this op's backward step. Convention: the multiply-accumulates run twice — once for
        the gradient w.r.t. the input, once for the weights — so 2× the forward MAC FLOPs, 1× when no
        input gradient is needed (the layer reads the model input); element-wise work (bias, norm,
        pooling, merges, softmax) costs as much as forward."""
        macs = self.macs(a, ins, out)
        return 2 * macs * (2 if input_grad else 1) + self.flops(a, ins, out) - 2 * macs

    # ---- lints (passes/design.py) ------------------------------------------------------------
    def lint(self, a: Attrs, ins: list[tuple], out: tuple) -> list[tuple[str, str, str | None]]:
        """Design warnings of this layer alone: (code in codes.WARNINGS, message, hint)."""
        return []

    def token_mixing(self, a: Attrs, n: int) -> tuple[str | None, tuple[int, ...] | None]:
        """How this op, given `n` inputs, mixes the tokens of its query sequence: ("causal" — token i reads
        tokens ≤ i only; "all" — each output reads later tokens too; None — tokens stay apart or it is not a
        sequence op), and which inputs' tokens flow into the same positions of the output (None: all of them;
        a cross-attention's context is another sequence)."""
        return None, None

    def input_roles(self, a: Attrs, n: int) -> tuple[str, ...] | None:
        """Short names of what each of `n` inputs is for (attention's q / kv), drawn on the edges; None
        when the inputs are interchangeable or there is one."""
        return None

    def makes_mask(self, a: Attrs) -> bool:
        """Whether this op's output is a mask (a boolean input, padding_mask's): it may only go where an op reads
        one (:meth:`mask_inputs`)."""
        return False

    def mask_inputs(self, a: Attrs, n: int) -> frozenset[int]:
        """The positions of `n` inputs that this op reads as masks (:meth:`input_roles` names them "mask":
        attention's padding mask) — the only places a boolean input may go; any dtype is read there as
        attend (non-zero) or not (zero)."""
        return frozenset(k for k, r in enumerate(self.input_roles(a, n) or ()) if r == "mask")

    def call_keras(self, layer, tensors: list, attrs: Attrs | None = None):
        """Apply the built `layer` to its input tensors (in `from` order); `attrs` are the node's attributes
        (call options such as attention's causal mask)."""
        return layer(tensors if self.arity[1] != 1 else tensors[0])


def keras_activation(name: str | None):
    """What a Keras layer's `activation=` takes for an archspec activation name: the name itself, or
    archspec's registered function for the names Keras lacks (imports Keras for those)."""
    if name in ARCHSPEC_ACTIVATIONS:
        from . import keras_layers

        return getattr(keras_layers, name)
    return name


def activation_name(act) -> Any:
    """An activation as a Keras config states it, as archspec names it: archspec's registered functions
    are serialized as "archspec>gelu_approximate" (or a dict holding that name)."""
    if callable(act) and getattr(act, "__name__", None) in ARCHSPEC_ACTIVATIONS:
        return act.__name__                       # the function keras_activation gave
    if isinstance(act, dict) and isinstance(act.get("config"), str):
        act = act["config"]
    if isinstance(act, str) and act.startswith("archspec>") and act[len("archspec>"):] in ARCHSPEC_ACTIVATIONS:
        return act[len("archspec>"):]
    return LIBRARY_ACTIVATIONS.get(act, act) if isinstance(act, str) else act


# other libraries' registered activation functions that compute one of archspec's (the import's round trip
# checks it): KerasHub's gelu_approximate is keras.activations.gelu(x, approximate=True), as archspec's
LIBRARY_ACTIVATIONS = {"keras_hub>gelu_approximate": "gelu_approximate"}


def keras_value(v):
    """A Keras config value with lists turned into tuples (how archspec attributes hold them)."""
    if isinstance(v, (list, tuple)):
        return tuple(keras_value(x) for x in v)
    return v


def constant_value(c):
    """A constant argument of a `keras.ops` call as a functional config records it: a number as it is, a
    constant tensor or NumPy array (``{"class_name": "__tensor__" or "__numpy__", "config": {"value": ...}}``:
    KerasHub's `x * 4.0` under a dtype policy, its per-channel image means) as its value (a number or a
    nested list).

    >>> constant_value(3.0), constant_value({"class_name": "__tensor__", "config": {"value": [0.5, 0.25]}})
    (3.0, [0.5, 0.25])
    """
    if isinstance(c, dict) and c.get("class_name") in ("__tensor__", "__numpy__"):
        return (c.get("config") or {}).get("value")
    return c


def unpack_ones(cfg: dict, keys: tuple[str, ...]) -> dict:
    """A 1-D Keras layer's config with its 1-tuples (kernel_size=(3,)) as the numbers archspec writes."""
    return {k: (v[0] if k in keys and isinstance(v, (list, tuple)) and len(v) == 1 else v) for k, v in cfg.items()}


def bias_flops(use_bias: bool, out: tuple) -> int:
    return size(out) if use_bias else 0


def act_flops(act: str | None, out: tuple) -> int:
    return ACTIVATION_FLOPS.get(act or "", 0) * size(out)


def shape_axis(axis: int, rank: int) -> int | None:
    """Index into an archspec shape (batch axis excluded) of a Keras `axis` (batch axis included:
    0 is the batch, 1 the first data axis, -1 the last). None when out of range or the batch axis.

    >>> shape_axis(-1, 3), shape_axis(3, 3), shape_axis(1, 3), shape_axis(0, 3), shape_axis(4, 3)
    (2, 2, 0, None, None)
    """
    if -rank <= axis < 0:
        return rank + axis
    if 1 <= axis <= rank:
        return axis - 1
    return None


def dims(shape: tuple) -> str:
    return "×".join(str(d) for d in shape)


def need_rank(ins: list[tuple], rank: int, what: str, hint: str | None = None) -> None:
    shape = ins[0]
    if len(shape) != rank:
        axes = {3: "(height, width, channels)", 2: "(steps, channels)"}.get(rank, "")
        raise ShapeError(f"{what} needs a rank-{rank} input {axes}, got shape {shape}".replace("  ", " "),
                         "shape-rank", hint)


def kxk(k: tuple[int, int]) -> str:
    return f"{k[0]}×{k[1]}"
