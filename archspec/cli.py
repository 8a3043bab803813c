"""The `archspec` command line: parse arguments, call the API, print.

Exit status (docs/errors.md): 0 success, 1 a spec is wrong (or a warning under --strict),
2 the command line is wrong. Heavy modules (Keras, TensorFlow, graphviz) are imported only by
the commands that need them, so `check`, `report` and `schema` stay fast.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line is wrong (exit status 2)."""


# ---- shared helpers ---------------------------------------------------------------------------
def _color(stream) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


def print_diagnostics(diags, sources=None, stream=None, fmt="text"):
    """Write diagnostics to stderr. What was printed to stdout before is flushed first and the
    diagnostics are flushed after, so with both streams on one pipe (`2>&1 | less`) lines never
    run together: each diagnostic is written whole, in order with the summaries around it."""
    try:
        _print_diagnostics(diags, sources, stream or sys.stderr, fmt)
    finally:
        (stream or sys.stderr).flush()


def _print_diagnostics(diags, sources, stream, fmt):
    from .errors import render

    if stream is not sys.stdout:
        sys.stdout.flush()
    if fmt == "json":
        import json

        for d in diags:
            stream.write(json.dumps(d.to_json()) + "\n")
        return
    texts = dict(sources or {})
    for d in diags:
        f = d.loc.file if d.loc else None
        if f and f not in texts:
            try:
                texts[f] = Path(f).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                texts[f] = ""
        stream.write(render(d, texts, _color(stream)) + "\n")


def positive_int(v: str) -> int:
    """argparse type for counts (epochs, batch sizes, neighbours): a whole number ≥ 1."""
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{v}'") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def parse_sets(items) -> dict:
    """`--set width=0.5` → {"width": 0.5}; values are read as YAML scalars."""
    import yaml

    out = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--set expects NAME=VALUE, got '{item}'")
        name, raw = item.split("=", 1)
        try:
            out[name.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[name.strip()] = raw
    return out


def parse_limits(items):
    from dataclasses import fields, replace

    from .lang.source import DEFAULT_LIMITS

    limits = DEFAULT_LIMITS
    names = [f.name for f in fields(limits)]
    for item in items or []:
        name, _, raw = item.partition("=")
        if name not in names:
            raise UsageError(f"--limit: unknown limit '{name}' (limits: {', '.join(names)})")
        try:
            limits = replace(limits, **{name: int(raw)})
        except ValueError:
            raise UsageError(f"--limit {name}: expected a whole number, got '{raw}'") from None
    return limits


def load_spec(path: str, args):
    """Load one spec (or '-' for stdin) with the common options; returns (spec, sources)."""
    from . import api
    from .errors import SpecError

    overrides = parse_sets(getattr(args, "set", None))
    limits = parse_limits(getattr(args, "limit", None))
    root = getattr(args, "root", None)
    if path == "-":
        text = sys.stdin.read()
        try:
            return api.load_text(text, "<stdin>", overrides, limits, root=root), {"<stdin>": text}
        except SpecError as exc:
            exc.sources = {"<stdin>": text}
            raise
    spec = api.load(path, overrides, limits, root=root)
    return spec, {k: s.text for k, s in spec.sources.items()}


def common(p: argparse.ArgumentParser, many=False):
    if many:
        p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (YAML or JSON); '-' reads stdin")
    else:
        p.add_argument("spec", metavar="SPEC", help="spec file (YAML or JSON); '-' reads stdin")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a top-level parameter")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--limit", action="append", metavar="NAME=N", help="raise a safety limit (see docs/errors.md)")
    p.add_argument("--root", help="project folder that includes may not leave (default: the spec's folder)")
    p.add_argument("--diagnostics", choices=["text", "json"], default="text", help="format of errors and warnings")


# ---- the command table: name -> (module, help); modules are imported only when run -------------
COMMANDS = {
    "check": ("archspec.commands.check", "validate specs and infer every shape"),
    "report": ("archspec.commands.report", "parameters, MACs, FLOPs and memory per layer or block"),
    "draw": ("archspec.commands.draw", "draw the architecture with Graphviz"),
    "compile": ("archspec.commands.compile", "build the Keras 3 model and save it as .keras"),
    "train": ("archspec.commands.train", "train a spec on image data"),
    "inspect": ("archspec.commands.inspect", "look inside a trained run: kernels, nearest neighbours in a layer"),
    "diff": ("archspec.commands.diff", "what changed between two specs, and what it costs"),
    "sample": ("archspec.commands.sample", "write one point of a spec's search space as a plain spec"),
    "import": ("archspec.commands.import_", "write the spec of an existing Keras model (.keras file or factory)"),
    "schema": ("archspec.commands.schema", "print the JSON Schema of the spec language"),
    "ops": ("archspec.commands.ops", "list the layer types with their attributes"),
}


def build_parser(only: str | None = None):
    import importlib

    from . import __version__

    parser = argparse.ArgumentParser(prog="archspec", description="An architecture-spec compiler for neural networks.")
    parser.add_argument("--version", action="version", version=f"archspec {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if only in (None, name):
            importlib.import_module(module).configure(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv=None) -> int:
    import importlib

    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from .errors import SpecError

    try:
        return importlib.import_module(COMMANDS[args.command][0]).run(args)
    except UsageError as exc:
        print(f"archspec {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as exc:
        print_diagnostics(exc.diagnostics, getattr(exc, "sources", None), fmt=getattr(args, "diagnostics", "text"))
        return EXIT_SPEC
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception:
        if args.traceback:
            raise
        import traceback

        print("archspec: internal error — this is a bug in archspec, not in your spec. "
              "Run again with --traceback and report it:", file=sys.stderr)
        print("  " + traceback.format_exc().strip().splitlines()[-1], file=sys.stderr)
        return 3


def entry():  # console script
    sys.exit(main())

