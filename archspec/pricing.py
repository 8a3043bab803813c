"""Pricing: a spec's shapes and costs under many parameter values, in process, cheaply.

A :class:`Pricer` reads and validates a spec once — the parsed YAML with its positions, the document
model, the block definitions and included files, the top-level defaults — and keeps the expansion's
block-call memo (lang/memo.py) between calls. :meth:`Pricer.price` then binds new values to the
top-level ``params:`` (as ``--set`` does), expands, infers and counts; blocks called with arguments and
input shapes seen before are replayed rather than expanded again. It never raises for a mistake in
the spec: a :class:`Price` carries the diagnostics instead, so a search can reject the candidate.

>>> import archspec
>>> pricer = archspec.Pricer("specs/resnet50.yaml")
>>> p = pricer.price({"stages": [3, 4, 6, 3]})
>>> p.ok, p.params, p.macs, p.outputs
(True, 25636712, 3857973248, {'predictions': (1000,)})
>>> p = pricer.price({"stages": [3, 4, 23, 3]})          # ResNet-101
>>> p.params, p.layers
(44707176, 346)
>>> p.within(params=30_000_000)
False
>>> bad = pricer.price({"stages": [3, 4]})
>>> bad.ok, bad.params
(False, None)
>>> print(bad.diagnostics[0].message)
index 2 is out of range for the list [3, 4]
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Diagnostic, SpecError
from .lang.source import DEFAULT_LIMITS, Limits, Source, parse, read_text

_BUDGETS = ("params", "trainable", "macs", "flops", "peak_bytes", "param_bytes", "layers")


@dataclass
class Price:
    """The figures of one candidate (None when it has errors), its diagnostics, and the expanded spec."""

    overrides: dict
    diagnostics: list[Diagnostic]
    params: int | None = None
    trainable: int | None = None
    non_trainable: int | None = None
    macs: int | None = None
    flops: int | None = None
    layers: int | None = None
    peak_bytes: int | None = None         # peak activation memory, inference, at batch_size and dtype
    param_bytes: int | None = None
    outputs: dict = field(default_factory=dict)    # output name -> shape (without the batch axis)
    batch_size: int = 1
    dtype: str = "float32"
    pricer: object = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def spec(self):
        """The full :class:`~archspec.Spec` of this candidate (graph, report, draw), expanded on first
        use — pricing itself keeps only what the figures need. None when the candidate has errors."""
        if not self.ok or self.pricer is None:
            return None
        if "_spec" not in self.__dict__:
            self.__dict__["_spec"] = self.pricer.spec(self.overrides)
        return self.__dict__["_spec"]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Design warnings (computed on first use: pricing alone does not need them)."""
        return self.spec.warnings if self.ok else []

    def within(self, **budget: int) -> bool:
        """True if the candidate is valid and every named figure is at most its budget:
        ``p.within(params=5_000_000, macs=600_000_000)``."""
        for name in budget:
            if name not in _BUDGETS:
                raise TypeError(f"unknown budget '{name}'; budgets: {', '.join(_BUDGETS)}")
        return self.ok and all(getattr(self, k) <= v for k, v in budget.items())

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in ("params", "trainable", "non_trainable", "macs", "flops", "layers",
                                             "peak_bytes", "param_bytes", "batch_size", "dtype")}
        out["ok"] = self.ok
        out["overrides"] = self.overrides
        out["outputs"] = {k: list(v) for k, v in self.outputs.items()}
        out["diagnostics"] = [d.to_json() for d in self.diagnostics]
        return out


class Pricer:
    """Price one spec under many parameter values. `spec` is a path (str or os.PathLike), spec text
    (a str with a newline), an already parsed :class:`~archspec.lang.source.Source`, or a loaded
    :class:`~archspec.Spec`. Raises SpecError if the file cannot be read or its document is malformed
    whatever the parameters; everything else is reported per candidate by :meth:`price`."""

    def __init__(self, spec, *, limits: Limits = DEFAULT_LIMITS, root: str | os.PathLike | None = None,
                 name: str = "<spec>", fmt: str | None = None):
        from .api import Spec

        if isinstance(spec, Spec):
            src = spec.source
        elif isinstance(spec, Source):
            src = spec
        elif isinstance(spec, str) and "\n" in spec:
            src = parse(spec, name, None, limits, fmt)
        elif isinstance(spec, (str, os.PathLike)):
            p = Path(spec)
            src = parse(read_text(p, str(spec), limits), str(spec), p, limits, fmt)
        else:
            raise TypeError(f"Pricer takes a path, spec text, a Source or a Spec; got {type(spec).__name__}")
        from .lang.expand import Expander

        self.source = src
        self.limits = limits
        self.root = Path(root) if root else None
        from .lang.memo import MemoStore

        self.memo = MemoStore()
        ex = Expander(src, limits, {}, self.root, memo=self.memo)
        self.prepared = ex.prepare()

    @property
    def params(self) -> dict:
        """The spec's top-level parameters and their declarations (what `price` may override)."""
        return dict(self.prepared.doc.params)

    def price(self, overrides: dict | None = None, *, batch_size: int = 1, dtype: str = "float32") -> Price:
        """Shapes and costs with `overrides` bound to the top-level parameters (unset ones keep their
        defaults). Never raises for a mistake in the spec: see :attr:`Price.diagnostics`."""
        from .lang.expand import Unsummarized
        from .passes.analyze import DTYPE_BYTES, totals

        if dtype not in DTYPE_BYTES:
            raise ValueError(f"unknown dtype '{dtype}'; one of {', '.join(DTYPE_BYTES)}")
        overrides = dict(overrides or {})
        try:
            graph = self._expand(overrides, summarize=True)
        except (SpecError, Unsummarized):
            # the mistake (or the path into a block call) is reported as a full expansion reports it
            try:
                graph = self._expand(overrides, summarize=False)
            except SpecError as exc:
                return Price(overrides, exc.diagnostics, batch_size=batch_size, dtype=dtype)
        a = totals(graph, batch_size, dtype)
        t = a.total
        return Price(overrides, [], t.params, t.trainable, t.non_trainable, t.macs, t.flops, t.layers,
                     a.peak_bytes, a.param_bytes,
                     {k: graph.nodes[v].shape for k, v in graph.outputs.items()}, batch_size, dtype, self)

    def spec(self, overrides: dict | None = None):
        """The full :class:`~archspec.Spec` (every layer and scope) under `overrides`; raises SpecError."""
        from .api import Spec

        overrides = dict(overrides or {})
        graph = self._expand(overrides, summarize=False)
        return Spec(self.source, graph, self.prepared.sources, overrides)

    def _expand(self, overrides: dict, summarize: bool):
        from .lang.expand import expand

        enabled = gc.isenabled()
        gc.disable()                      # expansion makes many objects that all live on; see api._no_gc
        try:
            return expand(self.source, overrides, self.limits, self.root, self.prepared, self.memo, summarize)[0]
        finally:
            if enabled:
                gc.enable()
