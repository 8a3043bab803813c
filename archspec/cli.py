"""The `archspec` command line: parse arguments, call the API, print.

Exit status (docs/errors.md): 0 success, 1 a spec is wrong (or a warning under --strict),
2 the command line is wrong. Heavy modules (Keras, TensorFlow, graphviz) are imported only by
the commands that need them, so `check`, `report` and `schema` stay fast.
"""
from __future__ import annotations

import argparse
import os
import sys

# the helpers every command shares live in commands/shared.py; re-exported for code that imported them from here
from .commands.shared import (  # noqa: F401
    EXIT_OK,
    EXIT_SPEC,
    EXIT_USAGE,
    UsageError,
    check_data_arg,
    common,
    default_output,
    load_spec,
    parse_sets,
    positive_int,
    print_diagnostics,
    print_warnings,
    quiet_tensorflow,
    shown,
    verbose_option,
    warning_footer,
)

# ---- the command table: name -> (module, help); modules are imported only when run -------------
COMMANDS = {
    "check": ("archspec.commands.check", "validate specs and infer every shape"),
    "report": ("archspec.commands.report", "parameters, MACs, FLOPs and memory per layer or block"),
    "draw": ("archspec.commands.draw", "draw the architecture with Graphviz"),
    "view": ("archspec.commands.view", "explore the architecture in Google's Model Explorer (blocks, shapes, cost overlays)"),
    "compile": ("archspec.commands.compile", "build the Keras 3 model and save it as .keras"),
    "train": ("archspec.commands.train", "train a spec on images or token sequences"),
    "evaluate": ("archspec.commands.evaluate", "metrics, per-class precision/recall and a confusion matrix of a trained "
                                               "model (perplexity of a language model)"),
    "predict": ("archspec.commands.predict", "top-k classes of image files (or a data split) from a trained model"),
    "generate": ("archspec.commands.generate", "continue a text with a trained language model (a run on text)"),
    "export": ("archspec.commands.export", "export a trained model as a SavedModel, ONNX or TFLite file"),
    "inspect": ("archspec.commands.inspect", "look inside a trained run: kernels, nearest neighbours in a layer"),
    "diff": ("archspec.commands.diff", "what changed between two specs, and what it costs"),
    "sample": ("archspec.commands.sample", "write one point of a spec's search space as a plain spec"),
    "search": ("archspec.commands.search", "search a spec's space under cost budgets: price, reject, train (Optuna)"),
    "import": ("archspec.commands.import_", "write the spec of an existing Keras model (.keras file or factory)"),
    "schema": ("archspec.commands.schema", "print the JSON Schema of the spec language"),
    "lsp": ("archspec.commands.lsp", "run the language server for editors (stdio)"),
    "ops": ("archspec.commands.ops", "list the layer types with their attributes"),
}


EXAMPLES = """\
examples:
  archspec check specs/*.yaml                      validate specs, every shape inferred (no TensorFlow)
  archspec report specs/inception_a.yaml           params, MACs, FLOPs, memory per layer and block
  archspec report specs/resnet50.yaml --set stages=[3,4,23,3]    override a spec parameter (ResNet-101)
  archspec draw specs/inception_a.yaml             diagram -> out/inception_a.svg
  archspec view specs/resnet50.yaml                explore it in Model Explorer: blocks, shapes, cost overlays
  archspec compile specs/inception_a.yaml          Keras 3 model -> out/inception_a.keras
  archspec train specs/digits_cnn.yaml             train on scikit-learn's digits -> runs/digits_cnn/
  archspec diff specs/resnet50.yaml specs/resnet50.yaml --set-b stages=[3,4,23,3]
  archspec evaluate runs/digits_cnn                test metrics and per-class precision/recall of a trained run
  archspec generate runs/tiny_gpt --prompt "The "  continue a text with a language model trained on text
  archspec search specs/digits_cnn_search.yaml --budget "macs<=600K" --trials 20    search under a budget
  archspec import keras.applications.MobileNetV2 -o mobilenet_v2.yaml    the spec of a Keras model

'archspec COMMAND --help' describes a command's options; docs/ has a page per command.
"""


def build_parser(only: str | None = None):
    import importlib

    from .version import __version__

    parser = argparse.ArgumentParser(prog="archspec", description="An architecture-spec compiler for neural networks.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-V", "--version", action="version", version=f"archspec {__version__}",
                        help="print archspec's version and exit")
    parser.add_argument("--traceback", action="store_true", help="show Python tracebacks (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        if only in (None, name):     # a named command: its parser alone (each parser costs a cold start time)
            importlib.import_module(module).configure(sub.add_parser(name, help=help_, description=help_))
    return parser


def main(argv=None) -> int:
    import importlib

    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        from .errors import did_you_mean

        hint = did_you_mean(command, COMMANDS) or f"the commands: {', '.join(COMMANDS)}"
        print(f"archspec: error: unknown command '{command}' — {hint} ('archspec --help' lists them)", file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from .errors import SpecError

    try:
        status = importlib.import_module(COMMANDS[args.command][0]).run(args)
        warning_footer(args)
        return status
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
    # pydantic scans every installed package's entry points for its plugins (observers, not validation)
    # the first time it builds a validator, a cost a cold `check` would pay; the command line uses none.
    # The documented switch, for this process only (a library import leaves the caller's setting alone).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    sys.exit(main())

