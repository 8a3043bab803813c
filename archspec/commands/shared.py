"""What every command shares: exit statuses, the usage error, printing diagnostics and warnings,
argument types, default output paths, loading a spec with `--set`/`--limit`, quieting TensorFlow.
Commands import this module, never :mod:`archspec.cli` (which only dispatches to them)."""
from __future__ import annotations

import argparse
import os
import re
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
    from ..errors import render

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


class WarningVolume:
    """How many warnings one command prints — one design for every command that loads specs:

    - by default each distinct warning once: a warning with the same code and message as one already
      printed for an earlier spec of this command (another spec of a multi-file `check` including the same block library,
      the same mistake copied into several specs) is not printed again, but listed in the footer;
    - `--max-warnings N` prints the first N and counts the rest in the footer;
    - `--no-warnings` prints none and counts them in the footer.
    Errors (and warnings made errors by --strict) are always printed. A spec's `ignore_warnings:` list
    drops codes it accepts before any of this."""

    def __init__(self, args):
        self.limit = 0 if getattr(args, "no_warnings", False) else getattr(args, "max_warnings", None)
        self.flag = "--no-warnings" if getattr(args, "no_warnings", False) else "--max-warnings"
        self.seen: set = set()
        self.printed = 0
        self.hidden = 0
        self.repeats: dict = {}          # (code, message) -> [locations]

    def select(self, diags) -> list:
        """The diagnostics of one spec to print. Repeats are judged against earlier specs only: within one
        spec, the same message at two places is two findings."""
        out, mine = [], set()
        for d in diags:
            if d.severity != "warning":
                out.append(d)
                continue
            key = (d.code, d.message)
            if key in self.seen:
                self.repeats.setdefault(key, []).append(str(d.loc) if d.loc else "<spec>")
                continue
            if self.limit is not None and self.printed >= self.limit:
                self.hidden += 1
                continue
            mine.add(key)
            self.printed += 1
            out.append(d)
        self.seen |= mine
        return out

    def footer(self) -> list[str]:
        lines = []
        n = sum(len(v) for v in self.repeats.values())
        if n:
            where = "; ".join(f"[{code}] {', '.join(locs[:3])}{' …' if len(locs) > 3 else ''}"
                              for (code, _), locs in self.repeats.items())
            lines.append(f"note: {n} more warning{'s' * (n != 1)} repeat{'s' * (n == 1)} one{'s' * (n != 1)} "
                         f"printed above: {where}")
        if self.hidden:
            how = self.flag if self.flag == "--no-warnings" else \
                f"--max-warnings {self.limit}; --max-warnings {self.printed + self.hidden} shows all"
            lines.append(f"note: {self.hidden} warning{'s' * (self.hidden != 1)} not shown ({how})")
        return lines


def print_warnings(diags, sources, args) -> None:
    """Print a spec's warnings (or, under --strict, errors) through the command's WarningVolume."""
    volume = getattr(args, "_warning_volume", None)
    if volume is None:
        volume = args._warning_volume = WarningVolume(args)
    print_diagnostics(volume.select(diags), sources, fmt=getattr(args, "diagnostics", "text"))


def warning_footer(args) -> None:
    volume = getattr(args, "_warning_volume", None)
    lines = volume.footer() if volume is not None else []
    if lines:
        sys.stdout.flush()
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()


def _whole_number(v: str, least: int, words: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{v}'") from None
    if n < least:
        raise argparse.ArgumentTypeError(f"{words}, got {n}")
    return n


def non_negative_int(v: str) -> int:
    """argparse type for limits that may be zero (--max-warnings 0)."""
    return _whole_number(v, 0, "must be 0 or more")


def positive_int(v: str) -> int:
    """argparse type for counts (epochs, batch sizes, neighbours): a whole number ≥ 1."""
    return _whole_number(v, 1, "must be at least 1")


OUT_DIR = "out"      # where draw and compile write without -o (ignored by the repository's .gitignore)


def default_output(spec_path: str, fallback_name: str, suffix: str, args=None) -> Path:
    """`out/<spec file name><suffix>` in the current folder: predictable, one place, never beside the
    spec (so a clone's specs/ stays clean). Standard input uses the spec's `name:`; `--set` overrides
    are added to the name (out/resnet50_stages_3_4_23_3.svg), so variants do not overwrite each other."""
    from ..overrides import variant_name

    stem = fallback_name if spec_path == "-" else Path(spec_path).stem
    overrides = parse_sets(getattr(args, "set", None)) if args is not None else {}
    return Path(OUT_DIR) / f"{variant_name(stem, overrides)}{suffix}"


def shown(path) -> str:
    """A path as reported after writing it: absolute, so the user can open or copy it from anywhere."""
    return str(Path(path).absolute())


def parse_sets(items, option: str = "--set") -> dict:
    """`--set width=0.5` → {"width": 0.5}; values are read as YAML scalars."""
    import yaml

    out = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"{option} expects NAME=VALUE, got '{item}'")
        name, raw = item.split("=", 1)
        try:
            out[name.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[name.strip()] = raw
    return out


def check_data_arg(text: str | None) -> str | None:
    """`--data KIND:PATH` (train, search, evaluate, predict) checked before anything loads: a usage error (exit 2)."""
    if text:
        from ..train.config import parse_data_arg

        try:
            parse_data_arg(text)
        except ValueError as exc:
            raise UsageError(f"--data: {exc}") from None
    return text


# ---- commands that open a trained model (predict, evaluate, export, inspect, generate) ---------------
def backend_option(p, default="KERAS_BACKEND, else ~/.keras/keras.json's if installed, else auto") -> None:
    p.add_argument("--backend", choices=["jax", "tensorflow", "torch", "auto"], help=f"Keras backend (default: {default})")


def use_backend(args, run=None) -> str:
    """Settle the Keras backend before anything imports Keras (as train does): --backend, else — given
    `run`, a run folder or a model file in one — the backend that run was trained with if it is installed,
    else the usual default. Returns the backend's name."""
    from ..train.backend import NAMES, PACKAGE, activate, installed, of_run
    from ..train.errors import RunError

    requested = getattr(args, "backend", None)
    if requested is None and run is not None and "keras" not in sys.modules:
        recorded = of_run(run)
        if recorded and installed(PACKAGE[recorded]):
            requested = recorded
        elif recorded:
            print(f"note: the run was trained on {NAMES[recorded]}, which is not installed here; using another "
                  "backend (--backend chooses)", file=sys.stderr)
    try:
        return activate(requested)
    except RunError as exc:
        raise UsageError(str(exc)) from None


def rescale_arg(text: str) -> float:
    """argparse type for --rescale: a number or a fraction such as 1/255."""
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


def open_or_usage(path, which, rescale=None):
    """The run's (or .keras file's) model, `which` of best/last; a run that cannot be opened is a usage
    error. An image model with no rescaling layer and no run to say how it was trained gets a note."""
    from ..train.errors import RunError
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


def parse_limits(items):
    from ..lang.source import DEFAULT_LIMITS

    limits = DEFAULT_LIMITS
    names = list(limits._fields)
    for item in items or []:
        name, _, raw = item.partition("=")
        if name not in names:
            raise UsageError(f"--limit: unknown limit '{name}' (limits: {', '.join(names)})")
        try:
            limits = limits._replace(**{name: int(raw)})
        except ValueError:
            raise UsageError(f"--limit {name}: expected a whole number, got '{raw}'") from None
    return limits


def load_spec(path: str, args):
    """Load one spec (or '-' for stdin) with the common options; returns (spec, sources)."""
    from .. import api
    from ..errors import SpecError

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
    quiet = p.add_mutually_exclusive_group()
    quiet.add_argument("--no-warnings", action="store_true",
                       help="print no design warnings (errors always print; a note says how many were hidden)")
    quiet.add_argument("--max-warnings", type=non_negative_int, metavar="N",
                       help="print at most N warnings, then say how many more there are (default: each distinct "
                            "warning once)")


# ---- TensorFlow's start-up chatter ------------------------------------------------------------
# Lines TensorFlow/XLA/absl print on stderr while loading, whatever TF_CPP_MIN_LOG_LEVEL says (the absl
# ones come before absl's logging is set up): noise to a user, shown with --verbose. They are third-party
# text, matched here and nowhere else; a line that matches none of them is passed through untouched.
_TF_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|cpu_feature_guard\.cc"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|Attempting to register factory for plugin"
    r"|computation_placer\.cc.*already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
    r"|Could not find cuda drivers on your machine"
    r"|failed call to cuInit"
    r"|cuda_(executor|driver|diagnostics)\.cc"
    r"|Unable to initialize backend '(cuda|rocm|tpu)'"
    r"|An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not installed")
_quiet_installed = False


def verbose_option(p) -> None:
    """`--verbose` for the commands that load TensorFlow/Keras."""
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow's start-up log lines (hidden by default)")


# The filter runs in a small child process, not a thread: when TensorFlow aborts the process (a fatal
# "Check failed" log, then abort()), everything it wrote is still in the pipe, and the child, which
# outlives it, passes it on before it sees the end of the pipe.
_FILTER = r"""
import re, sys
noise = re.compile(sys.argv[1])
out = sys.stdout.buffer
for line in iter(sys.stdin.buffer.readline, b""):
    if not noise.search(line.decode("utf-8", "replace")):
        out.write(line)
        out.flush()
"""


def quiet_tensorflow(verbose: bool = False) -> None:
    """Call before Keras/TensorFlow load. Unless `verbose`, the process's stderr (file descriptor 2, where
    TensorFlow's C++ code writes, at import and later when devices and kernels initialise) goes through a
    filter that drops the start-up lines in _TF_NOISE and passes every other line on at once. At exit the
    filter is removed after it has drained; if the process dies, the filter still drains."""
    global _quiet_installed
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")       # INFO and WARNING of TensorFlow's C++ logging
    if verbose or _quiet_installed:
        return
    import atexit
    import subprocess

    sys.stderr.flush()
    try:
        real = os.dup(2)
        child = subprocess.Popen([sys.executable, "-S", "-c", _FILTER, _TF_NOISE.pattern], stdin=subprocess.PIPE,
                                 stdout=real, stderr=real, close_fds=True)
    except OSError:
        return
    os.dup2(child.stdin.fileno(), 2)
    _quiet_installed = True

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real, 2)          # fd 2 back to the terminal; closing our end below lets the filter finish
        try:
            child.stdin.close()
            child.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass

    atexit.register(restore)
