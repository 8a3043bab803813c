"""Token sequences (batch, tokens, features): token_embedding (integer ids → vectors, BERT's and GPT-2's),
tied_logits (the output projection tied to it), position_embedding (a learned table of the input's shape,
ViT's, or of `length` rows, BERT's and GPT-2's), sine_position, class_token, select_token, global_avg_pool_1d,
global_max_pool_1d; and layer_scale (ConvNeXt, CaiT).

A ViT turns an image into tokens with a patch convolution and a reshape
(`conv2d: {filters: 768, kernel: 16, strides: 16}` then `reshape: [-1, 768]`), prepends a class token,
adds a learned position embedding, runs attention blocks and classifies the class token.

>>> from archspec.ops import REGISTRY
>>> ct, pe = REGISTRY["class_token"], REGISTRY["position_embedding"]
>>> ct.infer(ct.Attrs(), [(196, 768)]), pe.params(pe.Attrs(), [(197, 768)], (197, 768))
((197, 768), (151296, 0))
"""
from __future__ import annotations

from typing import Literal

from .base import Attrs, Field, KerasImportError, Op, PosInt, ShapeError, model_validator
from .registry import register
from .shapes import size
from .tables import sinusoid  # noqa: F401  (re-exported: tokens.sinusoid)


def _tokens(op: str, ins, hint: str | None = None):
    if len(ins[0]) != 2:
        raise ShapeError(f"{op} needs a token sequence (tokens, features), got shape {ins[0]}", "shape-rank",
                         hint or f"turn it into tokens first: `- reshape: [-1, {ins[0][-1]}]`")
    return ins[0]


class NoAttrs(Attrs):
    pass


class TokenEmbeddingAttrs(Attrs):
    vocabulary: PosInt = Field(description="number of distinct token ids (Keras input_dim); ids are 0 … vocabulary − 1")
    dim: PosInt = Field(description="features of each token's vector (Keras output_dim)")
    tie_weights: bool = Field(True, description="false: a separate (dim, vocabulary) output projection table is kept "
                                                "with the embedding (KerasHub's Llama with tie_word_embeddings=False)")


@register
class TokenEmbedding(Op):
    name, keras_class, Attrs, category = "token_embedding", "ReversibleEmbedding", TokenEmbeddingAttrs, "token"
    keras_classes = ("ReversibleEmbedding", "Embedding")
    keras_names = {"vocabulary": "input_dim", "dim": "output_dim"}
    keeps_inputs = True                            # the gradient scatters into the rows the ids picked
    doc = ("Looks up a learned vector per integer token id (keras.layers.ReversibleEmbedding, an Embedding that can "
           "also project back to the vocabulary): ids (T,) → (T, dim); its input is an `int32` input. BERT's token "
           "and segment embeddings, GPT-2's and Llama's token embedding.")
    examples = [({"vocabulary": 100, "dim": 16}, [(12,)], (12, 16), (1600, 0)),
                ({"vocabulary": 2, "dim": 8}, [(3, 5)], (3, 5, 8), (16, 0)),
                ({"vocabulary": 10, "dim": 4, "tie_weights": False}, [(6,)], (6, 4), (80, 0))]

    def early_gradient(self, platform):
        """XLA:CPU zero-fills the table's gradient (the scatter-add target) ahead of the backward pass: GPT-2's
        50,257 × 768 table gradient (147 MiB) is alive from the end of the forward pass (buffer assignment of
        the compiled step); a GPU was not traced."""
        return platform == "cpu"

    def infer(self, a, ins):
        if len(ins[0]) > 2:
            raise ShapeError(f"token_embedding reads integer token ids (tokens,); it receives a feature map {ins[0]}",
                             "shape-rank", "declare the ids as an input `{shape: [length], dtype: int32}`")
        return ins[0] + (a.dim,)

    def params(self, a, ins, out):
        return (a.vocabulary * a.dim * (1 if a.tie_weights else 2), 0)

    def lent_params(self, a, ins, out):
        return 0 if a.tie_weights else a.vocabulary * a.dim      # the output projection table, for tied_logits

    def token_ids(self, a):
        return a.vocabulary

    def label(self, a):
        return f"token embedding · {a.vocabulary}→{a.dim}"

    def keras_kwargs(self, a):
        return dict(input_dim=a.vocabulary, output_dim=a.dim, tie_weights=a.tie_weights)

    def keras_config(self, cfg, shapes):
        cfg = dict(cfg)
        cfg.pop("input_length", None)
        return cfg

    def keras_reuse(self, call_kwargs):
        """The layer called again: on other ids (BART's and T5's decoder share the encoder's table), or with
        reverse=True (a language model's tied output projection)."""
        rest = {k: v for k, v in call_kwargs.items() if k != "reverse"}
        if rest:
            return None
        return TiedLogits.name if call_kwargs.get("reverse") else SharedEmbedding.name

    def from_keras(self, cfg, shapes):
        if cfg.get("mask_zero"):
            raise KerasImportError("it sets mask_zero (an implicit padding mask); archspec's masks are explicit "
                                   "inputs — declare a padding_mask input and pass it to attention")
        return super().from_keras(cfg, shapes)


class TiedLogitsAttrs(Attrs):
    vocabulary: PosInt = Field(description="the token_embedding's vocabulary (its table's rows)")


@register
class TiedLogits(Op):
    """No layer of its own: it calls the token_embedding's Keras layer a second time (a shared layer)."""

    name, keras_class, Attrs, category, arity = "tied_logits", "ReversibleEmbedding.reverse", TiedLogitsAttrs, "dense", (2, 2)
    keeps_inputs, shared_layer = True, True        # the table's gradient reads the features
    weights_from = 1        # the table's gradient exists from here, the top of the backward pass, not from the embedding's step
    doc = ("Projects features back onto the vocabulary with a token_embedding's own table, x · Eᵀ — the output "
           "projection tied to the input embedding (GPT-2's language-model head): `from: [x, token_embedding]`, "
           "the second input naming the embedding whose table it reuses (ReversibleEmbedding(x, reverse=True)). "
           "(T, dim) → (T, vocabulary); no parameters of its own.")
    examples = [({"vocabulary": 50}, [(6, 8), (6, 8)], (6, 50), (0, 0))]

    def infer(self, a, ins):
        x, e = ins
        if len(e) < 2 or e[-1] != x[-1]:
            raise ShapeError(f"tied_logits reads {x[-1]} features but the embedding it reuses makes {e[-1]}",
                             "shape-mismatch", "its second input is the token_embedding whose table it reuses; "
                             "the features must have its dim")
        return x[:-1] + (a.vocabulary,)

    reads_producers = True

    def check_producers(self, a, producers):
        op, attrs = producers[1]
        if op != TokenEmbedding.name:
            raise ShapeError(f"tied_logits reuses the table of a token_embedding; its second input comes from a {op}",
                             "shape-mismatch", "name the token_embedding: `from: [x, token_embedding]`")
        if attrs.vocabulary != a.vocabulary:
            raise ShapeError(f"tied_logits has vocabulary {a.vocabulary} but the token_embedding it reuses has "
                             f"{attrs.vocabulary} rows", "shape-mismatch", f"set vocabulary: {attrs.vocabulary}",
                             field="vocabulary")

    flops_rule = "2 per MAC (no bias)"
    macs_rule = "`vocabulary · dim` per position (x · Eᵀ)"

    def macs(self, a, ins, out):
        return size(out) * ins[0][-1]

    def label(self, a):
        return f"tied logits · {a.vocabulary}"

    def input_roles(self, a, n):
        return ("x", "table")

    def build_keras(self, a, name):
        return None

    def from_keras_reuse(self, owner_cfg):
        return {"vocabulary": owner_cfg["input_dim"]}

    def call_keras(self, layer, tensors, attrs=None):
        history = getattr(tensors[1], "_keras_history", None)
        embedding = getattr(history, "operation", None)
        if not (hasattr(embedding, "input_dim") and hasattr(embedding, "tie_weights")):
            raise ValueError(f"tied_logits: its second input comes from {type(embedding).__name__}, not a "
                             "token_embedding (a ReversibleEmbedding) whose table it could reuse")
        if attrs is not None and embedding.input_dim != attrs.vocabulary:
            raise ValueError(f"tied_logits: vocabulary {attrs.vocabulary} but the embedding "
                             f"'{embedding.name}' has {embedding.input_dim} rows")
        return embedding(tensors[0], reverse=True)


@register
class SharedEmbedding(Op):
    """No layer of its own: it calls the token_embedding's Keras layer again, on other ids (a shared layer)."""

    name, keras_class, Attrs, category, arity = "shared_embedding", "ReversibleEmbedding.again", NoAttrs, "token", (2, 2)
    keeps_inputs, shared_layer = True, True        # the table's gradient scatters into the rows these ids picked
    doc = ("Looks token ids up in another token_embedding's table — the same weights, a second lookup (BART's and "
           "T5's decoder read the encoder's embedding): `from: [ids, token_embedding]`, the second input naming the "
           "embedding whose table it reuses. (T,) → (T, dim); no parameters of its own.")
    examples = [({}, [(6,), (9, 8)], (6, 8), (0, 0))]

    def infer(self, a, ins):
        ids, e = ins
        if len(ids) > 2:
            raise ShapeError(f"shared_embedding reads integer token ids (tokens,); it receives a feature map {ids}",
                             "shape-rank", "its first input is the ids, its second the token_embedding it reuses")
        if len(e) < 2:
            raise ShapeError(f"shared_embedding's second input must be a token_embedding's output; it has shape {e}",
                             "shape-mismatch", "name the token_embedding: `from: [ids, token_embedding]`")
        return ids + (e[-1],)

    reads_producers = True

    def check_producers(self, a, producers):
        op, _ = producers[1]
        if op != TokenEmbedding.name:
            raise ShapeError(f"shared_embedding reuses the table of a token_embedding; its second input comes from "
                             f"a {op}", "shape-mismatch", "name the token_embedding: `from: [ids, token_embedding]`")

    def label(self, a):
        return "shared embedding"

    def input_roles(self, a, n):
        return ("ids", "table")

    def build_keras(self, a, name):
        return None

    def call_keras(self, layer, tensors, attrs=None):
        history = getattr(tensors[1], "_keras_history", None)
        embedding = getattr(history, "operation", None)
        if not (hasattr(embedding, "input_dim") and hasattr(embedding, "output_dim")):
            raise ValueError(f"shared_embedding: its second input comes from {type(embedding).__name__}, not a "
                             "token_embedding whose table it could reuse")
        return embedding(tensors[0])


class PositionEmbeddingAttrs(Attrs):
    stddev: float = Field(0.02, ge=0, description="standard deviation of the initial (normal) embedding")
    length: PosInt | None = Field(None, description="rows of the learned table (the longest sequence, e.g. 512): the "
                                                   "first T rows are added to T tokens; absent: the input's own shape")
    add: bool = Field(True, description="false: the embedding alone, the input only giving its shape (KerasHub's "
                                        "PositionEmbedding, whose model adds it to the tokens with an `add`)")
    start: int = Field(0, ge=0, description="with length, the first row taken: rows start … start + T − 1 go to T "
                                            "tokens (KerasHub's start_index; ESM-1 starts at its pad id)")

    @model_validator(mode="after")
    def _start_in_a_table(self):
        if self.start and self.length is None:
            raise ValueError("start picks the first row of a table of `length` rows; set `length` too")
        return self


@register
class PositionEmbedding(Op):
    name, keras_class, Attrs, category = "position_embedding", "PositionEmbedding", PositionEmbeddingAttrs, "token"
    custom_layer = True                            # archspec.ops.keras_layers
    # KerasHub's PositionEmbedding (registered as keras_hub>PositionEmbedding) is the table alone: add: false
    keras_classes = ("PositionEmbedding", "keras_hub>PositionEmbedding")
    doc = ("Adds a learned embedding of the input's shape (one vector per token, ViT's AddPositionEmbs): "
           "archspec.ops.keras_layers.PositionEmbedding, a registered serializable Keras layer. With `add: false` "
           "it is the embedding alone (KerasHub's PositionEmbedding, which BERT and GPT-2 add to the tokens).")
    examples = [({}, [(197, 16)], (197, 16), (3152, 0)),
                ({"stddev": 0.1}, [(4, 4, 3)], (4, 4, 3), (48, 0)),
                ({"length": 32}, [(10, 8)], (10, 8), (256, 0)),
                ({"length": 24, "add": False}, [(10, 8)], (10, 8), (192, 0)),
                ({"length": 12, "add": False, "start": 1}, [(10, 8)], (10, 8), (96, 0))]
    # KerasHub's PositionEmbedding called with start_index=1 (ESM-1, at its pad id): the rows from 1
    keras_call_values = {"start_index": "start"}

    def infer(self, a, ins):
        if a.length is not None:
            t, _ = _tokens("position_embedding with `length`", ins)
            if t > a.length - a.start:
                rows = f"{a.length} rows" if not a.start else f"{a.length - a.start} rows from row {a.start}"
                raise ShapeError(f"a sequence of {t} tokens is longer than the position table's {rows}",
                                 "sequence-too-long", f"raise `length` to at least {t + a.start}, or feed at most "
                                 f"{a.length - a.start} tokens", field="length")
        return ins[0]

    def params(self, a, ins, out):
        return (size(ins[0]) if a.length is None else a.length * ins[0][-1], 0)

    flops_rule = "1 per element (an add; 0 with `add: false`)"

    def extra_flops(self, a, ins, out):
        return size(out) if a.add else 0

    def label(self, a):
        base = "position embedding" if a.add else "position table"
        return base if a.length is None else f"{base} · {a.length}" + (f" from {a.start}" if a.start else "")

    def keras_kwargs(self, a):
        return dict(stddev=a.stddev, length=a.length) | ({} if a.add else {"add": False}) | (
            {"start": a.start} if a.start else {})

    def from_keras(self, cfg, shapes):
        """archspec's own layer as the reader checks it; KerasHub's (it has `sequence_length`) as the table
        alone, with nothing but its length and initializer set (the initializer is not part of a spec)."""
        if "sequence_length" not in cfg:
            return super().from_keras(cfg, shapes)
        rest = sorted(k for k in cfg if k not in ("name", "trainable", "dtype", "sequence_length", "initializer"))
        if rest:
            raise KerasImportError(f"its settings {rest} have no archspec attribute")
        if shapes and len(shapes[0]) != 2:
            raise KerasImportError(f"it reads a {len(shapes[0]) + 1}-axis input; archspec's position table is for a "
                                   "token sequence (batch, tokens, features)")
        return {"length": cfg["sequence_length"], "add": False}


class SinePositionAttrs(Attrs):
    max_wavelength: float = Field(10000.0, gt=0, description="the longest wavelength (Keras/Whisper: 10000)")
    layout: Literal["interleaved", "split"] = Field(
        "interleaved", description="interleaved: sin and cos alternate over the features (KerasHub's "
                                   "SinePositionEncoding); split: sines then cosines (Whisper's sinusoids)")
    table: PosInt | None = Field(None, description="keep the encoding as a non-trainable table of this many positions, "
                                                   "read from the start (Whisper's buffer; KerasHub's WhisperBackbone "
                                                   "holds it as max_encoder_sequence_length // 2 rows); none: computed")


@register
class SinePosition(Op):
    name, keras_class, Attrs, category = "sine_position", "SinePosition", SinePositionAttrs, "token"
    custom_layer = True                            # archspec.ops.keras_layers
    doc = ("Adds a fixed sinusoidal position encoding to a sequence (steps, features): x + PE[:steps] "
           "(KerasHub's SinePositionEncoding added to its input, or Whisper's encoder positions with "
           "`layout: split`). archspec.ops.keras_layers.SinePosition, a registered serializable Keras layer.")
    examples = [({}, [(10, 16)], (10, 16), (0, 0)),
                ({"layout": "split", "table": 12}, [(10, 8)], (10, 8), (0, 96))]

    def infer(self, a, ins):
        t, d = _tokens("sine_position", ins)
        if d % 2:
            raise ShapeError(f"sine_position pairs a sine with a cosine: its {d} features must be even",
                             "shape-mismatch", "project to an even number of features first")
        if a.layout == "split" and d < 4:
            raise ShapeError(f"sine_position's split layout needs at least 4 features, got {d}", "shape-mismatch",
                             "use layout: interleaved")
        if a.table is not None and t > a.table:
            raise ShapeError(f"the sequence has {t} steps but the position table only {a.table}", "shape-mismatch",
                             f"set table: {t} or more (or leave it out to compute the encoding)", field="table")
        return ins[0]

    def params(self, a, ins, out):
        return (0, a.table * ins[0][1]) if a.table else (0, 0)

    flops_rule = "1 per element (an add)"

    def extra_flops(self, a, ins, out):
        return size(out)

    def backward_keeps(self, a, ins, out):
        return False, False, 0                       # x + constant: the gradient passes through

    def label(self, a):
        return "sine positions" + (" (split)" if a.layout == "split" else "")

    def keras_kwargs(self, a):
        return dict(max_wavelength=a.max_wavelength, layout=a.layout, table=a.table)


class ClassTokenAttrs(Attrs):
    tokens: PosInt = Field(1, description="how many learned tokens to prepend (DeiT's distillation token: 2)")


@register
class ClassToken(Op):
    name, keras_class, Attrs, category, primary = "class_token", "ClassToken", ClassTokenAttrs, "token", "tokens"
    custom_layer = True                            # archspec.ops.keras_layers
    doc = ("Prepends learned tokens (initially zero) to a token sequence: (T, D) → (T + tokens, D). "
           "archspec.ops.keras_layers.ClassToken, a registered serializable Keras layer.")
    examples = [({}, [(196, 16)], (197, 16), (16, 0)),
                ({"tokens": 2}, [(5, 8)], (7, 8), (16, 0))]

    def infer(self, a, ins):
        t, d = _tokens("class_token", ins)
        return (t + a.tokens, d)

    def params(self, a, ins, out):
        return (a.tokens * ins[0][1], 0)

    def label(self, a):
        return "class token" if a.tokens == 1 else f"{a.tokens} class tokens"

    def keras_kwargs(self, a):
        return dict(tokens=a.tokens)


class SelectTokenAttrs(Attrs):
    index: int = Field(0, description="which token (0: the class token; negative counts from the end, -1: the last)")


@register
class SelectToken(Op):
    name, keras_class, Attrs, category, primary = "select_token", "SelectToken", SelectTokenAttrs, "reshape", "index"
    custom_layer = True                            # archspec.ops.keras_layers
    doc = ("Takes one token of a sequence, x[:, index]: (T, D) → (D,), e.g. the class token for the classifier. "
           "archspec.ops.keras_layers.SelectToken, a registered serializable Keras layer.")
    examples = [({}, [(197, 16)], (16,), (0, 0)),
                ({"index": 3}, [(5, 8)], (8,), (0, 0)),
                ({"index": -1}, [(5, 8)], (8,), (0, 0))]

    keras_ops = ("GetItem",)                       # `x[:, 0]` in a hand-written functional model

    def from_keras_op(self, cls, n_tensors, consts, cfg=None):
        """`x[:, i]` (a full slice over the batch, then a token index, -1 the last) on one tensor; full slices after
        the index (`x[:, 0, :]`, as KerasHub writes it) take nothing away."""
        if n_tensors != 1 or len(consts) != 1:
            return None
        key = consts[0][1]
        if not (isinstance(key, (list, tuple)) and len(key) >= 2 and isinstance(key[1], int)
                and not isinstance(key[1], bool)):
            return None
        if not all(_full_slice(k) for k in (key[0], *key[2:])):
            return None
        return {"index": key[1]}

    def infer(self, a, ins):
        t, d = _tokens("select_token", ins)
        if not -t <= a.index < t:
            raise ShapeError(f"select_token index {a.index} is out of range for {t} tokens", "shape-mismatch",
                             f"use an index from 0 to {t - 1} (or from -{t} to -1, counted from the end)",
                             field="index")
        return (d,)

    def label(self, a):
        return f"select token {a.index}"

    def keras_kwargs(self, a):
        return dict(index=a.index)


def _full_slice(k) -> bool:
    """Whether a serialized index is `:` (a slice with no start, stop or step)."""
    return (isinstance(k, dict) and k.get("class_name") == "__slice__"
            and all(v is None for v in (k.get("config") or {}).values()))


class _TokenPool(Op):
    Attrs, category = NoAttrs, "pool"
    kind = ""
    examples = [({}, [(197, 16)], (16,), (0, 0)),
                ({}, [(3, 5)], (5,), (0, 0))]

    def infer(self, a, ins):
        return (_tokens(self.name, ins, "for a feature map use global_avg_pool / global_max_pool")[1],)

    flops_rule = "1 per input element"

    def extra_flops(self, a, ins, out):
        return size(ins[0])

    def label(self, a):
        return f"token {self.kind} pool"

    def keras_kwargs(self, a):
        return {}


@register
class GlobalAvgPool1D(_TokenPool):
    name, keras_class, kind = "global_avg_pool_1d", "GlobalAveragePooling1D", "avg"
    doc = "Mean over the tokens of a sequence, (T, D) → (D,) (keras.layers.GlobalAveragePooling1D)."


@register
class GlobalMaxPool1D(_TokenPool):
    keeps_inputs, keeps_output = True, True    # the gradient goes to the arg-max
    name, keras_class, kind = "global_max_pool_1d", "GlobalMaxPooling1D", "max"
    doc = "Maximum over the tokens of a sequence, (T, D) → (D,) (keras.layers.GlobalMaxPooling1D)."


class LayerScaleAttrs(Attrs):
    init: float = Field(1e-6, description="initial value of every scale factor")


@register
class LayerScale(Op):
    name, keras_class, Attrs, category, primary = "layer_scale", "LayerScale", LayerScaleAttrs, "norm", "init"
    custom_layer, recomputable = True, True        # archspec.ops.keras_layers; γ·x, recomputed in a fusion
    keras_names = {"init": "init_values"}
    # KerasHub's DINOv2 and DINOv3 layer scales: x · λ with λ of the channels' size, as this one
    keras_classes = ("LayerScale", "keras_hub.src.models.dinov2.dinov2_layers.DINOV2LayerScale",
                     "keras_hub.src.models.dinov3.dinov3_layers.DINOV3LayerScale")
    doc = ("Multiplies each channel (last axis) by a learned factor, initially `init` (ConvNeXt's and CaiT's "
           "LayerScale, as keras.applications.convnext.LayerScale): archspec.ops.keras_layers.LayerScale.")
    examples = [({}, [(7, 7, 16)], (7, 7, 16), (16, 0)),
                ({"init": 0.1}, [(197, 16)], (197, 16), (16, 0))]

    def params(self, a, ins, out):
        return (ins[0][-1], 0)

    flops_rule = "1 per element (a multiply)"

    def extra_flops(self, a, ins, out):
        return size(out)

    def label(self, a):
        return f"layer scale {a.init:g}"

    def keras_kwargs(self, a):
        return dict(init_values=a.init)

    def from_keras(self, cfg, shapes):
        """Its initial value; KerasHub's DINOV2LayerScale states the channels it scales (`hidden_dim`), which
        must be the input's."""
        if "hidden_dim" in cfg and shapes and cfg["hidden_dim"] != shapes[0][-1]:
            raise KerasImportError(f"it scales hidden_dim={cfg['hidden_dim']} channels of an input with {shapes[0][-1]}")
        rest = sorted(k for k in cfg if k not in ("name", "trainable", "dtype", "init_values", "projection_dim",
                                                  "hidden_dim"))
        if rest and "hidden_dim" in cfg:
            raise KerasImportError(f"its settings {rest} have no archspec attribute")
        return super().from_keras(cfg, shapes)
