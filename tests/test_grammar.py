"""The structures and reserved keys (lang/grammar.py) are declared once and every reader agrees with the table:
`archspec check` accepts each structure's example and refuses what the table does not list, the JSON Schema
lists exactly the table's fields with its descriptions, and the editor completes and describes the same."""
import json

import pytest
import yaml

from archspec import api
from archspec.editor import analysis
from archspec.errors import SpecError
from archspec.lang.expand import Expander
from archspec.lang.grammar import PARAM_TYPES, RESERVED, STRUCTURES
from archspec.lang.jsonschema import json_schema

HEAD = "archspec: 1\nname: t\ninputs: {x: [8, 8, 3]}\nmodel:\n"


def _spec(entry_yaml: str) -> str:
    return HEAD + "".join("  " + line + "\n" for line in entry_yaml.splitlines())


def _codes(text: str) -> list[tuple[str, str]]:
    try:
        api.load_text(text)
    except SpecError as exc:
        return [(d.code, d.message) for d in exc.diagnostics]
    return []


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_each_example_checks_and_makes_its_scope(name):
    s = STRUCTURES[name]
    assert hasattr(Expander, "s_" + name), f"the expander builds {name} in s_{name}"
    g = api.load_text(_spec(s.example)).graph
    assert [sc.kind for sc in g.scopes.values()][0] == name


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_check_refuses_a_field_the_table_does_not_list_and_names_the_fields(name):
    entry = yaml.safe_load(STRUCTURES[name].example)[0]
    entry[name]["bogus_field"] = 1
    (code, message), = _codes(HEAD + "  - " + yaml.safe_dump(entry, default_flow_style=True))
    assert code == "unknown-field" and "bogus_field" in message


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_a_missing_required_field_is_the_tables_error(name):
    for f in STRUCTURES[name].required:
        entry = yaml.safe_load(STRUCTURES[name].example)[0]
        del entry[name][f.name]
        assert _codes(HEAD + "  - " + yaml.safe_dump(entry, default_flow_style=True)) == [("missing-field", f.missing)]


def test_defaults_and_shorthand_come_from_the_table():
    g = api.load_text(_spec(STRUCTURES["branches"].example.replace("    merge: concat\n", "")))
    merges = [n.op for n in g.graph.nodes.values() if n.scope == "branches"]
    assert merges == [STRUCTURES["branches"].field("merge").default]
    shorthand = STRUCTURES["sequence"].shorthand
    assert shorthand and not _codes(HEAD + "  - sequence: [{relu: {}}]\n")


def test_the_schema_lists_the_tables_fields_with_their_descriptions():
    props = json_schema()["definitions"]["entry_map"]["properties"]
    for name, s in STRUCTURES.items():
        node = props[name]
        assert node["description"] == s.doc
        obj = next(a for a in node.get("anyOf", [node]) if a.get("type") == "object")
        assert set(obj["properties"]) == set(s.field_names) | set(RESERVED)
        assert obj["required"] == [f.name for f in s.required]
        for f in s.fields:
            assert obj["properties"][f.name]["description"] == f.doc
        assert ("anyOf" in node) == bool(s.shorthand)


def test_the_editor_completes_and_describes_from_the_table():
    for name, s in STRUCTURES.items():
        items = analysis.completions(None, "model:\n  - " + name + ": {", 1, len("  - " + name + ": {"))
        assert [i.label for i in items] == list(s.field_names) + list(RESERVED)
        assert {i.label: i.doc for i in items} == {**{f.name: f.doc for f in s.fields},
                                                     **{k: f.doc for k, f in RESERVED.items()}}
        assert s.doc in analysis.describe_name(name) and s.example in analysis.describe_name(name)
    entries = {i.label: i for i in analysis.completions(None, "model:\n  - ", 1, 4)}
    assert all(entries[n].kind == "structure" and entries[n].detail == s.doc for n, s in STRUCTURES.items())
    merge = analysis.completions(None, "model:\n  - branches: {merge: ", 1, len("  - branches: {merge: "))
    from archspec import ops
    assert [i.label for i in merge] == list(ops.merges())


# a value each type accepts, and one it refuses (None: it refuses nothing)
SAMPLES = {"int": ([1, 7], 1.5), "float": (0.5, "x"), "number": (2, [1]), "bool": (True, 1), "str": ("relu", 3),
           "list": ([1, 2], 3), "pair": ([3, 5], [1, 2, 3]), "activation": ("gelu", 1), "any": ({"a": 1}, None)}


@pytest.mark.parametrize("ptype", list(PARAM_TYPES))
def test_each_parameter_type_is_declared_once_and_checked_by_its_test(ptype):
    assert set(SAMPLES) == set(PARAM_TYPES), "give the new type a sample"
    good, bad = SAMPLES[ptype]
    spec = ("archspec: 1\nname: t\ninputs: {x: [8, 8, 3]}\nblocks:\n  b:\n    params: {p: %s}\n"
            "    body: [relu: {}]\nmodel:\n  - b: {p: %s}\n")
    assert not _codes(spec % (ptype, json.dumps(good)))
    if bad is not None:
        (code, message), = _codes(spec % (ptype, json.dumps(bad)))
        assert code == "param-type" and f"expected {ptype}" in message
    assert bool(_codes(spec % (ptype, "null"))) == (ptype != "any")
    assert not _codes(spec % (ptype + "?", "null"))
