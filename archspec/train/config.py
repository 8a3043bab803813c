"""The `training:` section of a spec (its model: :mod:`archspec.lang.training`), validated, merged with
command-line flags into `Settings`.

Precedence: a command-line flag beats the spec's `training:` entry, which beats the default there.
Every mistake becomes a located :class:`~archspec.errors.Diagnostic` (unknown keys get a
did-you-mean), all of them reported together. No Keras import: this runs before training starts.

>>> from archspec import load_text
>>> spec = load_text('''
... archspec: 1
... name: t
... inputs: {x: [8, 8, 1]}
... model: [flatten: {}, dense: {units: 10, activation: softmax}]
... training: {optimizer: adam, epochs: 3, early_stopping: {patience: 2}}
... ''')
>>> s = resolve(spec, {"batch_size": 16})
>>> (s.optimizer, s.epochs, s.batch_size, s.early_stopping["patience"], s.data.source)
('adam', 3, 16, 2, 'auto')
>>> resolve(load_text(spec.source.text.replace("epochs: 3", "epoch: 3")), {})
Traceback (most recent call last):
...
archspec.errors.SpecError: <spec>:6:29: error: unknown field 'epoch' in the training section  [unknown-field]
  hint: did you mean 'epochs'?
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from ..errors import Diagnostic, SpecError
from ..lang.training import (  # noqa: F401  (OPTIMIZERS ... SOURCE_ALIASES: re-exported, see __all__)
    DISTRIBUTE,
    LOSSES,
    OPTIMIZERS,
    PRECISIONS,
    SOURCE_ALIASES,
    AugmentDef,
    DataDef,
    EarlyStoppingDef,
    OptimizerDef,
    ScheduleDef,
    TrainingDef,
    _check,
    _unknown,
)
from .corpus import TEXT_SUFFIXES
from .errors import RunError  # noqa: F401  (re-exported: where the CLI and the run code catch it)


@dataclass
class DataSettings:
    source: str = "auto"            # canonical kind: auto | digits | npz | cifar10 | folder | synthetic | text
    path: str | None = None
    options: dict = field(default_factory=dict)   # the rest of DataDef


@dataclass
class Settings:
    """Everything a run needs, resolved; saved as settings.json in the run folder."""

    data: DataSettings
    optimizer: str = "adam"
    optimizer_options: dict = field(default_factory=dict)
    learning_rate: float | None = None
    lr_schedule: dict | None = None
    loss: str | None = None              # None: chosen from the output layer when the data is known
    metrics: list = field(default_factory=lambda: ["accuracy"])
    epochs: int = 10
    batch_size: int = 32
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    validation_split: float | None = None
    early_stopping: dict | None = None
    rescale: float | None = None
    resize: bool = False
    augment: dict | None = None
    precision: str = "float32"
    jit_compile: bool | None = None      # None: Keras's "auto"
    seed: int | None = None
    distribute: str = "none"
    target: dict = field(default_factory=dict)
    save: str | None = None
    overrides: dict = field(default_factory=dict)   # the spec's --set parameters
    class_weight: str | dict | None = None          # "balanced", or class name/index -> weight
    label_smoothing: float | None = None
    # what the run trains, settled from the spec and the data before training (train/planning.py):
    # "next_token" (language modelling) or "classify" (images, token sequences); None in runs from before
    objective: str | None = None
    sequence_length: int | None = None             # token runs: the input's length
    vocab_size: int | None = None                  # token runs: ids the data may hold (the tokenizer's, or max+1)
    text_digest: str | None = None                 # text runs: hash of the token ids the splits were dealt from

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Settings":
        d = dict(d)
        d["data"] = DataSettings(**d["data"])
        return cls(**d)

    def fingerprint(self, spec_texts: dict[str, str]) -> str:
        """What a checkpoint must agree with to be resumed: the spec text and every setting that
        shapes the model, the data or the optimizer state. More epochs, another XLA or distribution
        choice may change between a run and its resumption; the seed is kept in the checkpoint."""
        blob = json.dumps({"settings": self._binding(), "spec": spec_texts}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    FREE = ("epochs", "jit_compile", "distribute", "target", "save", "seed")   # may change on resumption
    NEWER = ("class_weight", "label_smoothing")     # left out while unset: older checkpoints stay valid
    DERIVED = ("objective", "sequence_length", "vocab_size", "text_digest")   # follow from the spec and the data

    def _binding(self) -> dict:
        d = self.to_json()
        for k in self.FREE + self.DERIVED:
            d.pop(k)
        for k in self.NEWER:
            if d.get(k) is None:
                d.pop(k, None)
        return d

    def differences(self, old: dict, spec_texts: dict[str, str], old_texts: dict[str, str]) -> list[str]:
        """What differs from a run's recorded settings (settings.json) and spec files, in words:
        `batch_size 32 → 64`, `data.source digits → npz`, `spec digits_cnn.yaml line 30`."""
        old = {k: v for k, v in old.items() if k not in self.FREE + self.DERIVED}
        new = json.loads(json.dumps(self._binding(), default=str))
        out = []

        def walk(a, b, path):
            if isinstance(a, dict) and isinstance(b, dict):
                for k in list(dict.fromkeys([*a, *b])):
                    walk(a.get(k), b.get(k), path + (k,))
            elif a != b and not (path[:1] == ("overrides",) and str(path[-1]).startswith("training.")):
                out.append(f"{'.'.join(path)} {_short(a)} → {_short(b)}")   # (--set training.* shows as itself)

        walk({k: v for k, v in old.items() if k in new or v is not None}, new, ())
        for name, text in spec_texts.items():
            before = old_texts.get(name)
            if before is None:
                out.append(f"spec file {name} is new")
            elif before != text:
                a, b = before.splitlines(), text.splitlines()
                line = next((i for i, (x, y) in enumerate(zip(a, b), 1) if x != y), min(len(a), len(b)) + 1)
                out.append(f"spec {name} from line {line}")
        return out


def _short(v) -> str:
    text = "unset" if v is None else json.dumps(v) if not isinstance(v, str) else v
    return text if len(text) <= 40 else text[:37] + "…"


def parse_data_arg(text: str) -> tuple[str, str | None]:
    """`--data` syntax: `KIND`, `KIND:PATH`, or a bare path (kind from the file).

    >>> parse_data_arg("npz:data/mnist.npz"), parse_data_arg("digits"), parse_data_arg("x/mnist.npz")
    (('npz', 'data/mnist.npz'), ('digits', None), ('npz', 'x/mnist.npz'))
    >>> parse_data_arg("synthetic:500"), parse_data_arg("notes/shakespeare.txt")
    (('synthetic', '500'), ('text', 'notes/shakespeare.txt'))
    """
    kind, sep, rest = text.partition(":")
    if sep and kind in SOURCE_ALIASES and len(kind) > 1:       # (a one-letter kind is a Windows drive)
        return SOURCE_ALIASES[kind], rest or None
    if text in SOURCE_ALIASES:
        return SOURCE_ALIASES[text], None
    from pathlib import Path

    p = Path(text).expanduser()
    if p.suffix == ".npz":
        return "npz", text
    if p.suffix.lower() in TEXT_SUFFIXES:
        return "text", text
    if (p / "data_batch_1").exists() or p.name == "cifar-10-batches-py":
        return "cifar10", text
    if p.is_dir():
        return "folder", text
    raise ValueError(f"cannot tell what kind of data '{text}' is; write KIND:PATH with KIND one of "
                     f"{', '.join(sorted(set(SOURCE_ALIASES.values())))} (e.g. npz:{text})")


def resolve(spec, flags: dict | None = None) -> Settings:
    """Validate `spec`'s training section and merge `flags` (None values are ignored) over it.

    `flags` keys are Settings field names, plus `data` as the `--data` text."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    src = spec.source
    raw = spec.training
    base = ("training",)
    diags: list[Diagnostic] = []
    t = _check(TrainingDef, raw, src, base, "the training section", diags)
    # nested sections, each against its own keys (checked even when the top level has mistakes)
    get = (lambda k: getattr(t, k)) if t is not None else (lambda k: raw.get(k))
    data, opt_name, opt_opts, es, sched, aug = None, get("optimizer"), {}, None, None, None
    data_raw = get("data")
    if isinstance(data_raw, str) and ":" in data_raw and data_raw.partition(":")[0] in SOURCE_ALIASES:
        kind, _, rest = data_raw.partition(":")          # `data: npz:mnist.npz`, as --data takes it
        data_raw = {"source": kind, "path": rest or None}
    data_raw = {"source": data_raw} if isinstance(data_raw, str) else data_raw if isinstance(data_raw, dict) else {}
    data = _check(DataDef, data_raw, src, base + ("data",), "training.data", diags)
    if data is not None and data.source not in SOURCE_ALIASES:
        path = base + (("data", "source") if isinstance(get("data"), dict) else ("data",))
        diags.append(_unknown("data source", data.source, sorted(SOURCE_ALIASES), src.loc(path)))
    if isinstance(opt_name, dict):
        o = _check(OptimizerDef, opt_name, src, base + ("optimizer",), "training.optimizer", diags)
        opt_name, opt_opts = (o.name, dict(o.model_extra or {})) if o else (None, {})
    elif isinstance(opt_name, str) and opt_name not in OPTIMIZERS:
        diags.append(_unknown("optimizer", opt_name, OPTIMIZERS, src.loc(base + ("optimizer",))))
    if isinstance(get("early_stopping"), dict):
        e = _check(EarlyStoppingDef, get("early_stopping"), src, base + ("early_stopping",),
                   "training.early_stopping", diags)
        es = e.model_dump() if e else None
    elif get("early_stopping") is True:
        es = EarlyStoppingDef().model_dump()
    if isinstance(get("lr_schedule"), dict):
        sch = _check(ScheduleDef, get("lr_schedule"), src, base + ("lr_schedule",), "training.lr_schedule", diags)
        sched = sch.model_dump(include={"type", *get("lr_schedule")}) if sch else None
    if isinstance(get("augment"), dict):
        a = _check(AugmentDef, get("augment"), src, base + ("augment",), "training.augment", diags)
        aug = (a.model_dump(exclude_defaults=True) or None) if a else None
    if diags:
        raise SpecError(diags)

    ds = DataSettings(SOURCE_ALIASES[data.source], data.path,
                      data.model_dump(exclude={"source", "path"}))
    if "data" in flags:
        ds.source, ds.path = parse_data_arg(flags.pop("data"))

    s = Settings(
        data=ds, optimizer=opt_name, optimizer_options=opt_opts, learning_rate=t.learning_rate,
        lr_schedule=sched, loss=t.loss, metrics=list(t.metrics), epochs=t.epochs, batch_size=t.batch_size,
        steps_per_epoch=t.steps_per_epoch, validation_steps=t.validation_steps, validation_split=t.validation_split,
        early_stopping=es, rescale=t.rescale, resize=t.resize, augment=aug, precision=t.precision,
        jit_compile=t.jit_compile, seed=t.seed, distribute=t.distribute, target=dict(t.target), save=t.save,
        objective=t.objective,
        class_weight=({str(k): v for k, v in t.class_weight.items()} if isinstance(t.class_weight, dict)
                      else t.class_weight), label_smoothing=t.label_smoothing or None,
        overrides=dict(getattr(spec, "overrides", {}) or {}),
    )
    for k, v in flags.items():
        if not hasattr(s, k):
            raise TypeError(f"unknown setting {k!r}")
        setattr(s, k, v)
    check_save(spec, s)
    return s


def check_save(spec, settings) -> None:
    """`save:` names a format the Keras backend of this run can write, with its packages installed
    (checked before training, without importing Keras; again once `--backend` has chosen the backend)."""
    if not settings.save:
        return
    from .export import ExportError, check_supported, format_of

    try:
        check_supported(format_of(settings.save))
    except ExportError as exc:
        raise SpecError([Diagnostic("export-unsupported", f"save: {exc}",
                                    spec.source.loc(("training", "save")))]) from None


__all__ = ["Settings", "DataSettings", "resolve", "parse_data_arg", "OPTIMIZERS", "LOSSES", "PRECISIONS",
           "DISTRIBUTE", "SOURCE_ALIASES"]
