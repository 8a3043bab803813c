"""A fast reader for the plain YAML that large specs are made of, or a polite "no".

Generated specs of tens of thousands of layers are line after line of the same few shapes::

    model:
      - conv2d: {filters: 16, kernel: 3, padding: same, use_bias: false}
      - batch_norm: {}

PyYAML (even on libyaml) hands such a file over as Python event objects with two position marks each,
so reading alone costs several times what this reader's whole read does, per layer, before archspec has
looked at anything (docs/design.md has the measurement). This reader handles a
strict subset — block mappings and sequences indented with spaces, one-line flow mappings and lists,
plain names, decimal integers and floats, true/false/null, comments — and builds the same data and
the same position tables (:mod:`.positions`) as the YAML walk in :mod:`archspec.lang.source`, reading each distinct
line once (a repeated line is rebuilt from its template: fresh containers, positions moved to its line).

Anything outside the subset — quotes, anchors, tags, block scalars, multi-line flow collections,
expressions (`$…`), YAML 1.1's yes/no/on/off, a duplicate key, an empty value, odd indentation,
tabs, non-ASCII text outside comments, limits — makes :func:`read` return None, and the spec is read by
PyYAML as before (which also finds and words every error). ``tests/test_yaml_lite.py`` holds both
readers equal, data and every position, on every spec in the repository and on generated variants.
"""
from __future__ import annotations

import re
from sys import intern

from .positions import Rows

# plain scalars that YAML 1.1 reads as something other than a string (shared with lang/source.py's walk)
NOT_STR = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False",
           "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL"}
# a decimal float (YAML 1.1 would leave `1e-3` a string; archspec reads it as a number), anchored
FLOAT_PATTERN = r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)\Z|[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)\Z"

_SHIFT = 24
_WORDS = {"true": True, "false": False, "null": None}
# the other YAML 1.1 words PyYAML reads as something else than text (yes, on, True, ...): declined
_SPECIAL = NOT_STR - _WORDS.keys()
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(FLOAT_PATTERN)
# a flow token: an indicator, or a key (a name then ": "), or a scalar
_FLOW = re.compile(r" *(?:([{}\[\],])|([A-Za-z_][A-Za-z0-9_]*): +|([^ {}\[\],:#]+))")
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(?: +|\Z)")
# what PyYAML's reader refuses anywhere in a stream, comments included (yaml/reader.py), and the line
# breaks YAML 1.1 knows besides "\n" (NEL, LS, PS: a comment would end there)
# (written as the complement of PyYAML's printable set: a few excluded ranges compile far faster than
# the long class of allowed ones)
_NON_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_MARKER = re.compile(r"^(?:---|\.\.\.)", re.M)
_BAD = re.compile(r"[$\t'\"&*!|>%@`?\\\r]")           # (non-ASCII text is found by str.isascii)


class _No(Exception):
    """Outside the subset: PyYAML reads this text."""


def _scalar(tok: str):
    w = _WORDS.get(tok, _No)
    if w is not _No:
        return w
    if _NAME.match(tok):
        if tok in _SPECIAL:
            raise _No
        return intern(tok) if len(tok) <= 24 else tok
    if _INT.match(tok):
        if len(tok) > 18:
            raise _No                            # perhaps past 64 bits: PyYAML's path words the error
        return int(tok)
    if _FLOAT.match(tok):
        return float(tok)
    raise _No


def read(text: str, max_nodes: int, max_depth: int) -> tuple[object, Rows] | None:
    """(data, position rows) of `text`, or None when PyYAML must read it."""
    if "\t" in text or "\r" in text:
        return None
    try:
        return _Reader(text, max_nodes, max_depth).document()
    except (_No, RecursionError, IndexError):
        return None


class _Reader:
    def __init__(self, text: str, max_nodes: int, max_depth: int):
        if _MARKER.search(text) or _NON_PRINTABLE.search(text):
            raise _No                            # document markers (---, ...); characters YAML refuses anywhere
        lines = []                               # (line number, indent, content) of the lines that say something
        if "#" not in text:                      # no comments: one check of the whole text
            if _BAD.search(text) or not text.isascii():
                raise _No
            for n, raw in enumerate(text.split("\n"), 1):
                s = raw.lstrip(" ")
                if s:
                    lines.append((n, len(raw) - len(s), s.rstrip(" ")))
        else:
            for n, raw in enumerate(text.split("\n"), 1):
                s = raw.lstrip(" ")
                if not s or s[0] == "#":
                    continue
                indent = len(raw) - len(s)
                if "#" in s:
                    k = s.find(" #")
                    if k < 0 or s.find("#") < k:
                        raise _No                # a '#' inside a value
                    s = s[:k]
                s = s.rstrip(" ")
                if _BAD.search(s) or not s.isascii():
                    raise _No
                lines.append((n, indent, s))
        self.lines = lines
        self.i = 0
        self.rows = Rows()
        self.count = 0
        self.max_nodes, self.max_depth = max_nodes, max_depth
        self.templates: dict = {}                # value text -> (builder, levels, nodes)
        self.items: dict = {}                    # `- key: value` text -> the same for its one-key mapping, or False

    def document(self):
        if not self.lines:
            return None
        n, indent, s = self.lines[0]
        if indent != 0 or not _KEY.match(s):
            raise _No
        data, pos = self.mapping(0, 0)
        if self.i != len(self.lines) or self.count > self.max_nodes:
            raise _No
        self.rows.root = pos
        self.rows.skeleton = data
        return data, self.rows

    # ---- block structure ----------------------------------------------------------------------
    def node_below(self, parent_indent: int, depth: int, seq_ok_at: int):
        """The block value that starts on the next line: a mapping or sequence indented deeper than
        its key (a sequence may also sit at the key's own indent)."""
        if self.i >= len(self.lines):
            raise _No                            # an empty value
        n, indent, s = self.lines[self.i]
        if s[0] == "-" and (len(s) == 1 or s[1] == " ") and (indent > parent_indent or indent == seq_ok_at):
            return self.sequence(indent, depth)
        if indent > parent_indent and _KEY.match(s):
            return self.mapping(indent, depth)
        raise _No

    def mapping(self, col: int, depth: int, first: str | None = None):
        """A block mapping whose keys sit at column `col` (0-based); `first` is the rest of a
        `- key: …` line already consumed up to the key."""
        if depth > self.max_depth:
            raise _No
        self.count += 1
        out: dict = {}
        row: list = []
        start = None
        while True:
            if first is not None:
                n, s = self.lines[self.i][0], first
                first = None
            else:
                if self.i >= len(self.lines):
                    break
                n, indent, s = self.lines[self.i]
                if indent != col:
                    if indent > col:
                        raise _No
                    break
            m = _KEY.match(s)
            if m is None:
                raise _No
            key = m.group(1)
            if key in _WORDS or key in _SPECIAL or key in out:
                raise _No
            key = intern(key) if len(key) <= 24 else key
            kpos = n << _SHIFT | (col + 1)
            if start is None:
                start = kpos
            rest = s[m.end():]
            self.i += 1
            if rest:
                value, vpos = self.inline(rest, n, col + m.end(), depth + 1)
            else:
                value, vpos = self.node_below(col, depth + 1, col)
            out[key] = value
            row.append(kpos)
            row.append(vpos)
        self.rows.add(out, row)
        return out, start

    def sequence(self, col: int, depth: int):
        if depth > self.max_depth:
            raise _No
        self.count += 1
        out: list = []
        row: list = []
        lines = self.lines
        start = None
        while self.i < len(lines):
            n, indent, s = lines[self.i]
            if indent != col or s[0] != "-":
                if indent > col:
                    raise _No
                break
            if len(s) == 1 or s[1] != " ":
                raise _No
            rest = s[2:].lstrip(" ")
            c = col + len(s) - len(rest)
            if start is None:
                start = n << _SHIFT | (col + 1)
            if not rest or rest[0] == "-":
                raise _No
            t = self.items.get(rest)
            if t is None:
                t = self.items[rest] = self.item_template(rest)
            if t and (self.i + 1 == len(lines) or lines[self.i + 1][1] != c):
                build, levels, nodes = t             # `- key: value` alone on its line: a one-key mapping
                if depth + 1 + levels > self.max_depth:
                    raise _No
                self.count += nodes
                self.i += 1
                value, vpos = build(n << _SHIFT, c, self.rows)
                out.append(value)
                row.append(vpos)
                continue
            m = _KEY.match(rest)
            if m is not None:                    # `- key: …`: a mapping whose keys sit at column c
                value, vpos = self.mapping(c, depth + 1, first=rest)
            else:
                self.i += 1
                value, vpos = self.inline(rest, n, c, depth + 1)
            out.append(value)
            row.append(vpos)
        self.rows.add(out, row)
        return out, start

    # ---- one-line values ----------------------------------------------------------------------
    def inline(self, s: str, line: int, col: int, depth: int):
        """A value written on one line from column `col` (0-based): a scalar or a flow collection."""
        t = self.templates.get(s)
        if t is None:
            t = self.templates[s] = self.template(s)
        build, levels, nodes = t
        if depth + levels > self.max_depth:
            raise _No
        self.count += nodes
        return build(line << _SHIFT, col, self.rows)

    def item_template(self, rest: str):
        """(builder, levels, nodes) for a sequence item `key: value` that is a whole one-key mapping, or
        False when it is not of that form (the general path reads it)."""
        m = _KEY.match(rest)
        if m is None or m.end() == len(rest):
            return False
        key = m.group(1)
        if key in _WORDS or key in _SPECIAL:
            raise _No
        key = intern(key) if len(key) <= 24 else key
        value = rest[m.end():]
        t = self.templates.get(value)
        if t is None:
            t = self.templates[value] = self.template(value)
        vbuild, levels, nodes = t
        off = m.end()

        def build(base, col, rows):
            v, vpos = vbuild(base, col + off, rows)
            d = {key: v}
            here = base | (col + 1)
            rows.add(d, [here, vpos])
            return d, here
        return build, levels + 1, nodes + 1

    def template(self, s: str):
        """(builder, levels, nodes) for the value `s`; the builder: (line << 24, 0-based column, rows) →
        (a fresh value, its packed position)."""
        if s[0] not in "{[":
            v = _scalar(s)
            return (lambda base, col, rows: (v, base | (col + 1))), 0, 1
        toks = [(m.start(1) if m.group(1) else m.start(2) if m.group(2) else m.start(3), m.group(1), m.group(2),
                 m.group(3)) for m in _FLOW.finditer(s)]
        if sum(len(m.group(0)) for m in _FLOW.finditer(s)) != len(s):
            raise _No                            # something the tokens do not cover
        shape, k = self.flow(toks, 0)
        if k != len(toks):
            raise _No

        def build(base, col, rows, shape=shape):
            return _build(shape, base, col + 1, rows)
        return build, _depth(shape), _count(shape)

    def flow(self, toks, k: int):
        """Parse a flow collection starting at toks[k] into a shape: ("map", offset, [(key, koff, shape)])
        / ("seq", offset, [shape]) / ("val", offset, value). Returns (shape, next k)."""
        off, ind, key, scal = toks[k]
        if ind == "{":
            items = []
            k += 1
            if toks[k][1] == "}":
                return ("map", off, items), k + 1
            while True:
                koff, kind, kname, kscal = toks[k]
                if kname is None or kname in _WORDS or kname in _SPECIAL or any(x[0] == kname for x in items):
                    raise _No
                shape, k = self.value(toks, k + 1)
                items.append((intern(kname) if len(kname) <= 24 else kname, koff, shape))
                sep = toks[k][1] if k < len(toks) else None
                if sep == "}":
                    return ("map", off, items), k + 1
                if sep != ",":
                    raise _No
                k += 1
        if ind == "[":
            items = []
            k += 1
            if k < len(toks) and toks[k][1] == "]":
                return ("seq", off, items), k + 1
            while True:
                shape, k = self.value(toks, k)
                items.append(shape)
                sep = toks[k][1] if k < len(toks) else None
                if sep == "]":
                    return ("seq", off, items), k + 1
                if sep != ",":
                    raise _No
                k += 1
        raise _No

    def value(self, toks, k: int):
        if k >= len(toks):
            raise _No
        off, ind, key, scal = toks[k]
        if ind in ("{", "["):
            return self.flow(toks, k)
        if scal is None:
            raise _No                            # a key where a value belongs ([a: 1]), or a stray indicator
        return ("val", off, _scalar(scal)), k + 1


def _count(shape) -> int:
    kind = shape[0]
    if kind == "val":
        return 1
    if kind == "map":
        return 1 + sum(_count(s) for _, _, s in shape[2])
    return 1 + sum(_count(s) for s in shape[2])


def _depth(shape) -> int:
    if shape[0] == "val":
        return 0
    items = shape[2]
    if not items:
        return 0
    return 1 + max(_depth(s if shape[0] == "seq" else s[2]) for s in items)


def _build(shape, base: int, col1: int, rows: Rows):
    """A fresh value of `shape` whose text starts at 1-based column col1 of the line `base`, with its rows."""
    kind, off, items = shape
    pos = base | (col1 + off)
    if kind == "val":
        return items, pos
    row = []
    if kind == "map":
        out = {}
        for key, koff, s in items:
            row.append(base | (col1 + koff))
            if s[0] == "val":
                out[key] = s[2]
                row.append(base | (col1 + s[1]))
            else:
                out[key], vpos = _build(s, base, col1, rows)
                row.append(vpos)
    else:
        out = []
        for s in items:
            if s[0] == "val":
                out.append(s[2])
                row.append(base | (col1 + s[1]))
            else:
                v, vpos = _build(s, base, col1, rows)
                out.append(v)
                row.append(vpos)
    rows.add(out, row)
    return out, pos
