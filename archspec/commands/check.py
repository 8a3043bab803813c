"""archspec check SPEC...: validate, expand and infer shapes; list errors and design warnings."""
from __future__ import annotations

import sys

from .shared import EXIT_OK, EXIT_SPEC, common, load_spec, print_diagnostics, print_warnings


def configure(p):
    common(p, many=True)
    p.add_argument("--dump", choices=["graph"], help="print the expanded graph, one line per node")


def run(args) -> int:
    from ..errors import SpecError
    from ..render.tables import human

    worst = EXIT_OK
    many = len(args.specs) > 1
    for path in args.specs:
        try:
            spec, sources = load_spec(path, args)
        except SpecError as exc:
            sys.stdout.flush()
            lib = _library(path, args, exc)
            if lib is not None:                  # blocks for others to include: checked as such
                worst = max(worst, lib)
                continue
            print_diagnostics(exc.diagnostics, getattr(exc, "sources", None), fmt=args.diagnostics)
            n = sum(d.severity == "error" for d in exc.diagnostics)
            print(f"{'<stdin>' if path == '-' else path}: FAILED, {n} error{'s' * (n != 1)}", flush=True)
            worst = EXIT_SPEC
            continue
        warnings = spec.warnings
        if args.strict:
            warnings = [w.as_error() for w in warnings]
        sys.stdout.flush()
        print_warnings(warnings, sources, args)
        alternatives = block_choice_errors(spec, getattr(args, "root", None))
        print_diagnostics(alternatives, sources, fmt=args.diagnostics)
        sys.stderr.flush()
        g, t = spec.graph, spec.analysis().total
        ins = ", ".join(f"{n} {g[n].shape}" for n in g.inputs)
        outs = ", ".join(f"{k} {g[v].shape}" for k, v in g.outputs.items())
        status = "FAILED" if args.strict and warnings or alternatives else "ok"
        nw = len(warnings)
        tail = f"{nw} {'error' if args.strict else 'warning'}{'s' * (nw != 1)}"
        if alternatives:
            tail = f"{len(alternatives)} block choice{'s' * (len(alternatives) != 1)} that do not check, " + tail
        if args.dump:
            print(g.dump())
        if many:
            print(f"{path}: {status}: {spec.title}, {ins} -> {outs}, {t.layers:,} layers, {t.params:,} params, "
                  f"{human(t.macs)} MACs, {tail}" + (f", search space of {_points(spec.space)}" if spec.space else ""))
        else:
            print(f"{path}: {status}: {spec.title}")
            print(f"  inputs:  {ins}")
            print(f"  outputs: {outs}")
            print(f"  {t.layers:,} layers, {t.params:,} params ({t.trainable:,} trainable, "
                  f"{t.non_trainable:,} non-trainable), {t.macs:,} MACs ({human(t.macs)}), {human(t.flops)} FLOPs")
            if spec.space:
                searched = [k for k in spec.space if k not in spec.overrides]
                print(f"  search space: {spec.space.summary()}")
                print(f"  checked at the {'default ' if len(searched) == len(spec.space) else ''}point "
                      + ", ".join(f"{k}={_value(v)}" for k, v in spec.point.items()))
            print(f"  {tail}")
        if status != "ok":
            worst = EXIT_SPEC
    sys.stdout.flush()
    return worst


def _library(path: str, args, exc) -> int | None:
    """Check `path` as a block library (blocks or includes, no model) and print the result, as the
    language server does; None when it is not one (its errors are the spec's)."""
    from pathlib import Path

    from .. import api
    from ..errors import SpecError
    from ..lang.source import parse, read_text
    from .shared import parse_limits

    limits = parse_limits(getattr(args, "limit", None))
    try:
        text = (getattr(exc, "sources", None) or {}).get("<stdin>") if path == "-" else \
            read_text(Path(path), path, limits)
        if text is None:
            return None
        src = parse(text, "<stdin>" if path == "-" else path, None if path == "-" else Path(path), limits)
    except SpecError:
        return None
    if not api.is_library(src.data):
        return None
    diags, ex = api.check_library(src, limits, getattr(args, "root", None))
    sources = {k: s.text for k, s in ex.sources.items()}
    errors = [d for d in diags if d.severity == "error"]
    warnings = [d for d in diags if d.severity != "error"]
    if args.strict:
        errors, warnings = errors + [w.as_error() for w in warnings], []
    print_diagnostics(errors, sources, fmt=args.diagnostics)
    print_warnings(warnings, sources, args)
    sys.stderr.flush()
    shown = "<stdin>" if path == "-" else path
    if errors:
        print(f"{shown}: FAILED, {len(errors)} error{'s' * (len(errors) != 1)}", flush=True)
        return EXIT_SPEC
    own = [b for b, blk in ex.blocks.items() if blk.src is src]
    names = ", ".join(own[:8]) + (", …" if len(own) > 8 else "")
    print(f"{shown}: ok: a library of {len(own)} block{'s' * (len(own) != 1)}" + (f" ({names})" if own else "")
          + f", {len(warnings)} warning{'s' * (len(warnings) != 1)}; its blocks are expanded where a spec calls them",
          flush=True)
    return EXIT_OK


def _points(space) -> str:
    n = space.size
    return f"{n:,} points" if n is not None else "a continuous range"


def _value(v) -> str:
    from ..lang.space import _text

    return _text(v)


def block_choice_errors(spec, root=None) -> list:
    """Every alternative of a `one_of` parameter, the others at the checked point: a block that does not
    accept the call site's arguments (or breaks a shape) is found now, not as invalid candidates of a
    search. Ranges and choices of values are left to the search: their points are too many."""
    dims = [d for k, d in spec.space.items() if d.kind == "block" and k not in spec.overrides]
    if not dims:
        return []
    from ..errors import Diagnostic, Note
    from ..pricing import Pricer

    pricer = Pricer(spec, root=root)
    out = []
    for d in dims:
        for i, alt in enumerate(d.values):
            if alt == spec.point[d.name]:
                continue
            price = pricer.price({**spec.overrides, d.name: alt})
            if price.ok:
                continue
            err = price.errors[0]
            out.append(Diagnostic("search-space", f"with {d.name}={alt} the spec does not check: {err.message}",
                                  spec.source.loc(d.path + ("one_of", i)), None,
                                  err.hint or f"make '{alt}' accept the arguments the spec passes, or drop it from one_of",
                                  (Note(f"{d.name}={alt}: {err.message}", err.loc),) + tuple(err.notes)))
    return out
