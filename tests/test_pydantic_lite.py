"""The declared models' fast path (archspec/fast/pydantic_lite.py) against pydantic, which defines what is valid:
whatever the fast path accepts, pydantic accepts with the same values, of the same types. The fast
path may decline anything (pydantic then decides), so only its acceptances are checked — on every op
example, every bundled spec's document and blocks, and a grid of odd values in every field."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import imported_by

from archspec import ops
from archspec.fast.pydantic_lite import Invalid, _Decline
from archspec.lang.document import BlockDef, Document, InputDef, Library

ROOT = Path(__file__).resolve().parent.parent

ODD = [0, 1, 2, 3, -1, 1e-3, 3.0, 2.5, -0.5, math.inf, math.nan, True, False, None, "3", "", "same", "relu",
       "valid", "float32", "x", [], [1], [1, 2], [2, 3], [1, 2, 3], [1.0, 2.0], [0, 0], [[0, 1], [2, 3]], [[1, 1]],
       [None, 1, 1], (1, 2), {}, {"a": 1}, {"shape": [4, 4, 3]}, [[1]], ["a", "b"], 10**30]


def _fast(cls, data):
    plan = cls.__dict__.get("_plan") or cls._compile()
    try:
        return plan(data)
    except (_Decline, ValueError, TypeError, AssertionError):
        return None


def _slow(cls, data):
    from pydantic import ValidationError

    try:
        return cls._from_pydantic(cls.pydantic().model_validate(data))
    except ValidationError:
        return None


def _same(cls, data) -> bool:
    """The fast path's answer, when it gives one, is pydantic's (values and their types)."""
    fast = _fast(cls, data)
    if fast is None:
        return True
    slow = _slow(cls, data)
    assert slow is not None, f"{cls.__name__}: the fast path accepts {data!r}, pydantic refuses it"
    assert repr(fast.model_dump()) == repr(slow.model_dump()), (cls.__name__, data)
    return True


# every op's attributes are a declared model, but a summary op's (ops/summary.py): the recorded call, never validated
@pytest.mark.parametrize("name", sorted(k for k, op in ops.REGISTRY.items() if not op.summary))
def test_op_attrs_agree_with_pydantic(name):
    op = ops.REGISTRY[name]
    cls = op.Attrs
    bases = [dict(attrs) for attrs, *_ in op.examples] or [{}]
    accepted = 0
    for base in bases:
        assert _same(cls, base)
        accepted += _fast(cls, base) is not None
    for field in cls.model_fields:
        for value in ODD:
            _same(cls, {**bases[0], field: value})
    _same(cls, {**bases[0], "no_such_field": 1})
    assert accepted == len([b for b in bases if _slow(cls, b) is not None]), \
        f"{name}: the fast path declines its own examples (every spec would pay for pydantic)"


def _specs():
    return sorted(p for p in (ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", _specs(), ids=lambda p: p.name)
def test_documents_agree_with_pydantic(path):
    from archspec.lang.source import parse

    data = parse(path.read_text(), path.name).data
    assert _same(Document, data)
    assert _fast(Document, data) is not None or _slow(Document, data) is None
    for raw in (data.get("blocks") or {}).values():
        _same(BlockDef, raw)
    _same(Library, data)


@pytest.mark.parametrize("cls", [Document, InputDef, BlockDef], ids=lambda c: c.__name__)
def test_document_fields_with_odd_values(cls):
    base = {Document: {"archspec": 1, "name": "n", "inputs": {"x": [4, 4, 3]}, "model": [{"relu": {}}]},
            InputDef: {"shape": [4, 4, 3]}, BlockDef: {"body": [{"relu": {}}]}}[cls]
    assert _fast(cls, base) is not None
    for field in cls.model_fields:
        for value in ODD + [{"x": [1, 2]}, {"bad name": [1]}, {"x": {"shape": [2], "dtype": "int32"}}, ["a"], "a"]:
            _same(cls, {**base, field: value})


def test_invalid_carries_pydantic_errors_and_located_messages_stay():
    with pytest.raises(Invalid) as exc:
        ops.get("conv2d").Attrs.model_validate({"filters": 0, "kernel": 3})
    (err,) = exc.value.errors()
    assert err["loc"] == ("filters",) and err["type"] == "greater_than_equal"


def test_declarations_read_like_pydantic():
    conv = ops.get("conv2d").Attrs
    fields = conv.model_fields
    assert fields["filters"].is_required() and not fields["padding"].is_required()
    assert fields["strides"].default == (1, 1)
    assert list(fields)[:2] == ["kernel", "strides"]             # base class fields first, as pydantic orders them
    a = conv(filters=4, kernel=3)
    assert a == conv.model_validate({"filters": 4, "kernel": [3, 3]}) and hash(a) == hash(conv(filters=4, kernel=3))
    with pytest.raises(TypeError):
        a.filters = 5                                              # frozen
    assert a.model_dump()["kernel"] == (3, 3)
    d = Document.model_validate({"archspec": 1, "name": "n", "inputs": {"x": {"shape": [2]}}, "model": [1]})
    assert isinstance(d.inputs["x"], InputDef) and d.params == {} and d.params is not Document.model_validate(
        {"archspec": 1, "name": "n", "inputs": {"x": [2]}, "model": [1]}).params


def test_a_check_imports_no_pydantic_nor_dataclasses():
    """pydantic (~60 ms with its validators) and dataclasses (~13 ms with the classes it writes) stay off
    a check's path (docs/check-report.md, Speed and size)."""
    code = "from archspec.cli import main\nassert main(['check', 'specs/inception_resnet_v2.yaml']) == 0"
    assert imported_by(code, ("pydantic", "dataclasses")) == []
