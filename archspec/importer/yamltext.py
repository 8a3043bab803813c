"""Spec entries as readable YAML: one line per layer (`- conv2d: {filters: 64, kernel: 7, name: conv1_conv}`),
structures as indented blocks, short branch paths in flow style. Every scalar is written so that YAML
reads back exactly the value meant (the writer checks: `1_0` would read as the integer 10, `1e-05`
as a string), and the whole text is parsed back and compared with the data it was written from.

>>> from archspec.importer.yamltext import Entry, render_entries, scalar
>>> print("\\n".join(render_entries([Entry("conv2d", {"filters": 8, "kernel": 3}, name="c1"),
...                                  Entry("activation", {"activation": "relu"}, primary="activation")], 0)))
- conv2d: {filters: 8, kernel: 3, name: c1}
- activation: relu
>>> scalar(1e-05), scalar("1_0"), scalar("same")
('1.0e-05', "'1_0'", 'same')
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

import yaml

WIDTH = 118


@dataclass
class Entry:
    key: str                                   # op, block or structure
    attrs: dict = field(default_factory=dict)  # spec values (numbers, strings, lists, null, "$expr")
    name: str | None = None
    refs: list | None = None                   # `from:`
    repeat: int | None = None
    bodies: dict = field(default_factory=dict)   # body / shortcut: [Entry]; paths: [[Entry]]
    primary: str | None = None                 # the op's shorthand attribute
    comment: str | None = None

    def data(self):
        """The value YAML must read back for this entry."""
        extra = {}
        if self.repeat is not None:
            extra["repeat"] = self.repeat
        if self.name is not None:
            extra["name"] = self.name
        if self.refs is not None:
            extra["from"] = self.refs[0] if len(self.refs) == 1 else list(self.refs)
        bodies = {}
        for k, v in self.bodies.items():
            bodies[k] = [[e.data() for e in p] for p in v] if k == "paths" else [e.data() for e in v]
        value = {**{k: _plain(v) for k, v in self.attrs.items()}, **extra, **bodies}
        short = self._short()
        if short == "bare":
            return self.key
        if short == "primary":
            return {self.key: _plain(self.attrs[self.primary])}
        return {self.key: value}

    def _short(self) -> str | None:
        """"bare" (`- flatten`), "primary" (`- activation: relu`) or None (a mapping)."""
        if self.repeat is not None or self.name is not None or self.refs is not None or self.bodies:
            return None
        if not self.attrs:
            return "bare"
        if self.primary and list(self.attrs) == [self.primary] and self.attrs[self.primary] is not None:
            return "primary"
        return None


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


# ---- scalars ---------------------------------------------------------------------------------------
def scalar(v) -> str:
    """`v` as a YAML scalar (or flow list) that reads back as `v`, in block and flow context alike."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return ".inf" if v > 0 else "-.inf" if v < 0 else ".nan"
        text = repr(v)
        if "e" in text and "." not in text.split("e")[0]:
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"
        return text
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return flow(v)
    if isinstance(v, str):
        if v and _reads_back(v):
            return v
        single = "'" + v.replace("'", "''") + "'"
        return single if _reads_back(single, v) else _dq(v)
    raise TypeError(f"cannot write {type(v).__name__} {v!r}")


def _dq(v: str) -> str:
    import json

    return json.dumps(v, ensure_ascii=False)


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}


@lru_cache(maxsize=4096)
def _reads_back(text: str, value: str | None = None) -> bool:
    value = text if value is None else value
    if text == value and _PLAIN.fullmatch(text) and text.lower() not in _WORDS:
        return True
    try:
        return (yaml.safe_load(f"k: {text}") == {"k": value} and yaml.safe_load(f"{{k: {text}}}") == {"k": value}
                and yaml.safe_load(f"[{text}]") == [value])
    except yaml.YAMLError:
        return False


def flow(d: dict) -> str:
    return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in d.items()) + "}"


# ---- entries -----------------------------------------------------------------------------------------
def _inline(e: Entry) -> str | None:
    """`key: {...}` / `key: value` / `key` for an entry without bodies, else None."""
    if e.bodies:
        return None
    short = e._short()
    if short == "bare":
        return e.key
    if short == "primary":
        return f"{e.key}: {scalar(e.attrs[e.primary])}"
    d = dict(e.attrs)
    if e.repeat is not None:
        d["repeat"] = e.repeat
    if e.name is not None:
        d["name"] = e.name
    if e.refs is not None:
        d["from"] = e.refs[0] if len(e.refs) == 1 else list(e.refs)
    return f"{e.key}: {flow(d)}"


def render_entries(entries: list[Entry], indent: int) -> list[str]:
    out = []
    for e in entries:
        out.extend(render_entry(e, indent))
    return out


def render_entry(e: Entry, indent: int) -> list[str]:
    pad = " " * indent
    comment = f"   # {e.comment}" if e.comment else ""
    line = _inline(e)
    if line is not None and indent + 2 + len(line) + len(comment) <= WIDTH:
        return [f"{pad}- {line}{comment}"]
    if line is not None and indent + 2 + len(line) <= WIDTH:
        return [f"{pad}# {e.comment}", f"{pad}- {line}"]
    inner = " " * (indent + 4)
    lines = [f"{pad}- {e.key}:{comment}"]
    if e.name is not None:
        lines.append(f"{inner}name: {scalar(e.name)}")
    for k, v in e.attrs.items():
        lines.append(f"{inner}{scalar(k)}: {scalar(v)}")
    if e.repeat is not None:
        lines.append(f"{inner}repeat: {e.repeat}")
    if e.refs is not None:
        lines.append(f"{inner}from: {scalar(e.refs[0] if len(e.refs) == 1 else list(e.refs))}")
    for k, v in e.bodies.items():
        if k == "paths":
            lines.append(f"{inner}paths:")
            for p in v:
                lines.extend(render_path(p, indent + 6))
        else:
            lines.append(f"{inner}{k}:")
            lines.extend(render_entries(v, indent + 6))
    return lines


def render_path(path: list[Entry], indent: int) -> list[str]:
    """One branch path: `- []`, `- [a: {...}, b: {...}]` when short, else a nested block sequence."""
    pad = " " * indent
    if not path:
        return [f"{pad}- []"]
    parts = [_inline(e) for e in path]
    if all(p is not None for p in parts) and not any(e.comment for e in path):
        line = f"{pad}- [" + ", ".join(parts) + "]"
        if len(line) <= WIDTH and len(path) <= 3:
            return [line]
    lines = render_entries(path, indent + 2)
    lines[0] = f"{pad}- {lines[0].lstrip()}" if not lines[0].lstrip().startswith("#") else lines[0]
    if lines[0].lstrip().startswith("#"):            # a comment line first: keep it, open the list after
        first = next(k for k, ln in enumerate(lines) if ln.lstrip().startswith("- "))
        lines[first] = f"{pad}- {lines[first].lstrip()}"
    return lines
