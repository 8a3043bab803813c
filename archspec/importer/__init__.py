"""Import a Keras 3 model into a readable spec (imports Keras).

The stages, each a function of the previous one's result::

    keras.Model ─read─▶ KGraph ─structure─▶ tree ─factor─▶ tree + blocks ─write─▶ entries ─yaml─▶ spec text
                (archspec ops,  (residual, branches,   (repeated structures     (names, from:,
                 checked attrs)  wired layers)          → blocks, params, repeat) defaults)

:func:`verify.roundtrip` proves a result exact (same graph, same parameters, same outputs with the
original weights). Layers the language cannot express raise :class:`UnsupportedModel` naming every one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .reader import KGraph, UnsupportedModel, read_model
from .weights import graph_params, unused_weights

__all__ = ["from_keras", "import_keras", "load_keras_model", "fix_input_shapes", "graph_params", "unused_weights",
           "Imported", "ModelLoadError", "UnsupportedModel"]


@dataclass
class Imported:
    text: str
    graph: KGraph
    warnings: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def from_keras(model, *, name: str | None = None, factor: bool = True, keep_names: bool = True,
               source: str | None = None) -> str:
    """The spec (YAML text) of a Keras functional or Sequential model.

    `factor` turns repeated structures into parameterized blocks; `keep_names` keeps Keras's layer names
    (`name: conv1_conv`) — without it only the names `from:` wiring needs are written."""
    return import_keras(model, name=name, factor=factor, keep_names=keep_names, source=source).text


def import_keras(model, *, name: str | None = None, factor: bool = True, keep_names: bool = True,
                 source: str | None = None) -> Imported:
    """Like :func:`from_keras`, with the graph read, warnings and statistics.

    Every result is checked before it is returned: the spec is loaded and its graph matched with the
    Keras graph node for node (:func:`verify.match`: op, attributes, wiring). Should block factoring
    ever produce a spec that fails this, the spec is written again without blocks (with a warning);
    should that fail too, the importer has a bug and says so."""
    from ..lang.document import NAME_PATTERN
    from .structure import build_tree

    if name is not None and not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"'{name}' is not a spec name (letters, digits, _ . -, not starting with a digit)")
    kg = read_model(model)
    if name:
        kg.name = name
    warnings = list(kg.warnings)
    params = graph_params(model, kg.idle)
    unused = unused_weights(model, kg.idle)
    if unused:
        names = ", ".join(v.path for v in unused[:4]) + (", …" if len(unused) > 4 else "")
        warnings.append(f"the model holds {model.count_params() - params:,} parameters in {len(unused)} weights that no "
                        f"output depends on ({names}); the spec describes what the model computes and leaves them out")
    if factor and kg.instances:                  # composite layers traced: one block per class (composite.py)
        try:
            text, stats = _write_composite(kg, keep_names, source, params)
            return Imported(text, kg, warnings, stats)
        except _NoBlocks:
            pass
        except Exception as exc:                        # noqa: BLE001  (_Mismatch, or a bug in composite.py)
            warnings.append(f"the blocks for the traced layers gave no spec that reproduces the model "
                            f"({type(exc).__name__}: {exc}); it is written with their layers one by one — "
                            "please report this")
    try:
        text, stats = _write(kg, build_tree(kg), factor, keep_names, source, params)
    except _Mismatch as exc:
        if not factor:
            raise AssertionError(f"importer bug: the spec written for '{kg.name}' does not reproduce it: {exc}") from None
        warnings.append(f"block factoring gave a spec that does not reproduce the model ({exc}); "
                        "it is written without blocks — please report this")
        text, stats = _write(kg, build_tree(kg), False, keep_names, source, params)
    return Imported(text, kg, warnings, stats)


class _Mismatch(Exception):
    pass


class _NoBlocks(Exception):
    pass


def _write_composite(kg, keep_names, source, params) -> tuple[str, dict]:
    from .composite import NotComposite, write_composite

    try:
        text, stats = write_composite(kg, keep_names, source, params)
    except NotComposite:
        raise _NoBlocks() from None
    return _checked(kg, text), dict(stats, lines=text.count("\n"))


def _checked(kg, text: str) -> str:
    """`text` with the model's own design warnings accepted, once its spec matches the Keras graph."""
    from ..api import load_text
    from ..errors import SpecError
    from .verify import RoundTripError, match

    try:
        spec = load_text(text, f"{kg.name}.yaml")
        match(spec.graph, kg)
    except SpecError as exc:
        raise _Mismatch("; ".join(f"{d.loc}: {d.message}" for d in exc.diagnostics[:3])) from None
    except RoundTripError as exc:
        raise _Mismatch(str(exc)) from None
    return _accept_warnings(text, spec)


def _write(kg, tree, factor, keep_names, source, params) -> tuple[str, dict]:
    from .document import write_document

    blocks = None
    if factor:
        from .factor import factor_tree

        blocks = factor_tree(tree)
    text = _checked(kg, write_document(tree, blocks, keep_names=keep_names, source=source, name=kg.name, params=params))
    stats = dict(tree.stats, layers=len(kg.nodes), lines=text.count("\n"), blocks=len(blocks.defs) if blocks else 0,
                 params=params)
    return text, stats


def _accept_warnings(text: str, spec) -> str:
    """Accept the design warnings the Keras model has as it is (ResNet's conv biases before batch norm),
    so that `archspec check` on a faithful import is quiet; a comment says which."""
    codes = sorted({w.code for w in spec.warnings})
    if not codes:
        return text
    counts = {c: sum(w.code == c for w in spec.warnings) for c in codes}
    note = ", ".join(f"{c} ({n} place{'s' if n > 1 else ''})" for c, n in counts.items())
    lines = text.split("\n")
    at = next(k for k, line in enumerate(lines) if line.startswith("inputs:"))
    lines[at:at] = [f"# archspec check warns about the Keras model as it is: {note}",
                    f"ignore_warnings: [{', '.join(codes)}]"]
    return "\n".join(lines)


class ModelLoadError(Exception):
    """A model file that exists but that Keras cannot load (the input is wrong, not the command line)."""


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


def load_keras_model(target: str, args: dict | None = None):
    """A model from a `.keras` file, or from a factory named by its dotted path
    (`keras.applications.ResNet50`), called with `weights=None` (where it takes that) and `args`."""
    import importlib
    import inspect
    import os

    if target.endswith(".keras") or os.path.exists(target):
        if args:
            raise ValueError("--arg applies to a model factory, not to a saved .keras file")
        if not os.path.isfile(target):
            raise FileNotFoundError(f"no such file: {target}")
        from ..compile import load_model

        try:
            return load_model(target, compile=False)
        except Exception as exc:                            # noqa: BLE001  (whatever Keras raises on a bad file)
            raise ModelLoadError(f"Keras cannot load it ({type(exc).__name__}: {_first_line(exc)})") from None
    if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", target):
        raise ValueError(f"'{target}' is neither a .keras file nor a dotted path like keras.applications.ResNet50")
    module_name, _, attr = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import the module '{module_name}': {exc}") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise ValueError(f"the module '{module_name}' has no '{attr}'")
    kwargs = dict(args or {})
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    if "weights" in params and "weights" not in kwargs:
        kwargs["weights"] = None
    for k, v in list(kwargs.items()):
        if k in ("input_shape",) and isinstance(v, list):
            kwargs[k] = tuple(v)
    model = factory(**kwargs)
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"{target}(...) returned a {type(model).__name__}, not a keras.Model")
    return model


def fix_input_shapes(model, shapes: dict[str, list]):
    """`model` with the open axes of its inputs fixed (`{"token_ids": [128]}`): a functional model over new
    inputs of those shapes that calls the same layers (same weights), as ``keras.models.clone_model`` with
    the layers kept builds it. A spec has static shapes; a KerasHub text backbone leaves its sequence
    length open. Raises ValueError naming the inputs when a name is not an input, the rank differs or a
    given size contradicts a fixed one."""
    import keras

    if not shapes:
        return model
    if isinstance(model, keras.Sequential):
        model = getattr(model, "_functional", None) or model
    inputs = model.input
    flat = list(inputs.values()) if isinstance(inputs, dict) else list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    by_name = {t.name: t for t in flat}
    if isinstance(inputs, dict):
        by_name.update({k: t for k, t in inputs.items()})
    unknown = [k for k in shapes if k not in by_name]
    if unknown:
        listed = ", ".join(f"{t.name} {_dims(t.shape[1:])}" for t in flat)
        raise ValueError(f"--shape {unknown[0]}: the model has no input of that name; its inputs are {listed}")
    fixed = {}
    for key, dims in shapes.items():
        t = by_name[key]
        if not isinstance(dims, (list, tuple)) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                                                          for d in dims):
            raise ValueError(f"--shape {key}: give the shape without the batch axis as a list of positive "
                             f"integers, e.g. {key}={_dims([d or 128 for d in t.shape[1:]])}")
        have = tuple(t.shape[1:])
        if len(dims) != len(have) or any(h is not None and h != d for h, d in zip(have, dims)):
            raise ValueError(f"--shape {key}={_dims(dims)} does not fit the input's shape {_dims(have)} "
                             "(only open axes, written None, can be given a size)")
        fixed[t.name] = tuple(dims)

    def new(t):
        return keras.Input(shape=fixed.get(t.name, tuple(t.shape[1:])), dtype=t.dtype, name=t.name)

    if isinstance(inputs, dict):
        tensors = {k: new(t) for k, t in inputs.items()}
    elif isinstance(inputs, (list, tuple)):
        tensors = [new(t) for t in inputs]
    else:
        tensors = new(inputs)
    try:
        return keras.models.clone_model(model, input_tensors=tensors, clone_function=lambda layer: layer)
    except Exception as exc:                                # noqa: BLE001  (a layer refusing the shapes)
        given = ", ".join(f"{k}={_dims(v)}" for k, v in shapes.items())
        raise ValueError(f"--shape {given}: the model cannot run on inputs of these shapes "
                         f"({_keras_message(exc)})") from None


def _keras_message(exc) -> str:
    """The informative line of a Keras exception (not "Exception encountered when calling …", not its
    argument listing), without terminal colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", s).strip() for s in str(exc).splitlines()]
    lines = [s for s in lines if s and not s.startswith(("Exception encountered", "Arguments received", "•"))]
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"


def _dims(dims) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in dims) + "]"
