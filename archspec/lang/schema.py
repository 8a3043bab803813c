"""The document model (pydantic). Layer entries stay raw here: they are checked entry by entry
during expansion, where expressions are evaluated and each op's own attribute model applies."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import Diagnostic, did_you_mean
from .source import Source

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputDef(_Model):
    shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=4)
    dtype: Literal["float32", "float16", "bfloat16", "int32", "uint8"] = "float32"


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
    inputs: dict[Name, list[Annotated[int, Field(ge=1)]] | InputDef] = Field(min_length=1)
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
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else f"the list {value}"
    return repr(value)


def pydantic_diagnostics(exc: ValidationError, data, src: Source, base: tuple = (), fields: dict | None = None,
                         what: str = "", scope: str | None = None, notes=()) -> list[Diagnostic]:
    """Turn pydantic errors into located diagnostics. `fields` maps known field names for did-you-mean."""
    diags = []
    seen_paths = set()
    errors = [(err, _clean_loc(data, tuple(err["loc"]))) for err in exc.errors()]
    paths = [p for _, p in errors]
    # a union reports one error per member; keep the most specific ones
    errors = [(e, p) for e, p in errors if not any(len(q) > len(p) and q[:len(p)] == p for q in paths)]
    extra = {p[-1] for e, p in errors if e["type"] == "extra_forbidden" and p}
    suggested = set()
    if fields is not None:
        for key in extra:
            hint = did_you_mean(key, list(fields))
            if hint:
                suggested.add(hint.split("'")[1])
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
            hint = did_you_mean(key, known) if known else None
            if not hint and known:
                hint = "known fields: " + ", ".join(known)
            diags.append(Diagnostic("unknown-field", f"unknown field '{key}'{where}",
                                    src.loc(base + path, key=True), scope, hint, notes))
        elif etype == "missing":
            parent = path[:-1]
            diags.append(Diagnostic("missing-field", f"'{path[-1]}' is required{(' in ' + what) if what else ''}",
                                    src.loc(base + parent, key=True) if parent else src.loc(base, key=True),
                                    scope, None, notes))
        else:
            msg = err["msg"]
            msg = msg[:1].lower() + msg[1:]
            msg = msg.replace("input should", "should").replace("value error, ", "")
            got = err.get("input")
            text = f"'{field}' {msg}" if msg.startswith("should") else f"'{field}': {msg}"
            if not isinstance(got, dict) and etype not in ("literal_error",) or etype == "literal_error":
                text += f"; got {describe(got)}"
            hint = None
            if etype == "literal_error" and isinstance(got, str):
                expected = re.findall(r"'([^']*)'", err["msg"])
                hint = did_you_mean(got, expected)
            diags.append(Diagnostic("schema", text, src.loc(base + path), scope, hint, notes))
    return diags
