"""archspec draw SPEC: the architecture as a Graphviz diagram (SVG, PNG, PDF or DOT text)."""
from __future__ import annotations

import argparse
import sys

from .shared import EXIT_OK, EXIT_SPEC, UsageError, common, default_output, load_spec, print_warnings, shown
from .trainopts import add_training_options, training_estimate


def _depth(v: str):
    if v in ("all", "full", "auto"):
        return "all" if v == "full" else v
    try:
        d = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, 'all' or 'auto', got '{v}'") from None
    if d < 1:
        raise argparse.ArgumentTypeError("depth must be at least 1 (or 'all', or 'auto')")
    return d


def configure(p):
    from ..render.dot import AUTO_BUDGET

    common(p)
    p.add_argument("-o", "--output", metavar="OUT",
                   help="file to write: .svg, .png, .pdf or .dot (default: out/NAME.svg, NAME the spec file's name); "
                        "'-' writes DOT text to stdout")
    p.add_argument("-T", "--format", choices=["svg", "png", "pdf", "dot", "model-explorer"],
                   help="output format (default: from the file's suffix; .json is model-explorer: the graph for "
                        "Google's Model Explorer, its overlays beside it as NAME.METRIC.json; docs/view.md)")
    p.add_argument("--depth", type=_depth, default="auto",
                   help="levels of block calls to open; deeper blocks are drawn as one box each showing their "
                        "input/output shapes, params and MACs. 'all' draws every layer; 'auto' (default) opens as "
                        f"many levels as fit in {AUTO_BUDGET} boxes")
    p.add_argument("--direction", type=str.upper, choices=["TB", "LR"], default="TB",
                   help="top to bottom (default) or left to right")
    p.add_argument("--no-shapes", dest="shapes", action="store_false", help="leave tensor shapes off the edges")
    p.add_argument("--no-fold", dest="fold", action="store_false",
                   help="draw every call of a repeated block; by default a run of identical collapsed calls is one "
                        "box ('block35 ×10')")
    p.add_argument("--color-by", choices=["none", "params", "macs", "memory", "time", "train_memory"], default="none",
                   help="shade layers and blocks by cost (log scale, with a legend); memory = output activations; "
                        "time = training step time on --device; train_memory = activations kept for backward")
    add_training_options(p, flag=False)
    p.add_argument("--dpi", type=int, default=144, help="PNG resolution (default 144)")


def run(args) -> int:
    from ..render import image

    if args.dpi < 1:
        raise UsageError("--dpi must be at least 1")
    if args.color_by == "time" and not args.device:
        raise UsageError("--color-by time needs --device NAME (h100, a100, l4, t4, cpu, …)")
    out = args.output
    if args.format == "model-explorer" or (args.format is None and out and out.lower().endswith(".json")):
        return _model_explorer(args, out)
    if out is None:
        out = str(default_output(args.spec, "stdin", f".{args.format or 'svg'}", args))
    try:
        fmt = "dot" if out == "-" and args.format in (None, "dot") else image.format_for(out, args.format)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if out == "-" and fmt != "dot":
        raise UsageError(f"-o - writes DOT text; write {fmt.upper()} to a file (-o diagram.{fmt})")
    if fmt != "dot":                          # say so before spending time on the spec
        try:
            image.find_program(fmt)
        except image.GraphvizMissing as exc:
            raise UsageError(str(exc)) from None

    spec, sources = load_spec(args.spec, args)
    warnings = [w.as_error() for w in spec.warnings] if args.strict else spec.warnings
    print_warnings(warnings, sources, args)
    args.train = args.color_by in ("time", "train_memory")
    options = dict(depth=args.depth, direction=args.direction, shapes=args.shapes, color_by=args.color_by,
                   fold=args.fold, training=training_estimate(spec, args))
    if out == "-":
        sys.stdout.write(image.dot_text(spec, **options))
    else:
        notes: list[str] = []
        try:
            image.draw(spec, out, fmt=fmt, dpi=args.dpi, notes=notes, **options)
        except image.GraphvizMissing as exc:
            raise UsageError(str(exc)) from None
        print(f"wrote {shown(out)}", file=sys.stderr)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    return EXIT_SPEC if args.strict and warnings else EXIT_OK


def _model_explorer(args, out) -> int:
    """The graph collection as JSON (to `out`, or stdout for '-'), and beside a file one node data file per
    overlay (NAME.params.json, NAME.macs.json, …) that Model Explorer's "Add per-node data" opens."""
    from pathlib import Path

    from ..files import atomic_write
    from ..render import explorer
    from .view import build

    if out is None:
        out = str(default_output(args.spec, "stdin", ".json", args))
    if out != "-" and not out.lower().endswith(".json"):
        raise UsageError(f"--format model-explorer writes JSON; name the file .json (-o {Path(out).stem}.json)")
    if args.color_by == "time" and not args.device:
        raise UsageError("--color-by time needs --device NAME (h100, a100, l4, t4, cpu, …)")
    spec, sources = load_spec(args.spec, args)
    warnings = [w.as_error() for w in spec.warnings] if args.strict else spec.warnings
    print_warnings(warnings, sources, args)
    args.train = args.color_by in ("time", "train_memory")
    collection, data = build([(spec, training_estimate(spec, args))],
                             args.color_by if args.color_by != "none" else "macs")
    if out == "-":
        sys.stdout.write(explorer.dumps(collection))
    else:
        stem = Path(out).with_suffix("")
        metric = {name: key for name, (key, _) in explorer.METRICS.items()}
        atomic_write(out, explorer.dumps(collection).encode("utf-8"))
        print(f"wrote {shown(out)}", file=sys.stderr)
        for name, nd in data.items():
            path = f"{stem}.{metric[name]}.json"
            atomic_write(path, explorer.dumps(nd).encode("utf-8"))
            print(f"wrote {shown(path)}  ({name} overlay)", file=sys.stderr)
    return EXIT_SPEC if args.strict and warnings else EXIT_OK
