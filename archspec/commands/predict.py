"""archspec predict RUN|MODEL.keras IMAGES…|--data SOURCE: the top-k classes of each image with their
probabilities, as a table, CSV or JSON (see docs/train.md)."""
from __future__ import annotations

import sys
from pathlib import Path

from .shared import (
    EXIT_OK,
    UsageError,
    backend_option,
    data_arg,
    open_or_usage,
    positive_int,
    quiet_tensorflow,
    rescale_arg,
    shown,
    use_backend,
    verbose_option,
)


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
