"""Diagnostics are data: a code, a message, a location, a scope path, a hint and notes.

Every user mistake becomes a :class:`Diagnostic`; a stage that finds mistakes raises one
:class:`SpecError` carrying all of them. Rendering follows the compiler convention::

    specs/broken.yaml:14:9: error: residual add joins (17, 17, 1024) and (17, 17, 1088)  [shape-mismatch]
       14 |         - conv_bn: {filters: 1024, kernel: 1}
          |           ^
      in: block_b_1/add
      hint: ...
"""
from __future__ import annotations

import re
from typing import Iterable, NamedTuple

# Loc, Note and Diagnostic are NamedTuples, not dataclasses: immutable, hashable, ordered by their
# fields, and free of the dataclasses import on the check path (archspec/fast/dataclasses_lite.py). A copy with
# changes is `d._replace(loc=...)`.


class Loc(NamedTuple):
    """A position in a spec file (1-based line and column). A big spec holds one per layer."""

    file: str = "<spec>"
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


class Note(NamedTuple):
    message: str
    loc: Loc | None = None


class Diagnostic(NamedTuple):
    code: str
    message: str
    loc: Loc | None = None
    scope: str | None = None
    hint: str | None = None
    notes: tuple[Note, ...] = ()
    severity: str = "error"  # "error" | "warning"
    # data for tools (de-duplication, editor quick fixes); code reads these, never the message text
    subject: str | None = None      # the name the diagnostic is about: a field, parameter, layer, op, block, file
    suggestion: str | None = None   # what the hint proposes instead of `subject` (did-you-mean)
    path: tuple = ()                # where in its file's data: ("model", 3, "conv2d", "filters")

    def sort_key(self):
        loc = self.loc or Loc("", 0, 0)
        return (loc.file, loc.line, loc.col, self.severity, self.code, self.message)

    def as_error(self) -> "Diagnostic":
        return self._replace(severity="error")

    def to_json(self) -> dict:
        out = {"severity": self.severity, "code": self.code, "message": self.message}
        if self.loc:
            out.update(file=self.loc.file, line=self.loc.line, column=self.loc.col)
        if self.scope:
            out["scope"] = self.scope
        if self.hint:
            out["hint"] = self.hint
        if self.subject is not None:
            out["subject"] = self.subject
        if self.suggestion is not None:
            out["suggestion"] = self.suggestion
        if self.path:
            out["path"] = list(self.path)
        if self.notes:
            out["notes"] = [{"message": n.message, **({"location": str(n.loc)} if n.loc else {})} for n in self.notes]
        return out


class SpecError(Exception):
    """The spec is wrong. Carries every diagnostic found by the stage that raised it.

    `str(exc)` is what the command line prints, less the quoted source lines: location, message and code,
    then the scope, notes and hint of each diagnostic (`exc.diagnostics` has them as data)."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted_unique(diagnostics)
        super().__init__("\n".join(render(d) for d in self.diagnostics))


def sorted_unique(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sort by location and drop exact repeats (a block body instantiated N times reports once)."""
    seen, out = set(), []
    for d in sorted(diags, key=Diagnostic.sort_key):
        key = (d.loc, d.code, d.message, d.severity)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def focus(loc: Loc | None, notes: tuple, main_file: str | None) -> tuple[Loc | None, tuple]:
    """Point a diagnostic about a layer made inside a block at the innermost place in the main spec:
    the layer's own line if it is there, else the block call site. The other places become notes."""
    if not main_file or loc is None or loc.file == main_file:
        return loc, notes
    for k, note in enumerate(notes):
        if note.loc and note.loc.file == main_file:
            rest = (Note("the layer is defined here", loc),) + notes[:k] + notes[k + 1:]
            return note.loc, rest
    return loc, notes


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate a user most likely meant by `word`, or None. `candidates` come in order of
    preference, the most likely last (for layer names: definition order, so the nearest wins a tie).

    A numbered name (`b1000`) means the same stem with the nearest number, not the name that shares
    the most characters (`b100`); otherwise difflib's closest match, ties going to the later candidate.

    >>> closest("b1000", ["b0", "b1", "b100", "b998", "b999"])
    'b999'
    >>> closest("kernal", ["filters", "kernel", "strides"])
    'kernel'
    >>> closest("conv", ["dense", "flatten"]) is None
    True
    >>> closest("fc1", ["conv", "FC1", "output"]), closest("Denselayer", ["dense_layer", "x"])
    ('FC1', 'dense_layer')
    """
    word = str(word)
    cands = list(dict.fromkeys(str(c) for c in candidates))
    if not cands:
        return None
    same = [c for c in cands if c.lower() == word.lower() and c != word]
    if same:                         # `fc1` for `FC1`: difflib counts every case difference as a miss
        return same[-1]
    found = _closest(word, cands)
    if found is None:
        lowered = {c.lower(): c for c in cands}
        found = _closest(word.lower(), list(lowered))
        found = lowered[found] if found is not None else None
    return found


def _closest(word: str, cands: list[str]) -> str | None:
    m = _NUMBERED.match(word)
    if m and m.group(1):
        stem, num = m.group(1), int(m.group(2))
        numbered = [(abs(int(mc.group(2)) - num), -k, c) for k, c in enumerate(cands)
                    if (mc := _NUMBERED.match(c)) and mc.group(1) == stem and c != word]
        if numbered:
            return min(numbered)[2]
    best, best_score = None, 0.6
    import difflib  # only when a did-you-mean is needed: off the start-up path

    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    for c in cands:
        matcher.set_seq1(c)
        if matcher.real_quick_ratio() >= best_score and matcher.quick_ratio() >= best_score:
            score = matcher.ratio()
            if score >= best_score:
                best, best_score = c, score
    return best


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """`hint` text naming the closest candidate, or None."""
    return hint_for(closest(word, candidates))


def hint_for(suggestion: str | None) -> str | None:
    return f"did you mean '{suggestion}'?" if suggestion is not None else None


def render(diag: Diagnostic, sources: dict[str, str] | None = None, color: bool = False) -> str:
    """Render one diagnostic as text, with the offending source line and a caret."""
    sev = diag.severity
    if color:
        c = "\033[1;31m" if sev == "error" else "\033[1;35m"
        sev_txt = f"{c}{sev}\033[0m"
    else:
        sev_txt = sev
    lines = [f"{diag.loc or '<spec>'}: {sev_txt}: {diag.message}  [{diag.code}]"]
    if diag.loc and diag.loc.line > 0 and sources and diag.loc.file in sources:
        src_lines = sources[diag.loc.file].splitlines()
        if 0 < diag.loc.line <= len(src_lines):
            text = src_lines[diag.loc.line - 1].replace("\t", " ")
            num = str(diag.loc.line)
            col = max(diag.loc.col - 1, 0)
            if len(text) > 160:                    # a 100,000-character line: a window around the caret
                start = max(col - 60, 0)
                head = "…" if start else ""
                text = head + text[start:start + 120] + ("…" if start + 120 < len(text) else "")
                col = col - start + len(head)
            lines.append(f"  {num} | {text}")
            lines.append(f"  {' ' * len(num)} | {' ' * col}^")
    if diag.scope:
        lines.append(f"  in: {diag.scope}")
    for note in diag.notes:
        where = f"{note.loc}: " if note.loc else ""
        lines.append(f"  note: {where}{note.message}")
    if diag.hint:
        lines.append(f"  hint: {diag.hint}")
    return "\n".join(lines)
