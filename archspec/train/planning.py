"""Does the data fit the spec? Checked before anything is built, so a mismatch is a located
message, not a traceback twenty seconds into TensorFlow.

Compares the data's image size and channels with the spec's input, its classes with the output
layer's units and activation, and both with the loss; settles what the spec left open (the loss,
whether the output gives logits, how labels are encoded) into a :class:`Plan` for the pipeline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import Diagnostic, Loc, Note, SpecError

LOSS_LABELS = {"sparse_categorical_crossentropy": "int", "categorical_crossentropy": "onehot",
               "binary_crossentropy": "binary"}
CLASS_MODE_LOSS = {"int": "sparse_categorical_crossentropy", "sparse": "sparse_categorical_crossentropy",
                   "categorical": "categorical_crossentropy", "binary": "binary_crossentropy"}


@dataclass
class Plan:
    """What the input pipeline and compile() need, decided from the spec and the data."""

    input_shape: tuple        # the spec's input, (h, w, c) or (n,)
    loss: str
    from_logits: bool
    labels: str               # int | onehot | binary
    units: int
    resize: bool              # array sources: resize to the input's height × width
    flatten: bool             # a flat input (n,) fed with images of n pixels
    channels: int
    warnings: list
    class_weight: dict | None = None      # class index -> loss weight (Keras fit's class_weight)
    label_smoothing: float = 0.0
    objective: str = "classify"           # classify | next_token (a language model: targets per position)
    mask_input: bool = False              # token specs: a second input takes the padding mask
    tokens: bool = False                  # the input is token ids (fed as they are: no float conversion)


def _where(spec, path: tuple) -> Loc | None:
    """The spec location of `training.<path>` if the spec has it."""
    src = spec.source
    full = ("training",) + path
    if full in src.values or full in src.keys:
        return src.loc(full)
    return None


def _training_loc(spec, *path) -> Loc:
    return _where(spec, path) or _where(spec, ()) or Loc(spec.source.file)


def plan(spec, settings, ds) -> Plan:
    """Check `ds` against `spec`; raise SpecError listing every mismatch, else return the Plan. Settles
    `settings.objective` (and, for token data, `sequence_length` and `vocab_size`), which settings.json records."""
    g = spec.graph
    errs: list[Diagnostic] = []
    warns: list[Diagnostic] = []
    data_note = (Note(f"the data: {ds.describe()}"),) + tuple(Note(n) for n in ds.notes if n.startswith("auto"))

    def err(message, loc, hint=None, code="data-mismatch", scope=None):
        errs.append(Diagnostic(code, message, loc, scope, hint, data_note))

    if ds.objective is not None:
        return _plan_tokens(spec, settings, ds, err, errs, warns)
    if settings.objective == "next_token":
        err("the objective next_token trains a language model on token ids; this spec's input is images",
            _training_loc(spec, "objective"), "drop objective (image specs classify), or declare the input as "
            "`{shape: [length], dtype: int32}`", code="train-unsupported")
        raise SpecError(errs)
    settings.objective = "classify"

    if len(g.inputs) != 1 or len(g.outputs) != 1:
        extra = g[g.inputs[1]] if len(g.inputs) > 1 else g[list(g.outputs.values())[1]]
        err(f"archspec train feeds one image input and one class output; this spec has {len(g.inputs)} "
            f"input{'s' * (len(g.inputs) != 1)} and {len(g.outputs)} output{'s' * (len(g.outputs) != 1)}",
            extra.loc, "train a single-input, single-output variant (outputs: [name]), or use the Keras model "
                       "from `archspec compile` in your own loop", code="train-unsupported")
        raise SpecError(errs)
    inp = g[g.inputs[0]]
    out = g[next(iter(g.outputs.values()))]
    resize, flatten, channels = _input(spec, settings, ds, inp, err)
    head = _output(spec, settings, ds, out, err)
    if head is None:
        raise SpecError(errs)
    loss, act, units = head
    _metric_names(spec, settings, ds, err)
    _scaling(spec, settings, ds, inp, err, warns)
    weights = _class_weights(spec, settings, ds, err)
    _validation_steps(spec, settings, ds, warns)
    if errs:
        raise SpecError(errs)
    loss, labels, smoothing = _smoothed(loss, settings)
    return Plan(tuple(inp.shape), loss, act is None, labels, units, resize, flatten, channels, warns, weights,
                smoothing)


def _plan_tokens(spec, settings, ds, err, errs, warns) -> Plan:
    """Token data against a spec whose input is token ids: the objective, the vocabulary, the output."""
    from ..ops import REGISTRY

    g = spec.graph
    inp = g.token_input
    length = int(inp.shape[0])
    extra = [g[i] for i in g.inputs[1:]]
    mask_input = False
    if len(extra) == 1 and extra[0].holds_mask() and tuple(extra[0].shape) == (length,):
        mask_input = True
    elif extra or len(g.outputs) != 1:
        bad = extra[0] if extra else g[list(g.outputs.values())[1]]
        err(f"archspec train feeds token ids (and optionally a padding mask of the same length) to one output; this "
            f"spec has {len(g.inputs)} inputs and {len(g.outputs)} output{'s' * (len(g.outputs) != 1)}", bad.loc,
            "a second input must be the padding mask, `{shape: [" + str(length) + "], dtype: int32}` (or bool); train a "
            "single-output variant (outputs: [name])", code="train-unsupported")
        raise SpecError(errs)
    out = g[next(iter(g.outputs.values()))]
    oshape = tuple(out.shape or ())
    shape_says = "next_token" if len(oshape) == 2 and oshape[0] == length else "classify" if len(oshape) == 1 else None
    objective = settings.objective or shape_says
    if shape_says is None or objective != shape_says:
        want = (f"({length}, vocabulary): a score for every token id at each of the {length} positions"
                if objective == "next_token" else "(classes,): one score per class")
        err(f"the output '{out.id}' has shape {oshape}; {objective or 'training'} needs {want}", out.loc,
            "end a language model with tied_logits or dense(units: vocabulary) on the token features; a classifier "
            "with global_avg_pool_1d (or select_token) and dense(units: classes)", code="train-unsupported")
        raise SpecError(errs)
    if objective != ds.objective:
        say = {"text": "text has no labels", "npz": "the .npz has no 'y' labels"}[ds.kind] if objective == "classify" \
            else f"the .npz '{ds.origin}' holds labels 'y' (one class per sequence)"
        err(f"the objective is {objective} but {say}", _training_loc(spec, "objective") if settings.objective
            else out.loc, "classify from an .npz with x (token ids) and y (labels); a language model learns from text or "
            "from token ids alone", code="data-mismatch")
        raise SpecError(errs)
    if settings.rescale is not None or settings.augment:
        key = "rescale" if settings.rescale is not None else "augment"
        err(f"training.{key} transforms images; the input '{inp.id}' is token ids", _training_loc(spec, key),
            f"drop {key}", code="schema")
    # every id of the data must have a row in each table that reads the input, and a score at the output
    for node in g:
        limit = REGISTRY[node.op].token_ids(node.attrs) if node.op in REGISTRY else None
        if limit is not None and node.inputs[:1] == (inp.id,) and ds.vocab_size > limit:
            err(f"the data holds token ids up to {ds.vocab_size - 1}, but '{node.id}' has rows for {limit} "
                f"(ids 0…{limit - 1})", node.loc, f"set its vocabulary to at least {ds.vocab_size}" +
                (" (or use tokenizer: chars for a smaller vocabulary)" if ds.tokenizer is not None and
                 ds.tokenizer.kind == "bytes" and ds.vocab_size > 256 else ""), code="token-range")
    act = REGISTRY[out.op].activation_of(out.attrs) if out.op in REGISTRY else None
    if objective == "next_token":
        units = oshape[1]
        if ds.vocab_size > units:
            err(f"the data holds token ids up to {ds.vocab_size - 1}, but the output '{out.id}' scores {units} ids",
                out.loc, f"give the output {ds.vocab_size} units (the vocabulary)", code="token-range")
        loss = settings.loss or "sparse_categorical_crossentropy"
        if loss == "binary_crossentropy":
            err("binary_crossentropy does not score one token out of a vocabulary", _where(spec, ("loss",)) or out.loc,
                "drop loss: a language model uses sparse_categorical_crossentropy")
        if act not in (None, "softmax"):
            err(f"the output '{out.id}' ends with {act}; a language model's output is a softmax or logits", out.loc,
                "use no activation (logits) or softmax")
        if settings.class_weight is not None:
            err("training.class_weight weighs classes of a classifier; a language model has none",
                _training_loc(spec, "class_weight"), "drop class_weight", code="schema")
        weights = None
    else:
        head = _output(spec, settings, ds, out, err)
        if head is None:
            raise SpecError(errs)
        loss, act, units = head
        weights = _class_weights(spec, settings, ds, err)
    settings.objective, settings.sequence_length, settings.vocab_size = objective, length, ds.vocab_size
    settings.text_digest = getattr(ds, "digest", None)
    _metric_names(spec, settings, ds, err)
    _validation_steps(spec, settings, ds, warns)
    if errs:
        raise SpecError(errs)
    loss, labels, smoothing = _smoothed(loss, settings)
    return Plan((length,), loss, act is None, labels, units, False, False, 0, warns, weights, smoothing,
                objective, mask_input, tokens=True)


def _input(spec, settings, ds, inp, err) -> tuple[bool, bool, int]:
    """The input against the data's samples: (resize, flatten, channels)."""
    ishape = tuple(inp.shape)
    resize = flatten = False
    channels = ishape[-1] if len(ishape) == 3 else 1
    if len(ishape) not in (1, 3):
        err(f"the input '{inp.id}' has shape {ishape}; training reads images as (height, width, channels) "
            "or flattened vectors (n,)", inp.loc, code="train-unsupported")
    elif ds.sample_shape is not None:
        h, w, c = ds.sample_shape
        size = f"{h}×{w}×{c}"
        if len(ishape) == 1:
            flatten = True
            if h * w * c != ishape[0]:
                err(f"the input '{inp.id}' is a vector of {ishape[0]} values but the data's images are {size} "
                    f"= {h * w * c} values", inp.loc, f"declare the input as [{h}, {w}, {c}] or [{h * w * c}]")
        else:
            H, W, C = ishape
            if c != C:
                same = (h, w) == (H, W) or settings.resize
                err(f"the input '{inp.id}' is {H}×{W}×{C} but the data's images are {size}", inp.loc,
                    f"declare the input as [{H if same else h}, {W if same else w}, {c}]" +
                    ("" if same else f" (or [{H}, {W}, {c}] with `resize: true` in the training section)"))
            elif (h, w) != (H, W):
                if settings.resize:
                    resize = True
                else:
                    err(f"the input '{inp.id}' is {H}×{W}×{C} but the data's images are {size}", inp.loc,
                        f"add `resize: true` to the training section to resize every image to {H}×{W}, or declare "
                        f"the input as [{h}, {w}, {C}]")
    else:  # image files: decoded at the input's size and channel count
        ts = ds_opt(settings, "target_size")
        if len(ishape) == 3 and ts and tuple(ts) != ishape[:2]:
            err(f"training.data.target_size is {ts[0]}×{ts[1]} but the input '{inp.id}' is {ishape[0]}×{ishape[1]}",
                _training_loc(spec, "data", "target_size"), f"set target_size: [{ishape[0]}, {ishape[1]}] or drop it "
                "(images are resized to the input's size)")
        cm = ds_opt(settings, "color_mode")
        want = {"grayscale": 1, "rgb": 3, "rgba": 4}.get(cm)
        if want and len(ishape) == 3 and want != channels:
            err(f"training.data.color_mode is {cm} ({want} channel{'s' * (want != 1)}) but the input '{inp.id}' has "
                f"{channels}", _training_loc(spec, "data", "color_mode"), "drop color_mode: images are decoded with "
                "the input's channel count")
        if len(ishape) == 1:
            err(f"the input '{inp.id}' is a flat vector; image folders need an input (height, width, channels)",
                inp.loc, code="train-unsupported")
    return resize, flatten, channels


def _output(spec, settings, ds, out, err) -> tuple[str, str | None, int] | None:
    """The output, the classes and the loss: (loss, output activation, units); None when the output is not
    a vector of class scores (nothing else can be said)."""
    from ..ops import REGISTRY

    oshape = tuple(out.shape or ())
    k = ds.num_classes
    act = REGISTRY[out.op].activation_of(out.attrs) if out.op in REGISTRY else None
    units = oshape[-1] if len(oshape) == 1 else 0
    if len(oshape) != 1:
        err(f"the output '{out.id}' has shape {oshape}; training fits classifiers whose output is a vector of "
            "class scores", out.loc, "end the model with global pooling or flatten and a dense layer",
            code="train-unsupported")
        return None
    cm = ds_opt(settings, "class_mode")
    loss = settings.loss
    loss_loc = _where(spec, ("loss",))
    if loss is None and cm:
        loss = CLASS_MODE_LOSS[cm]
    elif loss and cm and CLASS_MODE_LOSS[cm] != loss:
        err(f"training.data.class_mode is {cm} but the loss is {loss}", _training_loc(spec, "data", "class_mode"),
            f"use class_mode: {next(m for m, v in CLASS_MODE_LOSS.items() if v == loss)} (or drop it)")
    if loss is None:
        loss = "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"
    names = ", ".join(ds.class_names[:6]) + ("…" if k > 6 else "")
    if units == 1:
        if act == "softmax":
            err(f"the output '{out.id}' is a softmax over a single unit, which is always 1.0", out.loc,
                "use activation: sigmoid for a binary classifier (or units: "
                f"{k} with softmax)")
        if loss != "binary_crossentropy":
            err(f"the loss {loss} needs one output unit per class, but '{out.id}' has 1 unit",
                loss_loc or out.loc, "a single unit is a binary classifier: use loss: binary_crossentropy with "
                "activation: sigmoid")
        elif k != 2:
            err(f"the output '{out.id}' has 1 unit (a binary classifier) but the data has {k} classes ({names})",
                out.loc, f"use units: {k} with activation: softmax and loss: sparse_categorical_crossentropy")
    else:
        if loss == "binary_crossentropy":
            err(f"binary_crossentropy treats each of the {units} output units as its own yes/no label, but the "
                f"labels are one class out of {k}", loss_loc or out.loc,
                "use loss: sparse_categorical_crossentropy (integer labels) with a softmax output")
        elif units != k:
            err(f"the output '{out.id}' has {units} units but the data has {k} classes ({names})", out.loc,
                f"set units: {k}" + ("" if units > k else f"; labels {units}…{k - 1} would have no output unit"))
        if act == "sigmoid" and loss != "binary_crossentropy":
            err(f"the output '{out.id}' uses sigmoid, but {loss} expects a softmax over the {units} classes",
                out.loc, "use activation: softmax (or no activation, for logits)")
    if act not in (None, "softmax", "sigmoid"):
        err(f"the output '{out.id}' ends with {act}; a classifier's output must be a softmax, a sigmoid or "
            "logits (no activation)", out.loc, "use activation: softmax (sigmoid for one unit)")
    return loss, act, units


def _metric_names(spec, settings, ds, err) -> None:
    """Settings that name metrics (early stopping's and a plateau schedule's monitor, targets) name logged ones."""
    has_val = ds.validation is not None and len(ds.validation) > 0
    logged = ["loss", *settings.metrics] + (["perplexity"] if settings.objective == "next_token" else [])
    known = logged + (["val_" + m for m in logged] if has_val else [])
    for key, path in (((settings.early_stopping or {}).get("monitor"), ("early_stopping", "monitor")),
                      ((settings.lr_schedule or {}).get("monitor") if (settings.lr_schedule or {}).get("type") ==
                       "plateau" else None, ("lr_schedule", "monitor"))):
        if key and key not in known:
            why = " (there is no validation data: set validation_split)" if key.startswith("val_") and not has_val else ""
            from ..errors import did_you_mean

            err(f"training.{'.'.join(path)} is '{key}', which training does not log{why}",
                _training_loc(spec, *path), did_you_mean(key, known) or f"logged: {', '.join(known)}",
                code="schema")
    for key in settings.target:
        if key.removeprefix("test_") not in logged or not key.startswith("test_"):
            err(f"training.target names '{key}'; targets are test metrics: "
                f"{', '.join('test_' + m for m in logged)}", _training_loc(spec, "target", key), code="schema")


def _scaling(spec, settings, ds, inp, err, warns) -> None:
    """Pixel values the network will see, and augmentation of a non-image input."""
    from ..ops import REGISTRY

    ishape = tuple(inp.shape)
    if settings.rescale is None and ds.max_value > 1.5 and not any(REGISTRY[n.op].scales_input for n in spec.graph):
        warns.append(Diagnostic("unscaled-input", f"the network will see raw pixel values 0–{ds.max_value:g}",
                                _training_loc(spec), None,
                                f"add `rescale: 1/{ds.max_value:g}` to the training section (or a rescaling layer)",
                                severity="warning"))
    elif settings.rescale is not None and ds.sample_shape is not None and ds.max_value > 0 and \
            not 0.2 <= settings.rescale * ds.max_value <= 5:
        top = settings.rescale * ds.max_value
        warns.append(Diagnostic("unscaled-input", f"rescale {settings.rescale:.4g} maps this data's pixels "
                                f"0–{ds.max_value:g} to 0–{top:.3g}", _training_loc(spec, "rescale"), None,
                                f"use `rescale: 1/{ds.max_value:g}` for this data (e.g. --set training.rescale="
                                f"1/{ds.max_value:g})", severity="warning"))
    if settings.augment and len(ishape) != 3:
        err(f"training.augment transforms images, but the input '{inp.id}' is a flat vector {ishape}",
            _training_loc(spec, "augment"), "drop augment, or declare the input as (height, width, channels)",
            code="schema")


def _class_weights(spec, settings, ds, err) -> dict | None:
    """`class_weight` as Keras wants it: {class index: weight}. Keys are class names or indices;
    classes not named weigh 1. `balanced` weighs each class n / (k · count), as scikit-learn does."""
    cw = settings.class_weight
    if cw is None:
        return None
    y = ds.train.y
    k = ds.num_classes
    if cw == "balanced":
        counts = np.bincount(y, minlength=k)
        return {i: float(len(y) / (k * c)) if c else 1.0 for i, c in enumerate(counts)}
    names = {n: i for i, n in enumerate(ds.class_names)}
    out = {i: 1.0 for i in range(k)}
    for key, w in cw.items():
        i = names.get(str(key))
        if i is None and str(key).isdigit() and int(key) < k:
            i = int(key)
        if i is None:
            from ..errors import did_you_mean

            err(f"training.class_weight names '{key}', which is not a class of the data",
                _training_loc(spec, "class_weight", key),
                did_you_mean(str(key), list(names)) or f"classes: {', '.join(ds.class_names[:10])}"
                + ("…" if k > 10 else ""), code="schema")
            continue
        out[i] = float(w)
    return out


def _validation_steps(spec, settings, ds, warns) -> None:
    """More validation steps than the validation data has batches would validate on repeats: clamp."""
    steps, val = settings.validation_steps, ds.validation
    if not steps or val is None or not len(val):
        return
    have = -(-len(val) // settings.batch_size)
    if steps > have:
        warns.append(Diagnostic(
            "validation-steps", f"validation_steps is {steps} but the {len(val):,} validation images make "
            f"{have} batch{'es' * (have != 1)} of {settings.batch_size}; validating on each image once "
            f"({have} step{'s' * (have != 1)})", _training_loc(spec, "validation_steps"),
            hint=f"drop validation_steps, or set it to {have} or less", severity="warning"))
        settings.validation_steps = have


def ds_opt(settings, key):
    return (settings.data.options or {}).get(key)


__all__ = ["Plan", "plan"]


def _smoothed(loss: str, settings) -> tuple[str, str, float]:
    """(loss, label form, label smoothing): Keras's sparse cross-entropy has no label smoothing, so with
    smoothing the same loss is taken on one-hot labels."""
    smoothing = settings.label_smoothing or 0.0
    if smoothing and loss == "sparse_categorical_crossentropy":
        return "categorical_crossentropy", "onehot", smoothing
    return loss, LOSS_LABELS[loss], smoothing
