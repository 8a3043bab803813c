"""The spec language's own words, declared once: the structures an entry may be (`sequence`, `branches`,
`residual`) with their fields, and the reserved keys every entry may carry (`name`, `from`, `repeat`,
`when`). Like the op registry for ops: the expander (lang/structures.py, lang/expand.py) takes the field
names, required fields, defaults and shorthands from here; the JSON Schema (lang/jsonschema.py) turns
each field's `kind` into a schema and its `doc` into the description; the editor (editor/analysis.py)
completes and describes from the same table. tests/test_grammar.py checks every structure's example.

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

# keys any entry may carry besides its op's attributes (or a block's parameters)
RESERVED: dict[str, Field] = {f.name: f for f in (
    Field("name", "name", "the layer's name, unique in its scope, without `/` or `.` (default: the op or block name, "
                          "then `_2`, `_3`, …); `from:` refers to it"),
    Field("from", "refs", "the input(s): a name or a list of names; default: the previous entry"),
    Field("repeat", "count", "build the entry N times in a chain; the index `i` (0-based) is available in its attributes"),
    Field("when", "bool", "build the entry only if true: `true`, `false` or a `$` expression giving one "
                          "(`when: $expansion != 1`); any other value is an error"),
)}
