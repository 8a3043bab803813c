"""archspec sample SPEC --seed N [-o OUT]: one point of a spec's search space, written as a plain spec
(see docs/search.md). The point is drawn uniformly (log ranges uniformly in the logarithm); `--set`
fixes a parameter instead of drawing it. The written spec is checked before it is written."""
from __future__ import annotations

import random
import sys
from pathlib import Path

from .shared import EXIT_OK, EXIT_SPEC, UsageError, common, load_spec, parse_sets, print_diagnostics, print_warnings, shown


def configure(p):
    common(p)
    p.add_argument("--seed", type=int, help="random seed (default: drawn, and written in the output's header)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the spec here (default: standard output)")


def sample_point(spec, seed: int | None) -> dict:
    """A point of the spec's space: drawn for each searched parameter not fixed by --set."""
    from ..lang.space import RandomTrial

    trial = RandomTrial(seed)
    return {k: spec.overrides[k] if k in spec.overrides else d.suggest(trial) for k, d in spec.space.items()}


def run(args) -> int:
    from .. import api
    from ..errors import SpecError
    from ..search.concrete import concrete_text, moved_root

    if args.spec == "-":
        raise UsageError("sample reads the spec from a file (its includes are relative to it), not from stdin")
    spec, sources = load_spec(args.spec, args)
    if not spec.space:
        raise UsageError(f"{args.spec} declares no search space: give a parameter `choice:`, `range:` or `one_of:` "
                         "under `params:` (see docs/search.md)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 31)
    point = sample_point(spec, seed)
    values = {**parse_sets(args.set), **point}
    try:
        checked = api.load(args.spec, values, root=args.root)
    except SpecError as exc:
        print_diagnostics(exc.diagnostics, {k: s.text for k, s in spec.sources.items()}, fmt=args.diagnostics)
        print(f"{args.spec}: the point drawn with --seed {seed} does not check: "
              + ", ".join(f"{k}={v}" for k, v in point.items()), file=sys.stderr)
        return EXIT_SPEC
    warnings = [w.as_error() for w in checked.warnings] if args.strict else checked.warnings
    print_warnings(warnings, sources, args)
    if args.strict and warnings:
        return EXIT_SPEC
    t = checked.analysis().total
    header = (f"{spec.name}: a point of the search space of {args.spec}, drawn by `archspec sample --seed {seed}`\n"
              + ", ".join(f"{k}={v}" for k, v in point.items()) + f": {t.params:,} params, {t.macs:,} MACs")
    root = None
    if args.out and spec.data.get("include"):
        root = moved_root(args.spec, args.out)
        if root:
            header += f"\nits includes are rebased: check it with --root {root}"
    text = concrete_text(spec.source.text, values, header,
                         move=(Path(args.spec).parent, Path(args.out).parent) if args.out else None)
    from ..lang.jsonschema import place_modeline

    text = place_modeline(text, args.out or args.spec, args.spec)      # first line, rebased to where it goes
    if args.out:
        from ..files import atomic_write

        atomic_write(args.out, text.encode())
        api.load(args.out, root=root or args.root)           # what was written checks where it is
        print(f"wrote {shown(args.out)}: {', '.join(f'{k}={v}' for k, v in point.items())} "
              f"({t.params:,} params, {t.macs:,} MACs; seed {seed})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK
