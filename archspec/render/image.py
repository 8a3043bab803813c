"""Diagrams as files: DOT text from :mod:`archspec.render.dot`, laid out by Graphviz.

The layout program is Graphviz's `dot` (run through the `graphviz` Python package when it is
installed), or, when `dot` is missing, the self-contained `graphviz-pure` (pip install
graphviz-pure), which takes the same flags but cannot write PDF. `.dot` output needs neither.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import dot as _dot

FORMATS = ("svg", "png", "pdf", "dot")
PROGRAMS = ("dot", "graphviz-pure")      # tried in this order
PNG_DPI = 144                            # crisp on high-density screens; SVG and PDF are vector
TIMEOUT_S = 600
BITMAP_LIMIT = 32767                     # cairo's largest bitmap side, in pixels; dot scales larger pictures down


class DownscaledWarning(UserWarning):
    """Graphviz had to scale a bitmap down to fit the renderer's size limit."""


class GraphvizMissing(RuntimeError):
    """No Graphviz layout program could be found (or none that writes the requested format)."""


def install_hint(fmt: str) -> str:
    return (f"Graphviz's `dot` program was not found on PATH; it is needed to write {fmt.upper()} files.\n"
            "  install it:  apt-get install graphviz   (macOS: brew install graphviz; conda: conda install graphviz)\n"
            "          or:  pip install graphviz-pure   (a self-contained `dot`, used when `dot` is missing; "
            "SVG and PNG only)\n"
            "  or write the DOT text and lay it out elsewhere:  archspec draw SPEC -o diagram.dot")


def find_program(fmt: str = "svg") -> str:
    """Path of the layout program for `fmt`. Raises GraphvizMissing with install instructions."""
    for prog in PROGRAMS:
        path = shutil.which(prog)
        if path is None:
            continue
        if prog == "graphviz-pure" and fmt == "pdf":
            raise GraphvizMissing(
                "Graphviz's `dot` was not found, and `graphviz-pure` cannot write PDF.\n"
                "  install Graphviz (apt-get install graphviz) for PDF, or write SVG or PNG instead")
        return path
    raise GraphvizMissing(install_hint(fmt))


def format_for(path, fmt: str | None = None) -> str:
    """The output format: `fmt` if given, else the file's suffix."""
    if fmt:
        fmt = fmt.lower().lstrip(".")
    else:
        fmt = Path(path).suffix.lower().lstrip(".") if path is not None else "dot"
        fmt = {"gv": "dot"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise ValueError(f"cannot write '{fmt or path}': the format must be one of {', '.join(FORMATS)} "
                         "(from the file's suffix or the format option)")
    return fmt


def dot_text(spec, depth="auto", direction: str = "TB", shapes: bool = True, color_by: str = "none",
             fold: bool = True, training=None) -> str:
    """The DOT source of `spec`'s diagram. `depth`: a level (1 = top-level blocks as boxes), None or
    "all" for every layer, or "auto" (the deepest level drawn in at most dot.AUTO_BUDGET boxes).
    `fold`: a run of identical collapsed block calls is one box, `block35 ×10`. `training`: a
    Spec.training_estimate, needed to colour by "time" or "train_memory"."""
    g = spec.graph
    analysis = spec.analysis()
    if color_by in _dot.TRAINING_METRICS:
        from ..passes.training import with_training

        if training is None:
            training = spec.training_estimate()
        if color_by == "time" and training.device is None:
            raise ValueError("colouring by time needs a device (--device NAME)")
        analysis = with_training(analysis, training)
    if depth == "auto":
        depth = _dot.auto_depth(g, fold=fold)
    elif depth == "all":
        depth = None
    elif depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"depth must be a whole number ≥ 1, 'all' or 'auto', got {depth!r}")
    return _dot.to_dot(g, analysis, depth, direction, shapes, color_by, block_defaults(spec), fold,
                       title=getattr(spec, "title", None))


def render(text: str, fmt: str, dpi: int = PNG_DPI, notes: list | None = None) -> bytes:
    """Lay out DOT `text` and return the image bytes in `fmt` (svg, png or pdf). When Graphviz has to
    scale a PNG down to fit its bitmap limit, a note saying so is appended to `notes` (or, without
    `notes`, issued as a DownscaledWarning)."""
    prog = find_program(fmt)
    data = text.encode("utf-8")
    if fmt == "png":
        out, err = _run([prog, "-Kdot", "-Tpng", f"-Gdpi={dpi}"], data, stderr=True)
        note = downscale_note(err, out, dpi)
        if note:
            if notes is None:
                import warnings

                warnings.warn(note, DownscaledWarning, stacklevel=2)
            else:
                notes.append(note)
        return out
    if Path(prog).name == "dot":
        try:
            import graphviz
        except ImportError:
            graphviz = None
        if graphviz is not None:
            try:
                # the package runs `dot` from PATH, which is the `prog` found above
                return graphviz.pipe("dot", fmt, data, quiet=True)
            except graphviz.ExecutableNotFound:
                raise GraphvizMissing(install_hint(fmt)) from None
            except graphviz.CalledProcessError as exc:
                raise RuntimeError(f"Graphviz failed: {_tail(exc.stderr)}") from None
    return _run([prog, "-Kdot", f"-T{fmt}"], data)


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def downscale_note(stderr: str, png: bytes, dpi: int) -> str | None:
    """The note for a PNG that Graphviz scaled down ("graph is too large for cairo-renderer bitmaps.
    Scaling by 0.37 to fit"), or None."""
    import re

    m = re.search(r"[Ss]caling by ([0-9.]+)", stderr or "")
    if not m:
        return None
    scale = float(m.group(1))
    size = png_size(png)
    dims = f"{size[0]:,}×{size[1]:,} px" if size else "smaller"
    return (f"the diagram is too large for a PNG at {dpi} dpi (bitmaps stop at {BITMAP_LIMIT:,} px a side), so "
            f"Graphviz scaled it by {scale:.2f}: the PNG is {dims}, about {max(1, int(dpi * scale))} dpi, and "
            "small text may be unreadable; write SVG or PDF for full detail (-o NAME.svg), or draw fewer levels "
            "(--depth 1, 2, …)")


def _run(cmd: list[str], data: bytes, stderr: bool = False):
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise GraphvizMissing(install_hint(cmd[2][2:])) from None
    if proc.returncode != 0:
        raise RuntimeError(f"Graphviz ({Path(cmd[0]).name}) failed: {_tail(proc.stderr)}")
    return (proc.stdout, proc.stderr.decode("utf-8", "replace")) if stderr else proc.stdout


def _tail(err) -> str:
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    return (err or "").strip().splitlines()[-1] if (err or "").strip() else "no message"


def draw(spec, path: str | os.PathLike | None = None, fmt: str | None = None, depth="auto", direction: str = "TB",
         shapes: bool = True, color_by: str = "none", fold: bool = True, dpi: int = PNG_DPI, training=None,
         notes: list | None = None):
    """Draw `spec`. With `path` None, return the DOT text; else write the file (format from `fmt` or
    the suffix: .svg, .png, .pdf, .dot) atomically and return its path. `notes`: see :func:`render`."""
    text = dot_text(spec, depth, direction, shapes, color_by, fold, training)
    if path is None and fmt in (None, "dot"):
        return text
    fmt = format_for(path, fmt)
    data = text.encode("utf-8") if fmt == "dot" else render(text, fmt, dpi, notes)
    if path is None:
        return data
    from ..files import atomic_write

    atomic_write(path, data)
    return Path(path)


def svg_text(spec, **options) -> str:
    """The diagram as SVG text (for Jupyter's rich display)."""
    return render(dot_text(spec, **options), "svg").decode("utf-8")


def block_defaults(spec) -> dict[str, dict]:
    """{block: {param: default}} of the parameters that have a default, as expansion parsed their declarations
    (lang/blocks.py), so labels can leave the arguments at their defaults out."""
    return {name: {p: default for p, (_, default, required) in params.items() if not required}
            for name, params in spec.graph.block_params.items()}
