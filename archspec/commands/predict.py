"""archspec predict RUN|MODEL.keras IMAGES…|--data SOURCE: the top-k classes of each image with their
probabilities, as a table, CSV or JSON (see docs/train.md)."""
from __future__ import annotations

import sys
from pathlib import Path

from .shared import EXIT_OK, UsageError, check_data_arg, positive_int, quiet_tensorflow, shown, verbose_option


def configure(p):
    p.add_argument("target", metavar="RUN|MODEL.keras", help="a run folder written by `archspec train`, or a .keras file")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files or folders of them (png, jpg, bmp, gif)")
    p.add_argument("--data", metavar="SOURCE", help="predict a split of this data source instead of image files "
                                                    "(`--data run`: the run's own data)")
    p.add_argument("--split", choices=["test", "validation", "train"], default="test", help="with --data (default test)")
    p.add_argument("--limit", type=positive_int, help="with --data: the first N images of the split")
    p.add_argument("--top-k", type=positive_int, default=3, help="classes per image (default 3)")
    p.add_argument("--model", choices=["best", "last"], help="which model of a run (default: the one its test "
                                                              "metrics were measured with)")
    p.add_argument("--rescale", type=rescale_arg, help="multiply pixels by this (a bare .keras model; a run knows its own)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images per batch (default 256)")
    p.add_argument("--format", choices=["table", "csv", "json"], help="table, csv or json (default: by -o's suffix, else table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the predictions here (.csv or .json) instead of stdout")
    backend_option(p)
    verbose_option(p)


def backend_option(p):
    p.add_argument("--backend", choices=["jax", "tensorflow", "torch", "auto"],
                   help="Keras backend (default: KERAS_BACKEND, else ~/.keras/keras.json's if installed, else auto)")


def use_backend(args) -> None:
    """Settle the Keras backend before anything imports Keras (as train does)."""
    from ..train.backend import activate
    from ..train.config import RunError

    try:
        activate(getattr(args, "backend", None))
    except RunError as exc:
        raise UsageError(str(exc)) from None


def rescale_arg(text: str) -> float:
    """argparse type for --rescale: a number or a fraction such as 1/255."""
    import argparse

    from ..lang.training import _fraction

    v = _fraction(text)
    try:
        return float(v)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number or a fraction such as 1/255, got '{text}'") from None


def data_arg(text):
    """`--data` checked like train's (exit 2 on a wrong one); `run` means the run's own data."""
    return None if text == "run" else check_data_arg(text) or None


def _scales_input(layer) -> bool:
    """A Keras layer that maps raw input values to a range (Rescaling, Normalization), as its op says."""
    from ..ops import of_keras_class

    op = of_keras_class(type(layer).__name__, type(layer).__module__)
    return op is not None and op.scales_input


def open_or_usage(path, which, rescale):
    from ..train.config import RunError
    from ..train.export import takes_ids
    from ..train.runs import open_target

    try:
        target = open_target(path, which, rescale)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    ids = takes_ids(target.model.inputs[0])   # token ids: no pixels
    if target.run is None and rescale is None and not ids and not any(_scales_input(layer) for layer in target.model.layers):
        print(f"note: {path} has no rescaling layer and no run folder says how it was trained: pixels go in as "
              "stored; pass --rescale 1/255 if it was trained on rescaled images",
              file=sys.stderr)
    return target


def run(args) -> int:
    if args.images and args.data:
        raise UsageError("give image files or --data, not both")
    if not args.images and not args.data:
        raise UsageError("nothing to predict: give image files (or folders), or --data SOURCE (--data run for the "
                         "run's own data)")
    fmt = args.format or {".csv": "csv", ".json": "json"}.get(Path(args.output).suffix.lower() if args.output else "",
                                                             "table")
    data = data_arg(args.data)
    quiet_tensorflow(args.verbose)      # before TensorFlow loads: no start-up chatter
    use_backend(args)
    from ..train.config import RunError
    from ..train.predict import predict, render

    target = open_or_usage(args.target, args.model, args.rescale)
    from ..train.generate import is_sequence_run

    if is_sequence_run(target) and len(target.model.outputs[0].shape) == 3:
        raise UsageError(f"{args.target} is a language model (a score for every next token), not a classifier: "
                         f"`archspec generate {args.target} --prompt TEXT` continues a text, `archspec evaluate` "
                         "gives its perplexity")
    try:
        rows = predict(target, args.images, data if args.data else None, args.split, args.top_k, args.batch_size,
                       args.limit)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    text = render(rows, fmt)
    if args.output:
        from ..files import atomic_write

        atomic_write(Path(args.output), text.encode())
        print(f"{len(rows)} predictions: wrote {shown(args.output)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK
