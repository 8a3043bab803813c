"""archspec evaluate RUN|MODEL.keras: accuracy, loss and top-k accuracy on a data split, precision /
recall / F1 per class and the confusion matrix as a PNG; for a language model (a run with objective
next_token) the loss, perplexity and next-token accuracy (see docs/train.md)."""
from __future__ import annotations

import json
import sys

from .shared import (
    EXIT_OK,
    UsageError,
    backend_option,
    data_arg,
    open_or_usage,
    positive_int,
    quiet_tensorflow,
    rescale_arg,
    use_backend,
    verbose_option,
)


def configure(p):
    p.add_argument("target", metavar="RUN|MODEL.keras", help="a run folder written by `archspec train`, or a .keras file")
    p.add_argument("--data", metavar="SOURCE", help="data to evaluate on (default: the run's own; see docs/train.md)")
    p.add_argument("--split", choices=["test", "validation", "train"], default="test",
                   help="which part of the data to evaluate on (default test)")
    p.add_argument("--model", choices=["best", "last"], help="which model of a run (default: the one its test "
                                                              "metrics were measured with)")
    p.add_argument("--top-k", type=positive_int, default=5, help="also report top-K accuracy (default 5)")
    p.add_argument("--rescale", type=rescale_arg, help="multiply pixels by this (a bare .keras model; a run knows its own)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images (or sequences) per batch (default 256)")
    p.add_argument("--out", metavar="DIR", help="where the report goes (default RUN/evaluation-SPLIT)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text (default: metrics and a per-class table, for reading) or json (for tools)")
    backend_option(p)
    verbose_option(p)


def run(args) -> int:
    data = data_arg(args.data)
    quiet_tensorflow(args.verbose)      # before TensorFlow loads: no start-up chatter
    use_backend(args)
    from ..train.config import RunError
    from ..train.evaluate import evaluate
    from ..train.generate import is_sequence_run
    from ..train.sequence_eval import evaluate_sequence_run

    target = open_or_usage(args.target, args.model, args.rescale)
    try:
        if is_sequence_run(target):       # token sequences: perplexity, or a sequence classifier's table
            ev = evaluate_sequence_run(target, data, args.split, args.out, args.top_k, args.batch_size)
        else:
            ev = evaluate(target, data, args.split, args.out, args.top_k, args.batch_size)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(json.dumps(ev.to_json(), indent=2) + "\n" if args.format == "json" else ev.table())
    return EXIT_OK
