"""The document model (a declared model, archspec/fast/pydantic_lite.py: pydantic's meaning, no pydantic on the
happy path). Layer entries stay raw here: they are checked entry by entry
during expansion, where expressions are evaluated and each op's own attribute model applies."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from ..errors import Diagnostic, closest, hint_for
from ..fast.pydantic_lite import BeforeValidator, Field, Model
from .source import Source, short

# a spec, input, block or parameter name (the document model, the JSON Schema, `archspec import --name`)
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Model(Model, frozen=False):
    """Unknown keys refused; assignable (a salvaged Document drops its inputs)."""


def _dim(v):
    if isinstance(v, str) and v.startswith("$"):
        return v
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError("a dimension is a whole number ≥ 1 or a $expression of the params")
    if v < 1:
        raise ValueError("should be greater than or equal to 1")
    return v


# an input dimension: a number, or an expression over the top-level `params` (`$length`, so `--set` changes it)
Dim = Annotated[int | str, BeforeValidator(_dim, json_schema_input_type=Annotated[int, Field(ge=1)] | Annotated[
    str, Field(pattern=r"^\$")])]


class InputDef(_Model):
    shape: list[Dim] = Field(min_length=1, max_length=4)
    dtype: Literal["float32", "float16", "bfloat16", "int32", "uint8", "bool"] = Field(
        "float32", description="int32: token ids or a mask; bool: a mask only (1 attend, 0 padding), read where an op "
                               "takes one (attention's last input with padding_mask: true)")


class BlockDef(_Model):
    doc: str | None = None
    params: dict[Name, Any] = {}
    defaults: dict[str, dict[str, Any]] = {}
    body: list[Any] = Field(min_length=1)


class Document(_Model):
    archspec: Literal[1] = Field(description="spec language version")
    name: Name
    description: str | None = None
    include: list[str] = []
    params: dict[Name, Any] = Field({}, description="top-level parameters, overridable with --set NAME=VALUE")
    inputs: dict[Name, list[Dim] | InputDef] = Field(min_length=1)
    outputs: list[str] | dict[Name, str] | str | None = None
    defaults: dict[str, dict[str, Any]] = {}
    blocks: dict[Name, BlockDef] = {}
    model: list[Any] = Field(min_length=1)
    training: dict[str, Any] | None = None
    ignore_warnings: list[str] = Field([], description="warning codes this spec knowingly accepts")


class Library(_Model):
    """An included file: its blocks (and its own includes) are what is used."""

    archspec: Literal[1]
    name: Name | None = None
    description: str | None = None
    include: list[str] = []
    blocks: dict[Name, BlockDef] = {}
    params: dict[Name, Any] = {}
    inputs: dict[str, Any] = {}
    outputs: Any = None
    defaults: dict[str, dict[str, Any]] = {}
    model: list[Any] = []
    training: dict[str, Any] | None = None


def _clean_loc(data, loc: tuple) -> tuple:
    """Drop pydantic's union-member tags from an error loc, keeping the real path into `data`."""
    out, cur = [], data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and not re.search(r"[\[\]()]", part) and part[:1].islower():
            out.append(part)   # a missing or extra key
            cur = None
    return tuple(out)


def describe(value) -> str:
    """A value as messages show it; a long one (a 100,000-character line) with its middle cut out."""
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 80 else short(value, 60)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    text = f"the list {value}" if isinstance(value, list) else repr(value)
    return text if len(text) <= 200 else text[:120] + " … " + text[-40:]


def pydantic_diagnostics(exc, data, src: Source, base: tuple = (), fields: dict | None = None,
                         what: str = "", scope: str | None = None, notes=()) -> list[Diagnostic]:
    """Turn pydantic errors into located diagnostics. `fields` maps known field names for did-you-mean."""
    diags = []
    seen_paths = set()
    errors = [(err, _clean_loc(data, tuple(err["loc"]))) for err in exc.errors()]
    paths = [p for _, p in errors]
    # a union reports one error per member; keep the most specific ones
    errors = [(e, p) for e, p in errors if not any(len(q) > len(p) and q[:len(p)] == p for q in paths)]
    # a key that is not text (`{strides: 2, 2}` makes a key 2) is an unknown field like any other
    errors = [({**e, "type": "extra_forbidden"} if e["type"] == "invalid_key" else e, p) for e, p in errors]
    extra = {p[-1] for e, p in errors if e["type"] == "extra_forbidden" and p}
    suggested = {closest(key, list(fields)) for key in extra} if fields is not None else set()
    for err, path in errors:
        if err["type"] == "missing" and path and path[-1] in suggested:
            continue                                 # reported as the misspelled key
        if (path, err["type"]) in seen_paths and err["type"] != "extra_forbidden":
            continue
        seen_paths.add((path, err["type"]))
        field = ".".join(str(p) for p in path) or what or "the document"
        etype = err["type"]
        if etype == "extra_forbidden":
            key = path[-1] if path else "?"
            known = list(fields) if fields is not None else []
            parent = ".".join(str(p) for p in path[:-1])
            where = f" in {what}" if what else (f" in '{parent}'" if parent else "")
            guess = closest(key, known) if known else None
            hint = hint_for(guess) or split_hint(src, base + path, key) or (
                "known fields: " + ", ".join(known) if known else None)
            diags.append(Diagnostic("unknown-field", f"unknown field '{key}'{where}",
                                    src.loc(base + path, key=True), scope, hint, notes,
                                    subject=str(key), suggestion=guess, path=base + path))
        elif etype == "missing":
            parent = path[:-1]
            diags.append(Diagnostic("missing-field", f"'{path[-1]}' is required{(' in ' + what) if what else ''}",
                                    src.loc(base + parent, key=True) if parent else src.loc(base, key=True),
                                    scope, None, notes, subject=str(path[-1]), path=base + path))
        else:
            msg = err["msg"]
            msg = msg[:1].lower() + msg[1:]
            msg = msg.replace("input should", "should").replace("value error, ", "")
            got = err.get("input")
            text = f"'{field}' {msg}" if msg.startswith("should") else f"'{field}': {msg}"
            if not isinstance(got, dict) and etype not in ("literal_error",) or etype == "literal_error":
                text += f"; got {describe(got)}"
            hint = guess = None
            if etype == "literal_error" and isinstance(got, str):
                guess = closest(got, [str(x) for x in (err.get("ctx") or {}).get("expected_values", ())]
                                or re.findall(r"'([^']*)'", err["msg"]))
                hint = hint_for(guess)
            elif isinstance(got, str) and etype == "list_type" and tuple(path) == ("include",):
                guess = f"[{got}]"                   # one file name where the list of files goes
                hint = f"include takes a list of files: write `include: {guess}`"
            elif isinstance(got, str) and etype in _NUMBER_ERRORS:
                hint, guess = dollar_hint(got)
            # the subject: the bad value when a suggestion replaces it, else the field
            subject = str(got) if guess is not None else (str(path[0]) if path else None)
            diags.append(Diagnostic("schema", text, src.loc(base + path), scope, hint, notes,
                                    subject=subject, suggestion=guess, path=base + path))
    return diags


# pydantic error types meaning "a number (or bool) was expected"
_NUMBER_ERRORS = {"int_parsing", "int_type", "float_parsing", "float_type", "bool_parsing", "bool_type",
                  "int_from_float", "tuple_type", "list_type"}


def dollar_hint(text: str) -> tuple[str | None, str | None]:
    """A bare string where a number was expected that reads as an expression (`filters`,
    `filters * 2`, `in.channels`): the user forgot the `$`. Returns (hint, the corrected value)."""
    from .expr import ExprError, compile_expr, names_in

    t = text.strip()
    if not t or t.startswith("$"):
        return None, None
    try:
        compile_expr(t)
        if not names_in(t):
            return None, None
    except (ExprError, RecursionError):
        return None, None
    fixed = "$" + t
    return f"an expression starts with '$': write `{fixed}`", fixed


def split_hint(src: Source, path: tuple, key) -> str | None:
    """A key that YAML cut out of a flow value at a comma (`{strides: 2, 2}` reads as `strides: 2`
    and a key `2`; `{filters: $max(8, 4)}` as `filters: $max(8` and a key `4)`): say so."""
    if key is None or (isinstance(key, str) and key.isidentifier()):
        return None
    parent = src.data
    for p in path[:-1]:
        try:
            parent = parent[p]
        except (KeyError, IndexError, TypeError):
            return None
    if not isinstance(parent, dict) or key not in parent or parent[key] is not None:
        return None
    keys = list(parent)
    k = keys.index(key)
    if k == 0:
        return None
    prev = keys[k - 1]
    vloc, kloc = src.loc(path[:-1] + (prev,)), src.loc(path, key=True)
    if vloc.line != kloc.line or vloc.line <= 0:
        return None
    line = src.text.splitlines()[vloc.line - 1]
    whole = line[vloc.col - 1: kloc.col - 1 + len(str(key))]
    return _split_text(prev, str(parent[prev]), whole)


def comma_hint(src: Source, path: tuple, raw) -> str | None:
    """Hint for an expression YAML ended at a comma inside `{ }` (`$max(8, 4)` read as `$max(8`):
    the text from the value's start to the first ',' or '}' outside parentheses."""
    if not isinstance(raw, str):
        return None
    loc = src.loc(path)
    lines = src.text.splitlines()
    if not (0 < loc.line <= len(lines)):
        return None
    line, start = lines[loc.line - 1], loc.col - 1
    if not line.startswith(raw, start) or not line[start + len(raw):].lstrip().startswith(","):
        return None                              # quoted, or not cut at a comma
    depth, end = 0, len(line)
    for j in range(start, len(line)):
        c = line[j]
        depth += (c == "(") - (c == ")")
        if depth <= 0 and c in ",}]" and j >= start + len(raw):
            end = j
            break
    whole = line[start:end].rstrip()
    return _split_text(path[-1] if path else "value", raw, whole) if len(whole) > len(raw) else None


def _split_text(name, raw: str, whole: str) -> str:
    if raw.startswith("$"):
        return f'YAML ends an unquoted value at ", " inside {{ }}: quote the expression, {name}: "{whole}"'
    return f'YAML ends an unquoted value at ", " inside {{ }}: for several values write a list, {name}: [{whole}]'
