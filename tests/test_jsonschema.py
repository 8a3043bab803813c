"""The JSON Schema (`archspec schema`): draft-07, generated from the op registry; every bundled spec
validates with a standard validator (`jsonschema`), and the broken-spec corpus's unknown-field,
wrong-type and out-of-range cases are refused at the line `archspec check` reports."""
import json
import re

import pytest
import yaml
from conftest import FIXTURES, ROOT, SPECS

from archspec import ops
from archspec.lang.jsonschema import json_schema, schema_text
from archspec.lang.source import parse

jsonschema = pytest.importorskip("jsonschema")  # the editor extra
pytestmark = pytest.mark.extras

SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
BUNDLED = sorted(SPECS.rglob("*.yaml")) + sorted(SPECS.rglob("*.json"))
BROKEN = FIXTURES / "broken"
ANNOT = re.compile(r"#\s*(error|warning):\s*([a-z-]+)")
# broken specs whose mistake a schema can see (the rest need shapes, expressions or the graph)
SCHEMA_VISIBLE = {
    "conv_misspelled_attr", "defaults_unknown_attr", "residual_unknown_field", "top_unknown_field",
    "flow_comma_pair", "block_error_and_model_error",                                  # unknown field
    "conv_string_filters", "conv_float_filters", "conv_kernel_triple", "conv_bad_padding",
    "conv_bad_activation", "branches_bad_merge", "wrong_version", "model_not_list", "top_is_list",
    "ignore_unknown_warning", "name_with_slash", "bare_name_for_number", "defaults_unknown_op",  # wrong type / value
    "conv_zero_filters", "conv_negative_kernel", "conv_zero_stride", "dense_zero_units", "dropout_negative",
    "dropout_one", "input_zero", "repeat_negative", "inputs_empty", "branches_one_path",       # out of range
}


def errors(data):
    return list(VALIDATOR.iter_errors(data))


def entry(**attrs):
    return {"archspec": 1, "name": "t", "inputs": {"x": [8, 8, 3]}, "model": [attrs]}


def test_schema_is_draft7_and_generated_from_the_registry():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    entry_ops = SCHEMA["definitions"]["entry_map"]["properties"]
    user = {k for k, v in ops.REGISTRY.items() if not getattr(v, "internal", False)}
    assert user <= set(entry_ops), user - set(entry_ops)
    for name in user:
        op = ops.REGISTRY[name]
        props = SCHEMA["definitions"][f"op_{name}"]["properties"]
        assert set(op.Attrs.model_fields) <= set(props)
        assert entry_ops[name]["description"], name
        undescribed = [f for f, p in props.items()
                       if not p.get("description", "").replace("(required unless set in `defaults:`)", "").strip()]
        assert not undescribed, f"{name}: describe {undescribed} (Field(description=...) or ATTR_DOCS)"


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(SPECS)))
def test_every_bundled_spec_validates(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errs = errors(data)
    assert not errs, jsonschema.exceptions.best_match(errs)


def test_every_op_example_validates():
    """The schema is never stricter than the ops: each op's own examples pass (shorthand forms too)."""
    for name, op in ops.REGISTRY.items():
        if getattr(op, "internal", False):
            continue
        for attrs, *_ in op.examples:
            data = json.loads(json.dumps(entry(**{name: dict(attrs)}), default=list))
            assert not errors(data), (name, attrs, jsonschema.exceptions.best_match(errors(data)).message)


@pytest.mark.parametrize("value, ok", [
    ({"filters": 8, "kernel": 3}, True),
    ({"filters": 8, "kernal": 3}, False),               # unknown field
    ({"filters": "eight", "kernel": 3}, False),          # wrong type
    ({"filters": -8, "kernel": 3}, False),               # out of range
    ({"filters": 8, "kernel": [1, 7], "padding": "same"}, True),
    ({"filters": 8, "kernel": [1, 7, 7]}, False),
    ({"filters": 8, "kernel": 3, "padding": "sme"}, False),
    ({"filters": "$width * 2", "kernel": ["$k", 1], "strides": "$2 if i == 0 else 1"}, True),   # expressions
    ({"filters": 8, "kernel": 3, "name": "stem", "from": ["x"], "repeat": "$depth", "when": True}, True),
    ({"filters": 8, "kernel": 3, "repeat": -1}, False),
    (None, True),                                        # every attribute from `defaults:`
])
def test_conv2d_entries(value, ok):
    assert (not errors(entry(conv2d=value))) is ok


def test_block_calls_are_only_for_names_that_are_not_ops():
    assert not errors(entry(conv_bn={"filters": 8, "anything": [1, 2]}))
    assert not errors(entry(**{"$stem": {"filters": 8}}))           # a block chosen by a search space
    assert errors(entry(conv2d={"filters": 8, "kernel": 3, "anything": 1}))
    assert errors({**entry(relu={}), "blocks": {"conv2d": {"body": [{"relu": {}}]}}})   # a block named like an op


def test_shorthand_and_structures():
    assert not errors(entry(activation="relu"))
    assert errors(entry(activation="rleu"))
    assert not errors(entry(activation="$act"))
    assert not errors(entry(residual={"body": [{"conv2d": {"filters": 8, "kernel": 3}}], "scale": 0.17,
                                      "activation": "relu"}))
    assert errors(entry(residual={"body": [], "scael": 0.1}))
    assert not errors(entry(branches={"paths": [[{"relu": {}}], None], "merge": "add"}))
    assert errors(entry(branches={"paths": [[{"relu": {}}], None], "merge": "sum"}))
    assert not errors(entry(sequence=[{"relu": {}}]))
    assert not errors({"archspec": 1, "blocks": {"b": {"body": [{"relu": {}}]}}})       # a library of blocks


@pytest.mark.parametrize("name", sorted(SCHEMA_VISIBLE))
def test_broken_corpus_is_refused_at_the_line_check_reports(name):
    path = BROKEN / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    want = {n for n, line in enumerate(text.splitlines(), 1) if ANNOT.search(line)}
    src = parse(text, path.name)
    errs = errors(src.data)
    assert errs, f"{name}: the schema accepts it"
    best = [jsonschema.exceptions.best_match([e]) for e in errs]     # the alternative an editor shows
    lines = {src.loc(tuple(e.absolute_path), key=k).line for e in best for k in (False, True)}
    key_lines = {src.loc(tuple(e.absolute_path) + (k,), key=True).line for e in best   # an editor marks the key
                 if e.validator == "additionalProperties" for k in set(e.instance) - set(e.schema.get("properties", {}))}
    assert want <= lines | key_lines, (name, want, lines, key_lines, [e.message for e in best])


def test_committed_schema_file_and_modelines_are_current():
    """schema/archspec.schema.json is what `archspec schema` prints; every bundled YAML spec starts with
    the modeline naming it, on its first line (yaml-language-server >= 1.24 ignores one after YAML
    content; tools/gen_docs.py writes both)."""
    assert (ROOT / "schema" / "archspec.schema.json").read_text(encoding="utf-8") == schema_text()
    for p in sorted(SPECS.rglob("*.yaml")):
        m = re.match(r"# yaml-language-server: \$schema=(\S+)\n", p.read_text(encoding="utf-8"))
        assert m, f"{p.name}: no modeline (run python tools/gen_docs.py)"
        assert (p.parent / m.group(1)).resolve() == (ROOT / "schema" / "archspec.schema.json").resolve()
