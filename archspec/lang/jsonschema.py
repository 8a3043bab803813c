"""The JSON Schema of the spec language (draft-07, what VS Code's YAML extension and other
yaml-language-server editors read), generated from the document model and the op registry.

An entry of a body is one mapping whose properties are the op names (each with its own attribute
schema: types, ranges, enums, defaults, descriptions) and the structures; any other single key is
a block call. So `conv2d: {kernal: 3}`, `conv2d: {filters: "eight"}` and `conv2d: {filters: -8}` are
underlined by the editor from the schema alone, and typing `- ` completes the op names.

Where the language evaluates expressions (attribute values, block arguments, `repeat`, `when`,
`name`, at any depth of a list), a string starting with `$` is accepted in place of the value.
The schema is never stricter than `archspec check`: a field whose validator converts its input
(a `kernel: 3` that means 3×3) states what it accepts, and one that does not say is left open.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from .. import ops
from ..codes import WARNINGS
from ..ops.base import ATTR_DOCS
from . import grammar
from .context import MERGES, STRUCTURES
from .document import NAME_PATTERN

DRAFT = "http://json-schema.org/draft-07/schema#"
EXPR = {"type": "string", "pattern": r"^\$", "description": "an expression, e.g. $filters * 2 or $in.channels"}
NAME_VALUE = {"type": "string", "pattern": r"^[^/.]+$"}


def _kind_schema(kind: str, body: dict) -> dict:
    """The schema of a field of kind `kind` (lang/grammar.py KINDS); `body` is the reference to a list of entries."""
    path = {"anyOf": [body, {"$ref": "#/definitions/entry"}, {"type": "null"}]}
    return {
        "body": lambda: dict(body),
        "defaults": lambda: {"$ref": "#/definitions/defaults"},
        "paths": lambda: {"anyOf": [
            {"type": "array", "minItems": 2, "items": path},
            {"type": "object", "minProperties": 2, "propertyNames": {"pattern": NAME_VALUE["pattern"]},
             "additionalProperties": path}]},
        "merge": lambda: {"anyOf": [{"enum": list(MERGES)}, EXPR]},
        "int": lambda: {"anyOf": [{"type": "integer"}, EXPR]},
        "number": lambda: {"anyOf": [{"type": "number"}, EXPR]},
        "activation": lambda: {"anyOf": [{"enum": list(_activations())}, {"type": "null"}, EXPR]},
        "name": lambda: {"anyOf": [dict(NAME_VALUE), EXPR]},
        "refs": lambda: {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "count": lambda: {"anyOf": [{"type": "integer", "minimum": 0}, EXPR]},
        "bool": lambda: {"anyOf": [{"type": "boolean"}, EXPR]},
    }[kind]()


def _field_schema(f, body: dict) -> dict:
    out = {**_kind_schema(f.kind, body), "description": f.doc}
    if f.default is not None:
        out["default"] = f.default
    return out


RESERVED = {k: _field_schema(f, {}) for k, f in grammar.RESERVED.items()}


def json_schema() -> dict:
    """The whole schema (a fresh dict each call)."""
    from .document import BlockDef, Document

    user_ops = dict(sorted(ops.user_ops().items()))
    defs: dict[str, Any] = {}
    entry_props: dict[str, Any] = {}
    defaults_props: dict[str, Any] = {}
    for name, op in user_ops.items():
        attrs, required = _op_attrs(op)
        defs[f"op_{name}"] = attrs
        value = [{"$ref": f"#/definitions/op_{name}"}, {"type": "null"}]   # null: all from `defaults:`
        if op.primary:                           # `- activation: relu`
            value.append({**_exprable(copy.deepcopy(attrs["properties"][op.primary])),
                          "description": f"shorthand for {{{op.primary}: …}}"})
        entry_props[name] = {"anyOf": value, "description": _op_doc(op)}
        defaults_props[name] = {"type": "object", "additionalProperties": False,
                                "properties": {k: v for k, v in attrs["properties"].items() if k not in RESERVED},
                                "description": f"defaults for every {name} in this scope"}
    body = {"type": "array", "items": {"$ref": "#/definitions/entry"}}
    defs["body"] = {**body, "description": "a list of entries, each taking the previous one's output"}
    ref_body = {"$ref": "#/definitions/body"}
    defs["defaults"] = {"type": "object", "properties": defaults_props, "additionalProperties": False,
                        "description": "attribute defaults per op for this scope (inner scopes win)"}
    entry_props.update(_structures(ref_body))
    not_blocks = sorted(user_ops) + list(STRUCTURES)
    defs["entry_map"] = {
        "type": "object", "minProperties": 1, "maxProperties": 1, "properties": entry_props,
        "additionalProperties": {"anyOf": [{"type": "object", "properties": RESERVED}, {"type": "null"}],
                                 "description": "a call of a block defined under `blocks:` (or included)"},
        "propertyNames": {"anyOf": [{"enum": not_blocks}, {"pattern": NAME_PATTERN}, {"pattern": r"^\$"}]},
    }
    defs["entry"] = {"anyOf": [
        {"$ref": "#/definitions/entry_map"},
        {"type": "string", "description": "an op or block without attributes, e.g. flatten"},
    ]}
    doc, doc_defs = _model_schema(Document)
    defs.update(doc_defs)
    props = doc["properties"]
    doc["required"] = ["archspec"]               # a library of blocks (an included file) has no model
    doc["dependencies"] = {"model": ["name", "inputs"]}
    props["archspec"] = {"const": 1, "description": "the spec language version"}
    props["model"] = {**body, "minItems": 1, "description": "the network: a list of entries"}
    props["defaults"] = {"$ref": "#/definitions/defaults"}
    props["ignore_warnings"] = {"type": "array", "items": {"enum": sorted(WARNINGS)},
                                "description": "warning codes this spec knowingly accepts"}
    props["params"] = {"type": "object", "propertyNames": {"pattern": NAME_PATTERN},
                       "description": "top-level parameters (a value, a type such as `int`, "
                                      "{type, default, doc}, or a search space), overridable with --set NAME=VALUE"}
    props["include"]["description"] = "files whose blocks this spec uses, relative to this file"
    props["blocks"] = {"type": "object", "additionalProperties": {"$ref": "#/definitions/block"},
                       "propertyNames": {"pattern": NAME_PATTERN, "not": {"enum": not_blocks}},
                       "description": "reusable, parameterized blocks; call one as `- name: {param: value}`"}
    props["training"] = _training_schema(defs)
    block, block_defs = _model_schema(BlockDef)
    defs.update(block_defs)
    block["properties"]["body"] = {**ref_body, "minItems": 1}
    block["properties"]["defaults"] = {"$ref": "#/definitions/defaults"}
    block["properties"]["params"] = {"type": "object", "propertyNames": {"pattern": NAME_PATTERN},
                                     "description": "parameters: `name: type` (required), `name: default`, "
                                                    "or {type, default, doc}"}
    defs["block"] = block
    return {"$schema": DRAFT, "title": "archspec spec",
            "description": "An archspec architecture spec (https://json-schema.org draft-07).",
            **{k: v for k, v in doc.items() if k not in ("title",)}, "definitions": defs}


def schema_text() -> str:
    """The schema as `archspec schema` prints it (and schema/archspec.schema.json holds it)."""
    import json

    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


MODELINE = re.compile(r"^#\s+yaml-language-server\s*:.*$", re.M)


def with_modeline(text: str, schema_path: str) -> str:
    """`text` starting with the `# yaml-language-server: $schema=...` comment that makes editors with the
    YAML extension validate and complete it with no set-up. On the first line: yaml-language-server
    ≥ 1.24 ignores a modeline after YAML content. An existing modeline elsewhere is moved there.

    >>> print(with_modeline("# a spec\\narchspec: 1\\n\\n# yaml-language-server: $schema=old.json\\n", "s.json"), end="")
    # yaml-language-server: $schema=s.json
    # a spec
    archspec: 1
    """
    line = f"# yaml-language-server: $schema={schema_path}"
    return line + "\n" + without_modeline(text)


def without_modeline(text: str) -> str:
    """`text` without its modeline line(s) (and the blank line a trailing one was set apart by)."""
    if not MODELINE.search(text):
        return text
    body = re.sub(r"\n?" + MODELINE.pattern + r"\n?", "\n", text, flags=re.M)
    return body.lstrip("\n").rstrip("\n") + "\n"


def modeline_schema(text: str) -> str | None:
    """The `$schema=` target of the text's modeline, if it has one."""
    m = re.search(r"^#\s+yaml-language-server\s*:.*\$schema=(\S+)", text, re.M)
    return m.group(1) if m else None


SCHEMA_NAMES = ("archspec.schema.json", "schema/archspec.schema.json")


def find_schema(folder):
    """The schema file nearest to `folder`: `archspec.schema.json` or `schema/archspec.schema.json`
    in it or in a folder above (what `archspec schema -o` wrote, or a checkout's copy)."""
    from pathlib import Path

    here = Path(folder).resolve()
    for d in (here, *here.parents):
        for name in SCHEMA_NAMES:
            if (d / name).is_file():
                return d / name
    return None


def place_modeline(text: str, out, source=None) -> str:
    """The text of a spec archspec writes to the file `out` (import, sample, search's best.yaml), its
    modeline first: the source's modeline rebased from the file `source` when it names a local file,
    else one naming the nearest schema file (`find_schema`); none when there is none to name (a
    modeline pointing at a missing file is an editor error), and JSON text unchanged."""
    import os
    from pathlib import Path

    if text.lstrip().startswith("{"):
        return text
    out_dir = Path(out).resolve().parent
    target = modeline_schema(text)
    if target and "://" not in target and source is not None:
        old = (Path(source).resolve().parent / target).resolve()
        if old.is_file():
            return with_modeline(text, Path(os.path.relpath(old, out_dir)).as_posix())
    elif target:
        return with_modeline(text, target)      # a URL, or nowhere to rebase from: as it was
    found = find_schema(out_dir)
    if found is None:
        return without_modeline(text)
    return with_modeline(text, Path(os.path.relpath(found, out_dir)).as_posix())


# ---- ops -------------------------------------------------------------------------------------
def _op_doc(op) -> str:
    return f"{op.doc} (keras.layers.{op.keras_class})" if getattr(op, "keras_class", None) else op.doc


def _op_attrs(op) -> tuple[dict, list]:
    s, defs = _model_schema(op.Attrs)
    props = {}
    for field, fs in s.get("properties", {}).items():
        fs = _inline(fs, defs)
        if "description" not in fs and field in ATTR_DOCS:
            fs["description"] = ATTR_DOCS[field]
        props[field] = _exprable(fs)
    props.update(copy.deepcopy(RESERVED))
    # required attributes are not `required` here: a scope's `defaults:` may give them
    required = s.get("required", [])
    for field in required:
        props[field]["description"] = (props[field].get("description", "") + " (required unless set in `defaults:`)").strip()
    return {"type": "object", "properties": props, "additionalProperties": False, "description": op.doc}, required


def _exprable(node: dict) -> dict:
    """`node`, or an expression in its place, at every depth (lists of expressions too)."""
    if not node or node.get("pattern") == EXPR["pattern"]:
        return node
    node = dict(node)
    if isinstance(node.get("items"), dict):
        node["items"] = _exprable(node["items"])
    elif isinstance(node.get("items"), list):
        node["items"] = [_exprable(x) for x in node["items"]]
    if "anyOf" in node and len(node) <= 3:       # anyOf (+ description/default): extend it
        alts = [_exprable(a) for a in node["anyOf"]]
        node["anyOf"] = [a for alt in alts for a in (alt["anyOf"] if set(alt) == {"anyOf"} else [alt])
                         if a.get("pattern") != EXPR["pattern"]] + [EXPR]
        return node
    keep = {k: node.pop(k) for k in ("description", "default") if k in node}
    return {"anyOf": [node, EXPR], **keep}


# ---- structures -------------------------------------------------------------------------------
def _structures(body: dict) -> dict:
    out = {}
    for s in grammar.STRUCTURES.values():
        obj = {"type": "object", "properties": {**{f.name: _field_schema(f, body) for f in s.fields}, **RESERVED},
               "required": [f.name for f in s.required], "additionalProperties": False}
        out[s.name] = {"anyOf": [obj, body]} if s.shorthand else obj   # `- sequence: [...]`: the body alone
        out[s.name]["description"] = s.doc
    return out


def _activations():
    from ..ops.base import ACTIVATIONS

    return ACTIVATIONS


def _training_schema(defs: dict) -> dict:
    from .training import TrainingDef

    s, tdefs = _model_schema(TrainingDef)
    defs.update({f"training_{k}": v for k, v in tdefs.items()})
    s = _rename_refs(s, {k: f"training_{k}" for k in tdefs})
    for k in list(defs):
        if k.startswith("training_"):
            defs[k] = _rename_refs(defs[k], {n: f"training_{n}" for n in tdefs})
    return {"anyOf": [s, {"type": "null"}], "description": "how `archspec train` trains this network (docs/train.md)"}


# ---- pydantic (JSON Schema 2020-12) → draft-07 ------------------------------------------------
def _model_schema(model) -> tuple[dict, dict]:
    """`model`'s JSON Schema in draft-07 form, and its definitions. Fields whose before-validator
    accepts more than the field's type (and does not say what) are left open, never stricter."""
    s = model.model_json_schema(ref_template="#/definitions/{model}")
    defs = s.pop("$defs", {})
    s = _draft07(s)
    defs = {k: _draft07(v) for k, v in defs.items()}
    for field in _converted_fields(model):
        if field in s.get("properties", {}):
            old = s["properties"][field]
            s["properties"][field] = {k: old[k] for k in ("description", "default") if k in old}
    return s, defs


def _converted_fields(model) -> set[str]:
    """The fields with a before-validator that does not say what it accepts (`json_schema_input_type`)."""
    from ..fast.pydantic_lite import REQUIRED, BeforeValidator

    return {name for name, info in model.model_fields.items()
            if any(isinstance(m, BeforeValidator) and m.json_schema_input_type is REQUIRED for m in info.metadata)}


def _draft07(node):
    if isinstance(node, list):
        return [_draft07(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "title":
            continue
        if k == "prefixItems":
            out["items"] = _draft07(v)
            if node.get("maxItems") == len(v):
                out["additionalItems"] = False
            continue
        if k in ("properties", "definitions", "patternProperties"):
            out[k] = {name: _draft07(x) for name, x in v.items()}
            continue
        out[k] = _draft07(v)
    if "patternProperties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False      # a dict keyed by names: other keys are refused
    return out


def _inline(node: dict, defs: dict) -> dict:
    """Replace `$ref`s to the model's own definitions (enums such as Padding) by their content."""
    if isinstance(node, dict):
        if "$ref" in node and len(node) == 1:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in defs:
                return _inline(copy.deepcopy(defs[name]), defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(x, defs) for x in node]
    return node


def _rename_refs(node, names: dict):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.rsplit("/", 1)[-1] in names:
                v = "#/definitions/" + names[v.rsplit("/", 1)[-1]]
            out[k] = _rename_refs(v, names)
        return out
    if isinstance(node, list):
        return [_rename_refs(x, names) for x in node]
    return node
