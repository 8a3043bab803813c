"""The Python API: load a spec, inspect it, report on it, draw it, compile and train it.

>>> import archspec
>>> spec = archspec.load("specs/mnist_cnn.yaml")            # doctest: +SKIP
>>> spec.analysis().total.params                             # doctest: +SKIP
52138
"""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import Diagnostic, SpecError
from .lang.source import DEFAULT_LIMITS, Limits, Source, parse, read_text

if TYPE_CHECKING:                 # the graph (and the ops and pydantic behind it) load with the first spec
    from .graph import Graph


class Spec:
    """A loaded, expanded and shape-checked spec."""

    def __init__(self, source: Source, graph: Graph, sources: dict[str, Source], overrides: dict):
        self.source = source
        self.graph = graph
        self.sources = sources
        self.overrides = dict(overrides)

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def title(self) -> str:
        """The name with the overrides applied, as reports, diagrams and `check` show it:
        'resnet50 with stages=[3, 4, 23, 3]'; just the name without overrides (`training.*` overrides
        do not change the network, so they do not rename it)."""
        from .overrides import titled

        return titled(self.name, self.overrides)

    @property
    def model_name(self) -> str:
        """The Keras model's name: the title in the characters TensorFlow accepts in a name scope
        ('resnet50_stages_3_4_23_3'), so two variants of one spec are told apart in summaries and files."""
        from .overrides import variant_name

        return variant_name(self.name, self.overrides)

    @property
    def space(self):
        """The spec's search space (lang/space.py): searched parameters by name; empty for a plain spec."""
        from .lang.space import SearchSpace

        return SearchSpace(getattr(self.graph, "space", {}))

    @property
    def point(self) -> dict:
        """The values the searched parameters have in this spec (defaults, or as overridden)."""
        return {k: self.overrides.get(k, d.default) for k, d in self.space.items()}

    @property
    def data(self) -> dict:
        return self.source.data

    @cached_property
    def warnings(self) -> list[Diagnostic]:
        from .errors import sorted_unique
        from .passes.lints import design_warnings

        ignored = set(self.data.get("ignore_warnings") or ())
        return [w for w in sorted_unique(design_warnings(self.graph, self.analysis(), self.source.file))
                if w.code not in ignored]

    def analysis(self, batch_size: int = 1, dtype: str = "float32"):
        from .passes.analyze import analyze

        key = (batch_size, dtype)
        cache = self.__dict__.setdefault("_analyses", {})
        if key not in cache:
            cache[key] = analyze(self.graph, batch_size, dtype)
        return cache[key]

    def training_estimate(self, batch_size: int = 32, optimizer: str = "adam", precision: str = "float32",
                          device=None):
        """Training FLOPs, kept activations and peak training memory of one step; with `device` (a name
        such as "h100" or a devices.Device) also the roofline step time and images/s. No framework is
        imported. See docs/training-estimates.md."""
        from .passes.training import estimate_training

        if isinstance(device, str):
            from .devices import get_device

            device = get_device(device)
        return estimate_training(self.graph, batch_size, optimizer, precision, device)

    def report(self, fmt: str = "table", depth: int | None = None, batch_size: int = 1, dtype: str = "float32",
               training=None) -> str:
        from .render.tables import render_report

        return render_report(self, fmt, depth, batch_size, dtype, training)

    @property
    def training(self) -> dict:
        """The `training:` section, its `$expressions` evaluated over the top-level parameters
        (`learning_rate: $lr`, so a search space can hold training knobs too)."""
        raw = self.data.get("training") or {}
        if not isinstance(raw, dict):
            return {}
        return _values(raw, getattr(self.graph, "params", {}) or {}, self.source, ("training",))

    def to_networkx(self):
        """The layer graph as a ``networkx.DiGraph`` (imports networkx): one node per layer, keyed by its
        scope path, with attributes ``op``, ``shape`` and ``node`` (the :class:`~archspec.graph.Node`); an
        edge per input, carrying the tensor's ``shape``. Built once and cached; treat it as read-only.

        >>> import archspec, networkx as nx
        >>> spec = archspec.load_text("archspec: 1\\nname: r\\ninputs: {x: [8, 8, 4]}\\n"
        ...                           "model: [residual: {body: [conv2d: {filters: 4, kernel: 1}]}]\\n")
        >>> g = spec.to_networkx()
        >>> list(nx.topological_sort(g)), g.edges["x", "residual/conv2d"]["shape"]
        (['x', 'residual/conv2d', 'residual/add'], (8, 8, 4))
        >>> [n for n in g if g.in_degree(n) > 1]          # the residual's merge
        ['residual/add']
        """
        return self.graph.nx

    def to_keras(self):
        """Build the Keras 3 functional model (imports Keras)."""
        from .compile.build import build_model

        return build_model(self)

    def draw(self, path: str | os.PathLike | None = None, **options):
        """Render the diagram; returns the DOT source if `path` is None, else writes the file."""
        from .render.image import draw

        return draw(self, path, **options)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": repr(self)}
        try:
            from .render.image import svg_text

            bundle["image/svg+xml"] = svg_text(self)
        except Exception:  # no Graphviz: fall back to the table
            bundle["text/markdown"] = self.report("markdown")
        return bundle

    def __repr__(self) -> str:
        t = self.analysis().total
        ins = ", ".join(f"{n}{self.graph[n].shape}" for n in self.graph.inputs)
        outs = ", ".join(f"{k}{self.graph[v].shape}" for k, v in self.graph.outputs.items())
        return f"<Spec {self.name}: {ins} -> {outs}; {t.layers:,} layers, {t.params:,} params, {t.macs:,} MACs>"


def _values(raw, env: dict, src: Source, path: tuple):
    """`raw` with its `$expressions` evaluated over `env`; a mistake is a located SpecError."""
    if isinstance(raw, dict):
        return {k: _values(v, env, src, path + (k,)) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_values(v, env, src, path + (i,)) for i, v in enumerate(raw)]
    if not isinstance(raw, str) or not raw.startswith("$"):
        return raw
    if raw.startswith("$$"):
        return raw[1:]
    from .lang.expr import ExprError, Unknown, evaluate

    try:
        v = evaluate(raw[1:], env)
    except (ExprError, Unknown) as exc:
        message = getattr(exc, "message", "the expression reads a shape, which the training section does not have")
        raise SpecError([Diagnostic(getattr(exc, "kind", "expr-value"), message, src.loc(path),
                                    hint=getattr(exc, "hint", None) or "the training section sees the top-level "
                                    "params only")]) from None
    from .lang.source import INT_MAX, INT_MIN

    if v.__class__ is int and not INT_MIN <= v <= INT_MAX:
        raise SpecError([Diagnostic("schema", "the value is out of range: integers in a spec lie between -2**63 and "
                                    "2**63-1", src.loc(path), hint="no count or size can be this large")])
    return list(v) if isinstance(v, tuple) else v


def load(path: str | os.PathLike, overrides: dict | None = None, limits: Limits = DEFAULT_LIMITS,
         root: str | os.PathLike | None = None, display: str | None = None) -> Spec:
    """Read, validate, expand and shape-check a spec file. Raises SpecError listing every mistake."""
    p = Path(path)
    display = display or str(path)
    text = read_text(p, display, limits)
    with _no_gc():
        return _load(parse(text, display, p, limits), overrides, limits, root)


def load_text(text: str, name: str = "<spec>", overrides: dict | None = None, limits: Limits = DEFAULT_LIMITS,
              fmt: str | None = None, root: str | os.PathLike | None = None) -> Spec:
    """Like :func:`load` for spec text (YAML or JSON)."""
    with _no_gc():
        return _load(parse(text, name, None, limits, fmt), overrides, limits, root)


def is_library(data) -> bool:
    """A file of blocks for others to include: blocks (or includes) and no model."""
    return isinstance(data, dict) and "model" not in data and ("blocks" in data or "include" in data)


def check_library(src: Source, limits: Limits = DEFAULT_LIMITS, root: str | os.PathLike | None = None):
    """Check a block library (`is_library`) as its includers see it: the file's fields, each block's
    definition (parameters, defaults, body shape) and its own includes; bodies are expanded only
    where they are called. Returns (diagnostics, the Expander holding the blocks and sources read).
    `archspec check` and the language server both answer with this."""
    from .errors import sorted_unique
    from .fast.pydantic_lite import Invalid
    from .lang.document import Library, pydantic_diagnostics
    from .lang.expand import Expander

    ex = Expander(src, limits, {}, Path(root) if root else None)
    diags = []
    try:
        Library.model_validate(src.data)
    except Invalid as exc:
        diags = [d for d in pydantic_diagnostics(exc, src.data, src, fields=Library.model_fields)
                 if d.path[:1] != ("blocks",)]  # each block is checked below, with its name
    ex._load_blocks(src, src.data, (), stack=())
    return sorted_unique(diags + ex.diags), ex


def _load(src: Source, overrides, limits, root) -> Spec:
    from .lang.expand import expand

    overrides = dict(overrides or {})
    training = {k: v for k, v in overrides.items() if k.startswith("training.") or k == "training"}
    if training:        # `--set training.KEY=VALUE`: merged into the training section (lang/training.py)
        from .lang.training import apply_training_sets

        apply_training_sets(src, training)
    graph, sources = expand(src, {k: v for k, v in overrides.items() if k not in training}, limits,
                            Path(root) if root else None)
    return Spec(src, graph, sources, overrides)


@contextmanager
def _no_gc():
    """Parsing and expansion allocate many small objects that all stay alive; the cyclic GC would
    rescan them again and again (superlinear on 10,000-layer specs), so it is paused meanwhile.

    Re-enabling it alone would leave the debt to the caller: every object made meanwhile sits in the
    youngest generation, and the next collections would walk all of them only to promote them
    (bench/check_bench.py reports the time left to the caller's collector). gc.freeze() + gc.unfreeze() moves every tracked object
    straight to the oldest generation without walking any — nothing stays frozen, nothing is
    collected later than a full collection would collect it anyway."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


__all__ = ["Spec", "load", "load_text", "SpecError"]
