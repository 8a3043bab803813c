"""archspec report SPEC: a per-layer or per-block cost table (table, JSON, CSV or Markdown)."""
from __future__ import annotations

import argparse
import sys

from .shared import EXIT_OK, EXIT_SPEC, common, load_spec, positive_int, print_warnings, shown
from .trainopts import add_training_options, training_estimate


def _depth(v: str):
    if v in ("all", "full"):
        return None
    try:
        d = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'all', got '{v}'") from None
    if d < 1:
        raise argparse.ArgumentTypeError("depth must be at least 1 (or 'all')")
    return d


def _report_depth(v: str):
    return "auto" if v == "auto" else _depth(v)


def configure(p):
    common(p)
    p.add_argument("--format", "-f", choices=["table", "json", "csv", "markdown"], default="table",
                   help="table (default, for reading), json, csv or markdown (for tools and docs)")
    p.add_argument("--depth", type=_report_depth, default="auto",
                   help="block levels to expand; deeper blocks are rolled up into one row ('all' for every layer; "
                        "default 1, or deeper while a level is a single block, e.g. a spec that is one block call)")
    p.add_argument("--batch-size", type=positive_int, default=1, help="batch size for activation memory (default 1)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32",
                   help="bytes per parameter and activation value in the memory columns (default float32)")
    p.add_argument("-o", "--output", help="write the report to this file (atomically) instead of stdout")
    add_training_options(p)


def run(args) -> int:
    spec, sources = load_spec(args.spec, args)
    warnings = [w.as_error() for w in spec.warnings] if args.strict else spec.warnings
    print_warnings(warnings, sources, args)
    text = spec.report(args.format, args.depth, args.batch_size, args.dtype, training_estimate(spec, args))
    if args.output:
        from ..files import atomic_write

        atomic_write(args.output, text.encode("utf-8"))
        print(f"wrote {shown(args.output)}", file=sys.stderr)
    else:
        print(text, end="")
    return EXIT_SPEC if args.strict and warnings else EXIT_OK
