"""archspec diff A B: added, removed and changed blocks and layers, and the cost delta."""
from __future__ import annotations

from .report import _depth
from .shared import EXIT_OK, load_spec, positive_int
from .trainopts import add_training_options, training_estimate


def configure(p):
    p.add_argument("a", metavar="SPEC_A", help="the spec before (YAML or JSON)")
    p.add_argument("b", metavar="SPEC_B", help="the spec after; may be SPEC_A again with --set-b overrides")
    p.add_argument("--format", "-f", choices=["table", "json"], default="table", help="table (default) or json")
    p.add_argument("--depth", type=_depth, default=1, help="block levels for the cost rows (default 1; 'all')")
    p.add_argument("--batch-size", type=positive_int, default=1, help="batch size for activation memory (default 1)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32",
                   help="bytes per parameter and activation value in the memory figures (default float32)")
    p.add_argument("--all", action="store_true", help="list every changed layer, also those whose only change is their shape")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter of both specs")
    p.add_argument("--set-b", action="append", metavar="NAME=VALUE", help="override a parameter of SPEC_B only")
    p.add_argument("--limit", action="append", metavar="NAME=N", help="raise a safety limit (see docs/errors.md)")
    p.add_argument("--root", help="project folder that includes may not leave (default: each spec's folder)")
    add_training_options(p)


def run(args) -> int:
    from ..diff import diff_specs, render_diff

    a, _ = load_spec(args.a, args)
    if args.set_b:
        args.set = (args.set or []) + args.set_b
    b, _ = load_spec(args.b, args)
    ea, eb = training_estimate(a, args), training_estimate(b, args)
    d = diff_specs(a, b, args.depth, args.batch_size, args.dtype, (ea, eb) if ea else None)
    print(render_diff(d, args.format, args.all), end="")
    return EXIT_OK
