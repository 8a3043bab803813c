"""The JSON Schema of the spec language, generated from the document model and the op registry,
so editors (VS Code's YAML extension) autocomplete op names and attributes and underline mistakes."""
from __future__ import annotations

from .. import ops
from .schema import BlockDef, Document

EXPR = {"type": "string", "pattern": "^\\$", "description": "an expression, e.g. $filters * 2 or $in.channels"}
RESERVED_PROPS = {
    "name": {"type": "string", "description": "layer name (unique in its scope)"},
    "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
             "description": "input layer name(s); default: the previous entry"},
    "repeat": {"anyOf": [{"type": "integer", "minimum": 0}, EXPR], "description": "repeat N times; `i` is the index"},
    "when": {"anyOf": [{"type": "boolean"}, EXPR], "description": "include this entry only if true"},
}


def _exprable(schema: dict) -> dict:
    return {"anyOf": [schema, EXPR]} if schema else schema


def _op_schema(op) -> dict:
    s = op.Attrs.model_json_schema()
    props = {k: _exprable(v) for k, v in s.get("properties", {}).items()}
    props.update(RESERVED_PROPS)
    attrs = {"type": "object", "properties": props, "additionalProperties": False,
             "required": s.get("required", []), "description": op.doc}
    defs = s.get("$defs", {})
    value = {"anyOf": [attrs, {"type": "null"}] + ([{"description": f"shorthand for {op.primary}"}] if op.primary else [])}
    return {"type": "object", "properties": {op.name: value}, "required": [op.name], "additionalProperties": False,
            **({"$defs": defs} if defs else {})}


def json_schema() -> dict:
    doc = Document.model_json_schema()
    entry_variants = []
    defs = dict(doc.get("$defs", {}))
    for name, op in sorted(ops.REGISTRY.items()):
        if getattr(op, "internal", False):
            continue
        s = _op_schema(op)
        defs.update(s.pop("$defs", {}))
        defs[f"op_{name}"] = s
        entry_variants.append({"$ref": f"#/$defs/op_{name}"})
    body = {"type": "array", "items": {"$ref": "#/$defs/entry"}}
    structures = {
        "sequence": {"type": "object", "properties": {"body": body, "defaults": {"type": "object"}, **RESERVED_PROPS},
                     "required": ["body"], "additionalProperties": False},
        "branches": {"type": "object", "properties": {
            "paths": {"anyOf": [{"type": "array", "items": body},
                                {"type": "object", "additionalProperties": body}]},
            "merge": {"enum": list(ops.merges())},
            "axis": {"type": "integer"}, **RESERVED_PROPS}, "required": ["paths"], "additionalProperties": False},
        "residual": {"type": "object", "properties": {
            "body": body, "shortcut": body, "scale": {"anyOf": [{"type": "number"}, EXPR]},
            "activation": {"anyOf": [{"type": "string"}, {"type": "null"}]}, **RESERVED_PROPS},
            "required": ["body"], "additionalProperties": False},
    }
    for name, s in structures.items():
        defs[f"structure_{name}"] = {"type": "object", "properties": {name: s}, "required": [name],
                                     "additionalProperties": False}
        entry_variants.append({"$ref": f"#/$defs/structure_{name}"})
    # a block call: any other single key with a mapping of parameters
    entry_variants.append({"type": "object", "minProperties": 1, "maxProperties": 1,
                           "additionalProperties": {"type": ["object", "null"]},
                           "description": "a call of a block defined under `blocks:`"})
    entry_variants.append({"type": "string", "description": "an op without attributes, e.g. flatten"})
    defs["entry"] = {"anyOf": entry_variants}
    doc["properties"]["model"] = {**body, "description": "the network: a list of entries"}
    block = BlockDef.model_json_schema()
    block["properties"]["body"] = body
    defs["BlockDef"] = block
    doc["$defs"] = defs
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "archspec spec"
    return doc
