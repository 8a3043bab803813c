"""archspec generate RUN --prompt TEXT: continue a text with a trained language model (a run trained with
objective next_token), greedy at temperature 0, the same text for the same --seed (see docs/train.md)."""
from __future__ import annotations

import argparse
import math
import sys

from .shared import EXIT_OK, UsageError, backend_option, non_negative_int, open_or_usage, positive_int, quiet_tensorflow, use_backend


def temperature(text: str) -> float:
    """argparse type for --temperature: a finite number ≥ 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0 (0: greedy), got '{text}'") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0 (0: always the most likely token), got {text}")
    return v


def configure(p):
    p.add_argument("target", metavar="RUN", help="a run folder written by `archspec train` on text (objective next_token)")
    p.add_argument("--prompt", required=True, metavar="TEXT", help="the text to continue")
    p.add_argument("--tokens", type=non_negative_int, default=200, metavar="N", help="new tokens to generate (default 200)")
    p.add_argument("--temperature", type=temperature, default=1.0, metavar="T",
                   help="divide the scores by T before sampling: below 1 safer, above 1 wilder; 0: greedy (default 1)")
    p.add_argument("--top-k", type=positive_int, metavar="K", help="sample among the K most likely tokens only")
    p.add_argument("--seed", type=non_negative_int, metavar="S", help="seed of the sampler: the same text every time "
                                                                      "(default: a fresh one)")
    p.add_argument("--model", choices=["best", "last"], help="which model of the run (default: the one its test "
                                                              "metrics were measured with)")
    p.add_argument("--continuation", action="store_true", help="print only the new text, not the prompt before it")
    p.add_argument("--verbose", action="store_true", help="say which model, backend and sampling made the text (on "
                                                          "stderr), and show TensorFlow's start-up log lines")
    backend_option(p, "the one the run was trained with, if installed")


def run(args) -> int:
    from pathlib import Path

    if not args.prompt:
        raise UsageError("--prompt is empty: give at least one character to continue")
    if not Path(args.target).expanduser().exists():
        raise UsageError(f"{args.target}: no such run folder")
    quiet_tensorflow(args.verbose)      # before TensorFlow loads: no start-up chatter
    backend = use_backend(args, run=args.target)
    from ..errors import Diagnostic, Loc, SpecError
    from ..train.config import RunError
    from ..train.generate import generate, language_model
    from ..train.tokens import TokenError

    target = open_or_usage(args.target, args.model)
    try:
        lm = language_model(target)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    try:
        lm.tokenizer.encode(args.prompt)
    except TokenError as exc:
        known = "".join(lm.tokenizer.chars)
        raise SpecError([Diagnostic("prompt-token", f"the prompt cannot be encoded: {exc}", Loc("--prompt"),
                                    hint=f"use only the run's {len(known)} characters: {known[:80]!r}"
                                         + ("…" if len(known) > 80 else ""))]) from None
    if not args.continuation:
        sys.stdout.write(args.prompt)
    out = sys.stdout

    def show(piece):
        out.write(piece)
        out.flush()

    try:
        g = generate(lm, args.prompt, args.tokens, args.temperature, args.top_k, args.seed, on_text=show)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    out.write("\n")
    if args.verbose:
        print(f"{len(g.ids)} tokens from {lm.label} on {backend}, temperature {g.temperature:g}"
              + (f", top-k {g.top_k}" if g.top_k else "") + (f", seed {g.seed}" if g.seed is not None else ""),
              file=sys.stderr)
    return EXIT_OK
