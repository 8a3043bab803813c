"""The text of a sequence run, found and read before anything heavy is imported (pure Python: no
numpy, no Keras), every problem a located error naming the file.

* ``text:FILE`` — one UTF-8 text file, whatever its name;
* ``text:FOLDER`` — every text file under it (``.txt .md .rst .text``, sorted by path, read one after
  the other); other files are left out with a warning;
* ``text`` with no path (and ``auto`` for a spec whose input is token ids) — the text that ships with
  archspec: its documentation (``docs/*.md`` beside the package: a source checkout or an editable
  install), else, in an installed wheel that has no docs, the package's own Python sources.

>>> files, origin = bundled()
>>> origin.startswith("archspec's "), all(f.is_file() for f in files)
(True, True)
"""
from __future__ import annotations

from pathlib import Path

from ..errors import Diagnostic, Loc
from .errors import DataError

TEXT_SUFFIXES = (".txt", ".md", ".rst", ".text")
MAX_BYTES = 1 << 30        # a GiB of text is millions of windows; more is a mistake (or a disk image)


def bundled(pkg: Path | None = None) -> tuple[list[Path], str]:
    """The bundled corpus: (files, what they are, in words). `pkg`: the archspec package folder (this one)."""
    pkg = pkg or Path(__file__).resolve().parent.parent          # …/archspec
    docs = pkg.parent / "docs"
    files = sorted(docs.glob("*.md")) if docs.is_dir() else []
    if files:
        return files, f"archspec's documentation, {len(files)} files in {docs}"
    files = sorted(f for f in pkg.rglob("*.py") if "__pycache__" not in f.parts)
    return files, f"archspec's own source code, {len(files)} .py files in {pkg} (its docs/ is not installed)"


def text_files(path: str) -> tuple[list[Path], list[Path], str]:
    """The files of `text:PATH`: (files to read, files left out, what was read in words)."""
    p = Path(path).expanduser()
    if p.is_file():
        return [p], [], str(p)
    if not p.is_dir():
        raise DataError([Diagnostic("data-missing", f"no text file or folder at '{p}'", Loc(str(p)),
                                    hint="pass --data text:FILE (UTF-8 text) or text:FOLDER (its .txt, .md, .rst "
                                         "files); --data text alone trains on archspec's own documentation")])
    files, skipped = [], []
    for f in sorted(p.rglob("*")):
        rel = f.relative_to(p)
        if not f.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        (files if f.suffix.lower() in TEXT_SUFFIXES else skipped).append(f)
    if not files:
        raise DataError([Diagnostic("data-missing", f"the folder '{p}' holds no text files "
                                    f"({', '.join(TEXT_SUFFIXES)})", Loc(str(p)),
                                    hint="put the text in .txt files there, or pass --data text:FILE for one file "
                                         "of another name")])
    return files, skipped, f"{p}, {len(files)} file{'s' * (len(files) != 1)}"


def skipped_warning(skipped: list[Path], root: str) -> Diagnostic:
    shown = ", ".join(str(f.relative_to(Path(root).expanduser())) for f in skipped[:3]) + (" …" if len(skipped) > 3 else "")
    return Diagnostic("data-skipped", f"{len(skipped)} file{'s' * (len(skipped) != 1)} in the text folder "
                      f"{'are' if len(skipped) != 1 else 'is'} not text by name and left out: {shown}", Loc(str(root)),
                      hint=f"training reads {', '.join(TEXT_SUFFIXES)}; rename the text files, or move the others out",
                      severity="warning")


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of byte `offset`."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    col = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, col


def read_text(f: Path) -> str:
    """One file as text; not UTF-8, binary (NUL bytes) or unreadable: a DataError at the spot."""
    try:
        size = f.stat().st_size
        if size > MAX_BYTES:
            raise DataError([Diagnostic("data-format", f"'{f.name}' is {size / 2 ** 30:.1f} GiB; archspec reads up to "
                                        "1 GiB of text", Loc(str(f)), hint="train on a part of it")])
        raw = f.read_bytes()
    except OSError as exc:
        raise DataError([Diagnostic("data-missing", f"cannot read '{f.name}': {exc.strerror or exc}",
                                    Loc(str(f)))]) from None
    nul = raw.find(b"\0")
    if nul >= 0:
        line, col = _position(raw, nul)
        raise DataError([Diagnostic("data-format", f"'{f.name}' is not text: it holds a NUL byte (a binary file)",
                                    Loc(str(f), line, col), hint="train on text files only; move binary files out "
                                    "of the folder")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position(raw, exc.start)
        raise DataError([Diagnostic("data-format", f"'{f.name}' is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                                    f"offset {exc.start})", Loc(str(f), line, col),
                                    hint="convert it, e.g. iconv -f latin1 -t utf-8 FILE > FILE.txt")]) from None
    return text.removeprefix("\ufeff")


def read_corpus(path: str | None) -> tuple[str, str, list[Diagnostic]]:
    """`text[:PATH]` → (the text, what it is, warnings). Files are joined with a blank line between."""
    if path:
        files, skipped, origin = text_files(path)
        warnings = [skipped_warning(skipped, path)] if skipped else []
    else:
        (files, origin), warnings = bundled(), []
    texts = [read_text(f) for f in files]
    text = "\n\n".join(t.strip("\n") for t in texts if t.strip())
    if not text.strip():
        where = files[0] if len(files) == 1 else Path(path or files[0].parent)
        raise DataError([Diagnostic("data-format", f"'{where}' holds no text" + (" (every file is empty)"
                                    if len(files) > 1 else " (the file is empty)"), Loc(str(where)))])
    return text, origin, warnings


__all__ = ["bundled", "read_corpus", "read_text", "text_files", "TEXT_SUFFIXES"]
