"""The `training:` section of a spec: its document model (declared with :mod:`archspec.fast.pydantic_lite`,
like the rest of the spec's document) and `--set training.KEY=VALUE`, merged into the section with positions that point at the
command line. This is the language's part; :mod:`archspec.train.config` merges the validated section
with command-line flags into a run's `Settings`.

Nested sections (`data`, `early_stopping`, `lr_schedule`, `augment`, `optimizer` as a mapping) are
validated each against their own model, so a misspelled key inside one is matched against that
section's own keys.

>>> TrainingDef.model_validate({"optimizer": "sgd", "epochs": 3, "rescale": "1/255"}).rescale
0.00392156862745098
"""
from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from ..errors import Diagnostic, SpecError, did_you_mean
from ..fast.pydantic_lite import BeforeValidator, Field, Invalid, Model

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "ftrl", "lion", "lamb")
LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTE = ("none", "mirrored", "multi-worker")
SCHEDULES = ("constant", "cosine", "exponential", "step", "plateau")
# data sources: the name a spec or --data uses -> the canonical kind
SOURCE_ALIASES = {
    "digits": "digits", "load_digits": "digits", "sklearn.datasets.load_digits": "digits",
    "npz": "npz", "mnist": "npz", "cifar10": "cifar10", "cifar-10": "cifar10",
    "folder": "folder", "directory": "folder", "synthetic": "synthetic", "auto": "auto",
    "text": "text", "txt": "text",
}
OBJECTIVES = ("next_token", "classify")
TOKENIZERS = ("bytes", "chars")

Pos = Annotated[float, Field(gt=0)]
Frac = Annotated[float, Field(gt=0, lt=1)]


class _Model(Model, frozen=False):
    """A section's model: unknown keys are refused (extra="forbid", the default)."""


def _fraction(v):
    """`rescale: 1/255` is a string in YAML; accept 'a/b' as well as a number."""
    if isinstance(v, str) and v.count("/") == 1:
        a, b = v.split("/")
        try:
            return float(a) / float(b)
        except (ValueError, ZeroDivisionError):
            return v
    return v


class DataDef(_Model):
    source: str = "auto"                  # auto: chosen by the input shape (see data.auto_source)
    path: str | None = None
    test_size: Frac = 0.2                 # digits and flat image folders: the held-out test fraction
    stratify: bool = True
    random_state: int = 0                 # fixes the train/validation/test split, not the training seed
    train: str | None = None              # image folders: sub-folder names
    validation: str | None = None
    test: str | None = None
    target_size: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=2, max_length=2)
    class_mode: Literal["int", "sparse", "categorical", "binary"] | None = None
    color_mode: Literal["grayscale", "rgb", "rgba"] | None = None
    samples: Annotated[int, Field(ge=1)] = 2048   # synthetic: training images
    interpolation: Literal["bilinear", "nearest", "bicubic", "area"] = "bilinear"
    tokenizer: Literal[TOKENIZERS] = "bytes"  # type: ignore[valid-type]  # text: bytes (256 ids) or its characters



class OptimizerDef(_Model, extra="allow"):
    """`optimizer: {name: sgd, momentum: 0.9}`: other keys are the Keras optimizer's own arguments,
    checked against its signature when Keras is loaded."""

    name: Literal[OPTIMIZERS]  # type: ignore[valid-type]


class EarlyStoppingDef(_Model):
    monitor: str = "val_loss"
    patience: Annotated[int, Field(ge=0)] = 5
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = False
    start_from_epoch: Annotated[int, Field(ge=0)] = 0


class ScheduleDef(_Model):
    type: Literal[SCHEDULES]  # type: ignore[valid-type]
    warmup_epochs: Annotated[float, Field(ge=0)] = 0.0     # cosine: linear warm-up from 0
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.0        # cosine: final rate as a fraction of the initial
    decay_rate: Frac = 0.5                                  # exponential: factor per `every` epochs
    every: Pos = 1.0
    boundaries: list[Annotated[int, Field(ge=1)]] = []      # step: epochs where the rate is multiplied by factor
    factor: Frac = 0.1                                      # step and plateau
    patience: Annotated[int, Field(ge=0)] = 3               # plateau
    monitor: str = "val_loss"                               # plateau
    min_lr: Annotated[float, Field(ge=0)] = 0.0             # plateau


class AugmentDef(_Model):
    """Random transforms applied to training images only (Keras preprocessing layers in the input pipeline)."""

    flip: Literal["horizontal", "vertical", "horizontal_and_vertical"] | None = None
    rotation: Annotated[float, Field(ge=0, le=1)] = 0.0      # fraction of a full turn
    zoom: Annotated[float, Field(ge=0, lt=1)] = 0.0
    translation: Annotated[float, Field(ge=0, lt=1)] = 0.0
    contrast: Annotated[float, Field(ge=0, lt=1)] = 0.0


class TrainingDef(_Model):
    data: str | dict[str, Any] | None = None
    objective: Literal[OBJECTIVES] | None = None  # type: ignore[valid-type]  # None: from the spec's shapes
    optimizer: str | dict[str, Any] = "adam"
    learning_rate: Pos | None = None
    lr_schedule: dict[str, Any] | None = None
    loss: Literal[LOSSES] | None = None  # type: ignore[valid-type]
    metrics: list[str] = ["accuracy"]
    epochs: Annotated[int, Field(ge=1)] = 10
    batch_size: Annotated[int, Field(ge=1)] = 32
    steps_per_epoch: Annotated[int, Field(ge=1)] | None = None
    validation_steps: Annotated[int, Field(ge=1)] | None = None
    validation_split: Annotated[float, Field(ge=0, lt=1)] | None = None
    early_stopping: dict[str, Any] | bool | None = None
    rescale: Annotated[float | None, BeforeValidator(_fraction)] = None
    resize: bool = False
    augment: dict[str, Any] | None = None
    precision: Literal[PRECISIONS] = "float32"  # type: ignore[valid-type]
    jit_compile: bool | None = None
    seed: int | None = None
    distribute: Literal[DISTRIBUTE] = "none"  # type: ignore[valid-type]
    target: dict[str, float] = {}
    save: str | None = None
    class_weight: Literal["balanced"] | dict[str | int, Annotated[float, Field(ge=0)]] | None = None
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] | None = None


# ---- --set training.KEY=VALUE --------------------------------------------------------------------
# a section that a spec may write as one word, and the key that word stands for
SECTION_WORD = {"data": "source", "optimizer": "name", "lr_schedule": "type"}


def set_text(name: str, value) -> str:
    """How a --set item reads on the command line (for diagnostics and the repeat command)."""
    if isinstance(value, str):
        return f"--set {name}={value}"
    return f"--set {name}={json.dumps(value)}"


def apply_training_sets(src, sets: dict) -> None:
    """Merge `--set training.a.b=VALUE` items into the spec's `training:` section, in place. Positions
    under each set key are replaced by the command-line item, so every later diagnostic about it —
    the same checks as for the spec's own keys — points at `--set training.a.b=VALUE`.

    >>> from archspec.lang.source import parse
    >>> src = parse("archspec: 1\\ntraining: {optimizer: adam, epochs: 3}\\n", "s.yaml", None)
    >>> apply_training_sets(src, {"training.optimizer.momentum": 0.9, "training.epochs": 5})
    >>> src.data["training"], str(src.loc(("training", "epochs")))
    ({'optimizer': {'name': 'adam', 'momentum': 0.9}, 'epochs': 5}, '--set training.epochs=5')
    """
    from ..errors import Loc

    diags = []
    data = src.data if isinstance(src.data, dict) else {}
    training = data.get("training")
    if training is None:
        training = data["training"] = {}
    for name, value in sets.items():
        loc = Loc(set_text(name, value))
        path = tuple(name.split("."))[1:]
        if not path or not all(path):
            diags.append(Diagnostic("unknown-param", f"--set {name}: name a key of the training section",
                                    loc, hint="e.g. --set training.optimizer=sgd, --set training.early_stopping."
                                              "patience=3"))
            continue
        if not isinstance(training, dict):
            diags.append(Diagnostic("schema", f"--set {name}: the spec's training section is not a mapping",
                                    src.loc(("training",))))
            break
        node = training
        for i, key in enumerate(path[:-1]):
            cur = node.get(key)
            if isinstance(cur, dict):
                node = cur
                continue
            if cur is None or cur is True or cur is False:
                new = {}
            elif isinstance(cur, str) and i == 0 and key in SECTION_WORD:
                new = {SECTION_WORD[key]: cur}
            else:
                diags.append(Diagnostic("schema", f"--set {name}: training.{'.'.join(path[:i + 1])} is "
                                        f"{cur!r}, not a section with keys", loc,
                                        hint=f"set it whole: --set training.{'.'.join(path[:i + 1])}=VALUE"))
                node = None
                break
            node[key] = new
            node = new
        if node is None:
            continue
        node[path[-1]] = value
        full = ("training",) + path
        for table in (src.values, src.keys):
            for p in [p for p in table if tuple(p[:len(full)]) == full]:
                del table[p]
            table[full] = loc
    if diags:
        raise SpecError(diags)


# ---- validation ---------------------------------------------------------------------------------
def _check(model, data, src, base, what, diags):
    from .document import pydantic_diagnostics

    try:
        return model.model_validate(data)
    except Invalid as exc:
        diags.extend(pydantic_diagnostics(exc, data, src, base, fields=model.model_fields, what=what))
        return None


def _unknown(what, value, choices, loc) -> Diagnostic:
    hint = did_you_mean(value, choices) or f"{what}s: {', '.join(choices)}"
    return Diagnostic("schema", f"unknown {what} '{value}'", loc, hint=hint)
