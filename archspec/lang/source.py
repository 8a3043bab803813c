"""Read a spec file safely into plain Python data plus a map of source positions.

YAML is composed with PyYAML's *safe* loader, so a `!!python/...` tag is an error, never an object.
The same walk that turns YAML nodes into data records the line/column of every key and value
under the path tuple that pydantic uses in an error's `loc` (`("model", 3, "conv2d", "filters")`)
and enforces the limits that keep a hostile file from exhausting the machine.
JSON is parsed by the standard library (for its exact syntax errors) and positioned by the same
YAML walk, since JSON is a subset of YAML's flow style. Plain block YAML — what big generated specs are
made of — is read without PyYAML by :mod:`archspec.fast.yaml_lite`, to the same data and positions.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from sys import intern as _intern
from typing import NamedTuple

from ..errors import Diagnostic, Loc, Note, SpecError
from ..fast.dataclasses_lite import Record
from ..fast.positions import Table
from ..fast.yaml_lite import FLOAT_PATTERN  # (the scalar rules both readers share)
from ..fast.yaml_lite import NOT_STR as _NOT_STR

Path_ = tuple  # a path into the document: ("model", 3, "conv2d", "filters")


class Limits(NamedTuple):
    """Safety limits; each is documented in docs/errors.md and settable from the CLI (`--limit`)."""

    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 500_000       # YAML nodes after alias expansion
    max_aliases: int = 1_000       # re-uses of an anchored mapping or list (`*alias`)
    max_repeat: int = 10_000        # one `repeat:` count
    max_layers: int = 200_000       # nodes in the expanded graph
    max_block_depth: int = 64       # nested block calls
    max_expr_size: int = 4096       # bits of an integer, characters of a string, items of a list, in an expression
    max_expr_work: int = 2_000_000  # tokens evaluated, over all the expressions of a spec


DEFAULT_LIMITS = Limits()


class Source(Record):
    """One file's text, data and positions."""

    _fields = ("file", "path", "text", "data", "values", "keys")

    def __init__(self, file: str, path: Path | None, text: str, data: object, values: dict | None = None,
                 keys: dict | None = None):
        self.file = file          # as shown in diagnostics
        self.path = path
        self.text = text
        self.data = data
        self.values = {} if values is None else values   # path -> (line, col) or Loc of the value (positions.Table)
        self.keys = {} if keys is None else keys         # path -> (line, col) or Loc of the key naming it

    def loc(self, path: Path_, key: bool = False) -> Loc:
        """Best location for `path`: the exact entry, else its nearest recorded ancestor."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            found = table.get(p)
            if found is None and not key:
                found = self.keys.get(p)
            if found is not None:
                return self._loc(found)
            p = p[:-1]
        return self._loc(self.values.get((), (1, 1)))

    def first_key_loc(self, mapping: dict, path: Path_) -> Loc:
        """`loc(path, key=True)` where `path` leads to the first key of `mapping` (a layer entry),
        read from the position rows directly when `mapping` is part of this file's data."""
        keys = self.keys
        if keys.__class__ is Table:
            p = keys.row_pos(mapping, 0)
            if p:
                return Loc(self.file, p >> 24, p & 0xFFFFFF)
        return self.loc(path, key=True)

    def _loc(self, mark) -> Loc:
        return mark if isinstance(mark, Loc) else Loc(self.file, mark[0], mark[1])


def read_text(path: Path, display: str, limits: Limits = DEFAULT_LIMITS) -> str:
    try:
        if path.is_dir():
            raise SpecError([Diagnostic("file-not-found", f"'{display}' is a directory, not a spec file",
                                        Loc(display), hint="pass a .yaml, .yml or .json file")])
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise SpecError([Diagnostic("limit", f"the file is {size:,} bytes; the limit is {limits.max_bytes:,}",
                                        Loc(display), hint="raise it with --limit max_bytes=N if the file is genuine")])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError([Diagnostic("file-not-found", f"no such file: '{display}'", Loc(display),
                                    hint=nearby_file_hint(path, display))]) from None
    except PermissionError:
        raise SpecError([Diagnostic("file-not-found", f"cannot read '{display}': permission denied", Loc(display))]) from None
    except OSError as exc:
        raise SpecError([Diagnostic("file-not-found", f"cannot read '{display}': {exc.strerror}", Loc(display))]) from None
    return decode(raw, display)


SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def nearby_file_hint(path: Path, display: str, suffixes: tuple = SPEC_SUFFIXES) -> str | None:
    """'did you mean ...?' for a path that does not exist, from the spec files near it: the closest
    existing folder on the way to it, and the folders just inside that one (so both `specs/inceptoin_a.yaml`
    and `spec/inception_a.yaml` find `specs/inception_a.yaml`). Answered in the form the user typed."""
    import difflib
    import os

    typed = Path(display)
    base, parts = path, []                 # the closest existing ancestor, and what was typed below it
    while not base.is_dir():
        parts.insert(0, base.name)
        if base.parent == base:
            return None
        base = base.parent
    typed_base = typed
    for _ in parts:
        typed_base = typed_base.parent
    want = "/".join(parts)

    def files(folder: str, rel: str, depth: int) -> list[str]:      # spec files exactly `depth` folders down
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)[:500]
        except OSError:
            return []
        if depth == 0:
            return [rel + e.name for e in entries if e.is_file() and e.name.endswith(suffixes)]
        return [f for e in entries if e.is_dir() and not e.name.startswith((".", "_"))
                for f in files(e.path, f"{rel}{e.name}/", depth - 1)]

    cands = files(str(base), "", len(parts) - 1) if len(parts) <= 3 else []
    match = difflib.get_close_matches(want, cands, n=1, cutoff=0.6)
    if match:
        shown = match[0] if str(typed_base) in ("", ".") else f"{typed_base.as_posix()}/{match[0]}"
        return f"did you mean '{shown}'?"
    return None


def decode(raw: bytes, display: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raise SpecError([Diagnostic("encoding", "the file starts with a UTF-8 byte-order mark", Loc(display, 1, 1),
                                    hint="save the file as UTF-8 without BOM")])
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError([Diagnostic("encoding", "the file is UTF-16, not UTF-8", Loc(display, 1, 1),
                                    hint="save the file as UTF-8")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError([Diagnostic("encoding", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
                                    Loc(display, line, col), hint="save the file as UTF-8")]) from None


def parse(text: str, display: str, path: Path | None = None, limits: Limits = DEFAULT_LIMITS,
          fmt: str | None = None) -> Source:
    """Parse YAML or JSON text (by `fmt`, else by extension, else by content)."""
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise SpecError([Diagnostic("limit", f"the spec is larger than {limits.max_bytes:,} bytes", Loc(display))])
    if text.startswith("\ufeff"):
        raise SpecError([Diagnostic("encoding", "the text starts with a byte-order mark", Loc(display, 1, 1),
                                    hint="save the file as UTF-8 without BOM")])
    if fmt is None:
        suffix = (path.suffix.lower() if path else "")
        fmt = "json" if suffix == ".json" or (suffix not in (".yaml", ".yml") and text.lstrip().startswith("{")) else "yaml"
    src = Source(display, path, text, None)
    if fmt == "json":
        try:
            src.data = _parse_json(text, display)
        except _BigInt:                       # the YAML walk below finds and locates it
            _walk_yaml(text, src, limits, build=False)
            raise SpecError([out_of_range("", Loc(display, 1, 1))]) from None
        try:
            _walk_yaml(text, src, limits, build=False)
        except SpecError:
            src.values, src.keys = {(): Loc(display, 1, 1)}, {}
    else:
        from ..fast.yaml_lite import read

        plain = read(text, limits.max_nodes, limits.max_depth)   # the plain subset, without PyYAML's events
        if plain is not None:
            src.data, rows = plain
            src.values, src.keys = Table(rows, key=False), Table(rows, key=True)
        else:
            _walk_yaml(text, src, limits, build=True)
    return src


def _parse_json(text: str, display: str):
    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise _DupKey(k)
            out[k] = v
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise SpecError([Diagnostic("json-syntax", exc.msg[:1].lower() + exc.msg[1:], Loc(display, exc.lineno, exc.colno))]) from None
    except _DupKey as exc:
        raise SpecError([Diagnostic("duplicate-key", f"the key '{exc.args[0]}' appears twice in one object", Loc(display, 1, 1))]) from None
    except RecursionError:
        raise SpecError([Diagnostic("limit", "the JSON nests too deeply", Loc(display, 1, 1))]) from None


class _DupKey(Exception):
    pass


class _BigInt(Exception):
    pass


def _json_int(text: str) -> int:
    if len(text) < 19:
        return int(text)
    if len(text) > 64 or not INT_MIN <= int(text) <= INT_MAX:
        raise _BigInt
    return int(text)


def _syntax_error(exc, text: str, display: str, limits: Limits) -> SpecError:
    import yaml

    if not isinstance(exc, yaml.MarkedYAMLError):
        return SpecError([Diagnostic("yaml-syntax", str(exc).splitlines()[0], Loc(display, 1, 1))])
    mark = exc.problem_mark or exc.context_mark
    loc = Loc(display, mark.line + 1, mark.column + 1) if mark else Loc(display, 1, 1)
    if _is_libyaml_depth_stop(exc):
        return SpecError([_too_deep(limits, loc)])
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    hint = None
    lines = text.splitlines()
    bad = lines[mark.line][mark.column:mark.column + 1] if mark and mark.line < len(lines) else ""
    opened = exc.context_mark
    if bad == "\t" or "'\\t'" in problem:
        problem = "a tab character where YAML expects spaces"
        hint = "YAML does not allow tabs for indentation; indent with spaces"
    elif problem.startswith("did not find expected ',' or") and opened and mark and opened.line < mark.line \
            and opened.line < len(lines) and lines[opened.line][opened.column:opened.column + 1] in ("{", "["):
        # an unclosed { or [: YAML notices only at the next entry; point at the bracket left open
        sign = lines[opened.line][opened.column]
        close = "}" if sign == "{" else "]"
        loc = Loc(display, opened.line + 1, opened.column + 1)
        problem = f"this '{sign}' is not closed: line {mark.line + 1} comes before its '{close}'"
        hint = f"add '{close}' where the value ends (the end of line {opened.line + 1}?)"
    elif mark and re.search(r"(^|[\s:\[{,])\$", lines[mark.line] if mark.line < len(lines) else ""):
        hint = 'quote an expression that contains [ ] { } , ? or :, e.g. "$stages[0]"'
    elif "mapping values are not allowed" in problem:
        hint = "a ':' inside a value needs quotes, or a key is indented wrongly"
    return SpecError([Diagnostic("yaml-syntax", problem, loc, hint=hint)])


def _walk_yaml(text: str, src: Source, limits: Limits, build: bool) -> None:
    """Build the data and the position tables from the parser's events, as PyYAML's composer would
    compose them, but without composing: no node objects (two marks each) for the whole document
    exist at once, so a 100,000-layer spec costs its data and its tables, not ten times that. An alias
    replays the events recorded for its anchor, so every use is checked, counted and positioned
    exactly as a composed node would be walked again. The walk itself: :class:`_Walk`."""
    _yaml_events()
    _Walk(text, src, limits).run(build)


# PyYAML's event classes, as this module's names once a text needs PyYAML (`_yaml_events`): the walk
# compares an event's class with them for every value
AliasEvent = MappingStartEvent = MappingEndEvent = SequenceStartEvent = SequenceEndEvent = ScalarEvent = None
_SCALAR_NODE = _MAPPING_NODE = _SEQUENCE_NODE = _CONSTRUCTOR_ERROR = None


def _yaml_events() -> None:
    global AliasEvent, MappingStartEvent, MappingEndEvent, SequenceStartEvent, SequenceEndEvent, ScalarEvent
    global _SCALAR_NODE, _MAPPING_NODE, _SEQUENCE_NODE, _CONSTRUCTOR_ERROR
    if ScalarEvent is None:
        import yaml
        from yaml import events

        AliasEvent, ScalarEvent = events.AliasEvent, events.ScalarEvent
        MappingStartEvent, MappingEndEvent = events.MappingStartEvent, events.MappingEndEvent
        SequenceStartEvent, SequenceEndEvent = events.SequenceStartEvent, events.SequenceEndEvent
        _SCALAR_NODE, _MAPPING_NODE, _SEQUENCE_NODE = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode
        _CONSTRUCTOR_ERROR = yaml.constructor.ConstructorError


_MAP_TAG, _SEQ_TAG, _MERGE_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"


class _Walk:
    """One document's walk over PyYAML's events (see `_walk_yaml`). Its state, shared by the steps:
    the parser, the position rows being filled, the diagnostics gathered (duplicate keys: all are
    reported together), the values counted against the limits, and the alias machinery — `anchors`
    (anchor → its recorded events; None while the anchored node is still open), `recording` (the
    event lists of the anchored nodes being read) and `replay` (iterators over recorded events being
    replayed, innermost last)."""

    __slots__ = ("display", "text", "limits", "loader", "get_event", "resolve", "constructor", "rows", "add_row",
                 "src", "diags", "count", "reused", "anchors", "recording", "replay")

    def __init__(self, text: str, src: Source, limits: Limits):
        from yaml.constructor import SafeConstructor

        from ..fast.positions import Rows

        self.display, self.text, self.limits, self.src = src.file, text, limits, src
        self.loader = _loader_class()(text)
        self.get_event, self.resolve = self.loader.get_event, self.loader.resolve
        self.constructor = SafeConstructor()
        self.rows = Rows()
        self.add_row = self.rows.add
        src.values, src.keys = Table(self.rows, key=False), Table(self.rows, key=True)
        self.diags: list[Diagnostic] = []
        self.count = self.reused = 0
        self.anchors: dict = {}
        self.recording: list = []
        self.replay: list = []

    # ---- the document --------------------------------------------------------------------------
    def run(self, build: bool) -> None:
        """Walk the stream's one document; syntax errors first, then the walk's own diagnostics."""
        import yaml

        loader, display, src = self.loader, self.display, self.src
        frames = sys.getrecursionlimit()
        sys.setrecursionlimit(frames + min(self.limits.max_depth, 1000) + 50)   # two frames a level: node, _mapping
        try:
            try:
                if not self._document():
                    src.values[()] = Loc(display, 1, 1)      # an empty stream
                    return
            except SpecError as found:
                try:                                  # a syntax error anywhere in the text comes first
                    while loader.get_event() is not None:
                        pass
                except yaml.YAMLError as exc:
                    raise _syntax_error(exc, self.text, display, self.limits) from None
                except RecursionError:
                    pass
                raise found from None
            except yaml.YAMLError as exc:
                raise _syntax_error(exc, self.text, display, self.limits) from None
            except RecursionError:
                raise SpecError([_too_deep(self.limits, Loc(display, 1, 1))]) from None
        finally:
            sys.setrecursionlimit(frames)
            loader.dispose()
        if self.diags:
            raise SpecError(self.diags)
        if build:
            src.data = self.rows.skeleton

    def _document(self) -> bool:
        """Read the stream's events around its one node into `rows`; False for an empty stream."""
        import yaml
        from yaml.events import DocumentEndEvent, DocumentStartEvent, StreamEndEvent, StreamStartEvent

        get_event = self.get_event
        ev = get_event()                          # StreamStart
        assert ev.__class__ is StreamStartEvent
        ev = get_event()
        if ev.__class__ is StreamEndEvent:
            return False
        assert ev.__class__ is DocumentStartEvent
        first, _ = self.nxt()
        rows = self.rows
        rows.skeleton, rows.root = self.node(first, False, (), 0)
        ev = get_event()                          # DocumentEnd
        assert ev.__class__ is DocumentEndEvent
        ev = get_event()
        if ev.__class__ is not StreamEndEvent:
            raise yaml.composer.ComposerError("expected a single document in the stream", None,
                                              "but found another document", ev.start_mark)
        return True

    # ---- events ----------------------------------------------------------------------------------
    def nxt(self):
        """(the next event, whether it is replayed from an anchor's recording)."""
        replay = self.replay
        while replay:
            ev = next(replay[-1], None)
            if ev is not None:
                return ev, True
            replay.pop()
        ev = self.get_event()
        recording = self.recording
        if recording:
            for r in recording:
                r.append(ev)
        return ev, False

    def mark(self, ev) -> Loc:
        return Loc(self.display, ev.start_mark.line + 1, ev.start_mark.column + 1)

    def tag_of(self, ev, kind):
        tag = ev.tag
        if tag is None or tag == "!":
            if kind is _SCALAR_NODE:
                value = ev.value
                if ev.implicit[0] and value.isidentifier() and value not in _NOT_STR:
                    return _STR                  # the plain names most of a spec is made of
                return self.resolve(kind, value, ev.implicit)
            tag = self.resolve(kind, None, ev.implicit)
        return tag

    def scalar(self, ev, tag):
        """A scalar event's value under its resolved `tag`, refused when it is not plain data."""
        value = ev.value
        if tag == _STR:                         # the common cases, without the constructor's overhead
            return _intern(value) if len(value) <= 24 else value   # names repeat: one string each
        if tag == _INT:
            if value.isdigit() and len(value) < 19 and (value[0] != "0" or value == "0"):
                return int(value)
            if len(value) > 64:                 # past any 64-bit integer (and Python's digit limit)
                raise SpecError([out_of_range(value, self.mark(ev))])
        node = _SCALAR_NODE(tag, value, ev.start_mark, ev.end_mark, ev.style)
        try:
            out = self.constructor.construct_object(node, deep=True)
        except _CONSTRUCTOR_ERROR:
            raise SpecError([Diagnostic("yaml-tag", f"the tag '{tag}' is not allowed", self.mark(ev),
                                        hint="archspec loads YAML safely: no Python objects, no custom tags")]) from None
        except Exception:                       # a standard tag on text it cannot read (`!!bool x4`, `!!timestamp 4`)
            kind = tag.rsplit(":", 1)[-1]
            raise SpecError([Diagnostic("yaml-syntax", f"cannot read {short(value)} as a YAML {kind}", self.mark(ev),
                                        hint=f"remove the `!!{kind}` tag, or quote the value to make it a string")]) from None
        if out.__class__ is int and not INT_MIN <= out <= INT_MAX:
            raise SpecError([out_of_range(value, self.mark(ev))])
        if isinstance(out, (bytes, set)) or type(out).__module__ == "datetime":
            raise SpecError([Diagnostic("yaml-tag", f"'{value}' reads as a {type(out).__name__}; quote it to make it a string",
                                        self.mark(ev))])
        return out

    # ---- nodes -----------------------------------------------------------------------------------
    def node(self, ev, replayed: bool, path: tuple, depth: int):
        """(value, packed start position) of the node whose first event is `ev` (its events are
        consumed); `path` is where it sits, for the limits' messages."""
        if ev.__class__ is AliasEvent:
            return self._alias(ev, path, depth)
        anchor = None if replayed else getattr(ev, "anchor", None)
        if anchor is not None:
            if anchor in self.anchors:
                raise SpecError([Diagnostic("yaml-syntax", f"the anchor '&{anchor}' is defined twice", self.mark(ev))])
            self.anchors[anchor] = None
            self.recording.append([ev])
        limits = self.limits
        self.count += 1
        if self.count > limits.max_nodes:
            raise SpecError([Diagnostic("limit", f"the document expands to more than {limits.max_nodes:,} values "
                                        "(YAML aliases repeated too often?)", self.mark(ev),
                                        hint="a spec this large is almost certainly an alias bomb; "
                                             "raise --limit max_nodes=N if it is genuine")])
        if depth > limits.max_depth:
            raise SpecError([_too_deep(limits, self.mark(ev))])
        m = ev.start_mark
        here = (m.line + 1) << 24 | (m.column + 1)
        cls = ev.__class__
        if cls is ScalarEvent:
            out = self.scalar(ev, self.tag_of(ev, _SCALAR_NODE))
        elif cls is MappingStartEvent:
            out = self._mapping(ev, path, depth)
        elif cls is SequenceStartEvent:
            out = self._sequence(ev, path, depth)
        else:                                      # pragma: no cover - the parser's grammar prevents it
            raise SpecError([Diagnostic("yaml-syntax", f"unexpected {cls.__name__}", self.mark(ev))])
        if anchor is not None:
            self.anchors[anchor] = self.recording.pop()
        return out, here

    def _alias(self, ev, path: tuple, depth: int):
        """`*name`: the anchored node again, its recorded events replayed (counted against max_aliases)."""
        rec = self.anchors.get(ev.anchor, False)
        if rec is False:
            raise SpecError([Diagnostic("yaml-syntax", f"found undefined alias '{ev.anchor}'", self.mark(ev))])
        if rec is None:
            raise SpecError([Diagnostic("yaml-syntax", f"the alias '*{ev.anchor}' is inside the node it names "
                                        "(a recursive structure)", self.mark(ev))])
        if rec[0].__class__ is not ScalarEvent:
            self.reused += sum(1 for e in rec if e.__class__ in (MappingStartEvent, SequenceStartEvent))
            if self.reused > self.limits.max_aliases:
                raise SpecError([Diagnostic("limit", f"YAML aliases are expanded more than {self.limits.max_aliases:,} "
                                            "times (an alias bomb?)", self.mark(ev),
                                            hint="raise --limit max_aliases=N if the file is genuine")])
        it = iter(rec)
        first = next(it)
        self.replay.append(it)
        return self.node(first, True, path, depth)

    def _mapping(self, ev, path: tuple, depth: int) -> dict:
        """A mapping's keys and values up to its end event; its row: key and value positions in turn."""
        tag = self.tag_of(ev, _MAPPING_NODE)
        if tag != _MAP_TAG:
            raise SpecError([Diagnostic("yaml-tag", f"the tag '{tag}' is not allowed", self.mark(ev),
                                        hint="archspec accepts plain YAML only")])
        nxt, anchors, node, scalar, tag_of = self.nxt, self.anchors, self.node, self.scalar, self.tag_of
        replay, recording, get_event = self.replay, self.recording, self.get_event
        out = {}
        row = []
        while True:
            if replay or recording:
                kev, krep = nxt()
            else:                                   # nxt() inlined for the common case: no alias at work
                kev, krep = get_event(), False
            if kev.__class__ is MappingEndEvent:
                break
            if kev.__class__ is not ScalarEvent:
                if kev.__class__ is AliasEvent and anchors.get(kev.anchor) and \
                        anchors[kev.anchor][0].__class__ is ScalarEvent:
                    kev, krep = anchors[kev.anchor][0], True
                else:
                    raise SpecError([Diagnostic("yaml-syntax", "a mapping key must be a plain name", self.mark(kev))])
            ktag = tag_of(kev, _SCALAR_NODE)
            if ktag == _MERGE_TAG:
                raise SpecError([Diagnostic("yaml-syntax", "YAML merge keys ('<<') are not supported", self.mark(kev),
                                            hint="use `defaults:` or a block to share settings")])
            if not krep and kev.anchor is not None:
                if kev.anchor in anchors:
                    raise SpecError([Diagnostic("yaml-syntax", f"the anchor '&{kev.anchor}' is defined twice",
                                                self.mark(kev))])
                anchors[kev.anchor] = [kev]
            key = scalar(kev, ktag)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(kev.value)
            if replay or recording:
                vev, vrep = nxt()
            else:
                vev, vrep = get_event(), False
            if key in out:
                self._duplicate(key, kev, list(out).index(key), row)
                self.skip(vev, vrep)
                continue
            km = kev.start_mark
            row.append((km.line + 1) << 24 | (km.column + 1))
            out[key], vpos = node(vev, vrep, path + (key,), depth + 1)
            row.append(vpos)
        self.add_row(out, row)
        return out

    def _duplicate(self, key, kev, index: int, row: list) -> None:
        first_pos = row[2 * index]
        first_loc = Loc(self.display, first_pos >> 24, first_pos & 0xFFFFFF)
        self.diags.append(Diagnostic("duplicate-key", f"the key '{key}' appears twice in this mapping",
                                     self.mark(kev), notes=(Note("first defined here", first_loc),)))

    def _sequence(self, ev, path: tuple, depth: int) -> list:
        """A sequence's items up to its end event; its row: the items' positions."""
        tag = self.tag_of(ev, _SEQUENCE_NODE)
        if tag != _SEQ_TAG:
            raise SpecError([Diagnostic("yaml-tag", f"the tag '{tag}' is not allowed", self.mark(ev))])
        nxt, node = self.nxt, self.node
        replay, recording, get_event = self.replay, self.recording, self.get_event
        out = []
        row = []
        i = 0
        while True:
            if replay or recording:
                iev, irep = nxt()
            else:                                   # nxt() inlined for the common case: no alias at work
                iev, irep = get_event(), False
            if iev.__class__ is SequenceEndEvent:
                break
            item, ipos = node(iev, irep, path + (i,), depth + 1)
            out.append(item)
            row.append(ipos)
            i += 1
        self.add_row(out, row)
        return out

    def skip(self, ev, replayed):
        """Consume the node starting at `ev` without recording it (a duplicate key's value)."""
        anchors = self.anchors
        if ev.__class__ in (MappingStartEvent, SequenceStartEvent):
            if not replayed and ev.anchor is not None:
                anchors[ev.anchor] = None
                self.recording.append([ev])
            level = 1
            while level:
                e, _ = self.nxt()
                if e.__class__ in (MappingStartEvent, SequenceStartEvent):
                    level += 1
                elif e.__class__ in (MappingEndEvent, SequenceEndEvent):
                    level -= 1
            if not replayed and ev.anchor is not None:
                anchors[ev.anchor] = self.recording.pop()
        elif ev.__class__ is ScalarEvent and not replayed and ev.anchor is not None:
            anchors[ev.anchor] = [ev]


INT_MIN, INT_MAX = -2 ** 63, 2 ** 63 - 1      # what a count or size can be: Keras's and TensorFlow's int64


def short(text: str, keep: int = 24) -> str:
    """`text` quoted for a message, its middle cut out when long (a 5,000-digit literal)."""
    if len(text) <= keep:
        return f"'{text}'"
    return f"'{text[:keep // 2]}…{text[-keep // 2:]}' ({len(text):,} characters)"


def out_of_range(text: str, loc: Loc) -> Diagnostic:
    """The diagnostic for an integer literal outside the 64-bit range every count and size lies in."""
    return Diagnostic("schema", f"the integer {short(text)} is out of range: integers in a spec lie between "
                      "-2**63 and 2**63-1", loc,
                      hint="no count or size can be this large; a float is written with a point or an exponent (1e30)")


def _too_deep(limits: Limits, loc: Loc) -> Diagnostic:
    """The one `limit` diagnostic for nesting, whichever stage noticed it: archspec's own walk
    (max_depth), the pure-Python composer (RecursionError) or libyaml's fixed stop."""
    return Diagnostic("limit", f"the document nests deeper than {limits.max_depth} levels", loc,
                      hint="flatten the nesting (a block or a list of layers instead of nested lists), or raise "
                           "it with --limit max_depth=N if the file is genuine (the YAML parser itself stops "
                           "near 1,000 levels)")


def _is_libyaml_depth_stop(exc) -> bool:
    """True when libyaml (PyYAML >= 6.0.2's bundled C parser) refused the text for nesting, not syntax.

    libyaml has a fixed nesting cap (1,000 levels since libyaml 0.2.5 as bundled in PyYAML 6.0.4) and
    reports it as an ordinary ScannerError/ParserError whose `problem` is "exceeded maximum nesting
    depth" (context "while increasing flow level" or "while increasing indent level"). This is the
    only place that reads that third-party text; if a future libyaml rewords it, the file is reported
    as `yaml-syntax` instead and tests/test_limits.py::test_deep_nesting fails, pointing here."""
    import yaml

    problem = getattr(exc, "problem", None) or ""
    return isinstance(exc, (yaml.scanner.ScannerError, yaml.parser.ParserError, yaml.composer.ComposerError)) \
        and "maximum nesting depth" in problem


_STR, _INT, _FLOAT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_LOADER = None
_FLOAT_RE = None


def _loader_class():
    """PyYAML's safe loader on libyaml when available (much faster composition, same marks), with a
    shortcut in tag resolution for the plain names and decimal integers that make up most specs."""
    global _LOADER, _FLOAT_RE
    if _LOADER is None:
        import re

        import yaml

        _FLOAT_RE = re.compile(FLOAT_PATTERN)

        base = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader

        class Loader(base):
            def resolve(self, kind, value, implicit):
                if kind is yaml.ScalarNode and implicit[0] and value:
                    if value.isidentifier() and value not in _NOT_STR:
                        return _STR
                    if value.isdigit() and (value[0] != "0" or value == "0"):
                        return _INT
                    if _FLOAT_RE.match(value):
                        return _FLOAT            # YAML 1.1 would leave `1e-3` a string
                return super().resolve(kind, value, implicit)

        _LOADER = Loader
    return _LOADER
