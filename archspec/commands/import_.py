"""archspec import MODEL: write the spec of an existing Keras model.

MODEL is a saved `.keras` file or the dotted path of a model factory (`keras.applications.ResNet50`),
called with `weights=None` and the `--arg` values. Without -o the spec goes to standard output; with -o
it is written atomically. The spec is verified before it is written (compiled, given the model's weights
and compared output for output; --no-verify skips that); a spec that is not exact is not written.
Exit status 1 when the model uses layers the spec language cannot express (each one is named), when
Keras cannot load the file, or when the verification finds a difference; 2 when MODEL is not a file or
factory as given.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .shared import EXIT_OK, EXIT_SPEC, UsageError, parse_sets, quiet_tensorflow, shown, verbose_option


def configure(p):
    p.add_argument("model", metavar="MODEL", help="a .keras file, or a factory such as keras.applications.ResNet50")
    p.add_argument("-o", "--output", metavar="SPEC.yaml", help="where to write the spec (default: standard output)")
    p.add_argument("--arg", action="append", metavar="NAME=VALUE",
                   help="keyword argument for the factory, read as YAML (--arg alpha=0.35 --arg input_shape=[96,96,3])")
    p.add_argument("--shape", action="append", metavar="INPUT=DIMS",
                   help="a size for an input's open axes, read as YAML, without the batch axis (--shape "
                        "token_ids=[128]); a spec has static shapes")
    p.add_argument("--name", help="the spec's name (default: the Keras model's name)")
    p.add_argument("--no-blocks", action="store_true", help="no block factoring: layers and structures written out")
    p.add_argument("--no-names", action="store_true", help="write only the layer names that `from:` wiring needs")
    p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                   help="compile the spec, copy the weights across and compare parameters and outputs before "
                        "writing it (default; --no-verify writes the spec unverified)")
    verbose_option(p)


def run(args) -> int:
    import re

    from ..lang.document import NAME_PATTERN

    out = Path(args.output) if args.output else None
    if out is not None and out.is_dir():
        raise UsageError(f"-o {args.output} is a folder")
    if args.name is not None and not re.fullmatch(NAME_PATTERN, args.name):
        raise UsageError(f"--name {args.name}: a spec name has letters, digits, _ . - and does not start with a digit")
    quiet_tensorflow(args.verbose)
    from ..files import atomic_write
    from ..importer import ModelLoadError, UnsupportedModel, fix_input_shapes, import_keras, load_keras_model

    start = time.perf_counter()
    try:
        model = load_keras_model(args.model, parse_sets(args.arg))
    except ModelLoadError as exc:
        print(f"archspec import: error: cannot load {args.model}: {exc}", file=sys.stderr)
        return EXIT_SPEC
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise UsageError(f"{args.model}: {exc}") from None
    except Exception as exc:                                    # noqa: BLE001  (a factory or loader failing)
        print(f"archspec import: error: cannot load {args.model}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_SPEC
    if args.shape:
        try:
            model = fix_input_shapes(model, parse_sets(args.shape, "--shape"))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    loaded = time.perf_counter()
    try:
        result = import_keras(model, name=args.name, factor=not args.no_blocks, keep_names=not args.no_names,
                              source=args.model)
    except UnsupportedModel as exc:
        print(f"archspec import: error: {args.model} uses what the spec language cannot express "
              f"({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_SPEC
    for w in result.warnings:
        print(f"archspec import: warning: {w}", file=sys.stderr)
    done = time.perf_counter()
    if args.verify:                     # before anything is written: a spec that is not exact is not written
        from ..importer.verify import RoundTripError, roundtrip

        try:
            report = roundtrip(model, result.text, str(out or "<import>"), kg=result.graph)
        except RoundTripError as exc:
            print(f"archspec import: error: the spec does not reproduce the model: {exc}; nothing written",
                  file=sys.stderr)
            return EXIT_SPEC
        print(report.summary(), file=sys.stderr)
        if not report.exact:
            print("archspec import: error: the round trip is not exact; nothing written "
                  "(--no-verify writes the spec anyway)", file=sys.stderr)
            return EXIT_SPEC
    if out is None:
        sys.stdout.write(result.text)
    else:
        from ..lang.jsonschema import place_modeline

        atomic_write(out, place_modeline(result.text, out).encode("utf-8"))   # editors: the schema, if one is near
    s = result.stats
    verified = f", verify {time.perf_counter() - done:.1f} s" if args.verify else " (not verified)"
    print(f"{'wrote ' + shown(out) if out else 'spec'}: {s['lines']} lines, {s['blocks']} blocks, {s['residual']} "
          f"residual and {s['branches']} branches structures, from {s['layers'] - len(result.graph.inputs)} Keras "
          f"layers ({result.stats.get('params', model.count_params()):,} params); load {loaded - start:.1f} s, import {done - loaded:.2f} s"
          f"{verified}", file=sys.stderr)
    return EXIT_OK
