"""archspec compile SPEC: build the Keras 3 functional model and save it as a .keras file.

The file is written atomically (a temporary file in the same folder, then a rename), so it is either
complete or absent. Without -o the model goes to `out/<spec file name>.keras` in the current folder.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .shared import (
    EXIT_OK,
    EXIT_SPEC,
    UsageError,
    common,
    default_output,
    load_spec,
    print_warnings,
    quiet_tensorflow,
    shown,
    verbose_option,
)


def configure(p):
    common(p)
    p.add_argument("-o", "--output", metavar="FILE.keras",
                   help="where to save the model (default: out/NAME.keras, NAME the spec file's name)")
    p.add_argument("--summary", action="store_true", help="print Keras's model summary")
    p.add_argument("--no-save", action="store_true", help="build (and summarize) without writing a file")
    verbose_option(p)


def run(args) -> int:
    out = None
    if not args.no_save:
        out = Path(args.output) if args.output else None
        if out is not None and out.suffix != ".keras":
            raise UsageError(f"-o {args.output}: Keras saves models as '.keras' files; use a name ending in .keras")
        if out is not None and out.is_dir():
            raise UsageError(f"-o {args.output} is a folder")
    spec, sources = load_spec(args.spec, args)
    warnings = [w.as_error() for w in spec.warnings] if args.strict else spec.warnings
    print_warnings(warnings, sources, args)
    if args.strict and warnings:
        return EXIT_SPEC
    quiet_tensorflow(args.verbose)
    from ..compile import keras_name, save_model
    from ..compile.build import build_model

    model = build_model(spec)
    if args.summary:
        print_summary(model, max(len(keras_name(n)) for n in spec.graph.nodes))
    if out is None and not args.no_save:
        out = default_output(args.spec, spec.name, ".keras", args)
    t = spec.analysis().total
    if out is not None:
        save_model(model, out)
        print(f"wrote {shown(out)} ({len(model.layers)} layers, {t.params:,} params)", file=sys.stderr)
    else:                                        # --no-save: say that it built, and what
        print(f"built {spec.name} in Keras ({len(model.layers)} layers, {model.count_params():,} params); "
              "not saved (--no-save)", file=sys.stderr)
    return EXIT_OK


def print_summary(model, longest_name: int) -> None:
    """Keras's summary, wide enough for whole scope paths in the name and "connected to" columns.

    Keras sizes the table to the terminal and, when its output is captured, to 80 columns (rich's
    default), cutting long names with an ellipsis; on a terminal we keep to its width.
    """
    import shutil

    width = min(250, max(100, (longest_name + 4) * 10 // 3))   # Keras gives the name column 30%
    if sys.stdout.isatty():
        width = min(width, shutil.get_terminal_size().columns)
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)         # rich reads it when Keras creates its console
    try:
        model.summary(line_length=width, print_fn=lambda line, **_: print(line))
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
