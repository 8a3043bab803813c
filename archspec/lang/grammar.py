"""The spec language's own words, declared once: the structures an entry may be (`sequence`, `branches`,
`residual`) with their fields, the reserved keys every entry may carry (`name`, `from`, `repeat`, `when`)
and the types a block or top-level parameter may declare. Like the op registry for ops: the expander
(lang/structures.py, lang/expand.py, lang/blocks.py) takes field names, required fields, defaults,
shorthands and type tests from here; the JSON Schema (lang/jsonschema.py) turns each field's `kind` into
a schema and its `doc` into the description; the editor (editor/analysis.py) completes and describes from
the same table; tools/gen_docs.py writes docs/spec-language.md's tables from it. tests/test_grammar.py
checks every structure's example and holds the readers to the table.

>>> [s.name for s in STRUCTURES.values()]
['sequence', 'branches', 'residual']
>>> STRUCTURES["residual"].field_names
('body', 'shortcut', 'scale', 'activation')
>>> STRUCTURES["branches"].field("merge").default
'concat'
"""
from __future__ import annotations

from .. import ops

# A field's kind says what it holds; lang/jsonschema.py gives each kind its schema:
#   body        a list of entries               defaults    attribute defaults per op (`defaults:`)
#   paths       a list or mapping of bodies     merge       the name of a merging op (ops.merges())
#   int         an integer                      number      a number
#   activation  an activation name or null      name        a layer name (no '/' or '.')
#   refs        a layer name or a list of them  count       a whole number ≥ 0
#   bool        true or false
# (each of them may also be a `$` expression, except `defaults`)
KINDS = ("body", "defaults", "paths", "merge", "int", "number", "activation", "name", "refs", "count", "bool")


class Field:
    """One field of a structure or one reserved key: its name, kind (KINDS), what it means (the schema's
    description, the editor's completion text), whether it is required — then `missing` is the error
    when it is absent — and its default (None: none)."""

    __slots__ = ("name", "kind", "doc", "required", "missing", "default")

    def __init__(self, name: str, kind: str, doc: str, required: bool = False, missing: str = "", default=None):
        assert kind in KINDS, kind
        self.name, self.kind, self.doc, self.required, self.missing, self.default = \
            name, kind, doc, required, missing, default


class Structure:
    """An entry that is not a layer: its key, what it does, its fields, the field a bare list stands for
    (`- sequence: [...]` is `- sequence: {body: [...]}`), and an example entry (YAML, checked by
    tests/test_grammar.py). The expander's method `s_<name>` builds it (lang/structures.py)."""

    __slots__ = ("name", "doc", "fields", "shorthand", "example")

    def __init__(self, name: str, doc: str, fields: tuple[Field, ...], example: str, shorthand: str | None = None):
        self.name, self.doc, self.fields, self.example, self.shorthand = name, doc, fields, example, shorthand

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def required(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.required)


def _merges_phrase() -> str:
    m = ops.merges()
    return ", ".join(m[:-1]) + " or " + m[-1]


STRUCTURES: dict[str, Structure] = {s.name: s for s in (
    Structure("sequence", "a nested list of entries in its own scope (with its own defaults)", (
        Field("body", "body", "the entries, each taking the previous one's output", required=True,
              missing="a sequence needs a 'body' list"),
        Field("defaults", "defaults", "attribute defaults per op inside this sequence (inner scopes win)"),
    ), shorthand="body", example="""\
- sequence:
    defaults: {conv2d: {kernel: 3, padding: same}}
    body:
      - conv2d: {filters: 8}
      - conv2d: {filters: 8}
"""),
    Structure("branches", f"parallel paths merged by {_merges_phrase()}", (
        Field("paths", "paths", "parallel paths from the same input (a list, or a mapping name → path); "
              "an empty path is the identity", required=True,
              missing="branches need 'paths': a list of paths (each a list of entries)"),
        Field("merge", "merge", "how the paths are joined", default=ops.role("default_merge")),
        Field("axis", "int", "concat axis (default -1, the channels)"),
    ), example="""\
- branches:
    merge: concat
    paths:
      - [conv2d: {filters: 4, kernel: 1}]
      - [conv2d: {filters: 4, kernel: 3, padding: same}]
"""),
    Structure("residual", "y = shortcut + scale · body(x), with an optional projection shortcut and activation", (
        Field("body", "body", "the layers whose output is added to the shortcut", required=True,
              missing="a residual needs a 'body' list"),
        Field("shortcut", "body", "a projection for the shortcut (default: identity)"),
        Field("scale", "number", "y = shortcut + scale · body", default=1.0),
        Field("activation", "activation", "activation after the add"),
    ), example="""\
- residual:
    body:
      - conv2d: {filters: 3, kernel: 3, padding: same}
    activation: relu
"""),
)}

def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v) -> bool:
    return _number(v) and (v.__class__ is int or v.is_integer())


class ParamType:
    """A parameter type (`filters: int`, `act: {type: "str?"}`): what it accepts, in words and as a test of a
    non-null value (null is accepted by `any` and by an optional type, `int?`)."""

    __slots__ = ("name", "doc", "accepts")

    def __init__(self, name: str, doc: str, accepts):
        self.name, self.doc, self.accepts = name, doc, accepts


PARAM_TYPES: dict[str, ParamType] = {t.name: t for t in (
    ParamType("int", "a whole number, or a list of whole numbers (a kernel: `[1, 7]`)",
              lambda v: _whole(v) or (isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v))),
    ParamType("float", "a number", _number),
    ParamType("number", "a number", _number),
    ParamType("bool", "true or false", lambda v: isinstance(v, bool)),
    ParamType("str", "text", lambda v: isinstance(v, str)),
    ParamType("list", "a list", lambda v: isinstance(v, list)),
    ParamType("pair", "a whole number or a list of two values (`[height, width]`)",
              lambda v: _whole(v) or (isinstance(v, list) and len(v) == 2)),
    ParamType("activation", "an activation name", lambda v: isinstance(v, str)),
    ParamType("any", "any value, null included", lambda v: True),
)}

# keys any entry may carry besides its op's attributes (or a block's parameters)
RESERVED: dict[str, Field] = {f.name: f for f in (
    Field("name", "name", "the layer's name, unique in its scope, without `/` or `.` (default: the op or block name, "
                          "then `_2`, `_3`, …); `from:` refers to it"),
    Field("from", "refs", "the input(s): a name or a list of names; default: the previous entry"),
    Field("repeat", "count", "build the entry N times in a chain; the index `i` (0-based) is available in its attributes"),
    Field("when", "bool", "build the entry only if true: `true`, `false` or a `$` expression giving one "
                          "(`when: $expansion != 1`); any other value is an error"),
)}
