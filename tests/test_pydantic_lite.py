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
from archspec.lang import training
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
    """pydantic (with its validators) and dataclasses (with the classes it writes) stay off a check's
    path: each would cost it a measurable share (docs/design.md, docs/check-report.md, Speed and size)."""
    code = "from archspec.cli import main\nassert main(['check', 'specs/inception_resnet_v2.yaml']) == 0"
    assert imported_by(code, ("pydantic", "dataclasses")) == []


# the training section's models, with a valid mapping each (the grid below varies one field at a time)
TRAINING = {
    training.TrainingDef: {"optimizer": "sgd", "epochs": 3, "rescale": "1/255", "metrics": ["accuracy"],
                           "class_weight": {"0": 1.0, 1: 2}, "target": {"accuracy": 0.9}},
    training.DataDef: {"source": "digits", "test_size": 0.25, "target_size": [8, 8], "class_mode": "int"},
    training.OptimizerDef: {"name": "sgd", "momentum": 0.9, "nesterov": True},
    training.EarlyStoppingDef: {"patience": 2, "monitor": "val_accuracy", "mode": "max"},
    training.ScheduleDef: {"type": "step", "boundaries": [3, 6], "factor": 0.5},
    training.AugmentDef: {"flip": "horizontal", "rotation": 0.1, "zoom": 0.0},
}


def _pydantic_instance(cls, data):
    from pydantic import ValidationError

    try:
        return cls.pydantic().model_validate(data)
    except ValidationError:
        return None


def _same_dumps(cls, data):
    """Beyond _same: model_extra and model_dump's include / exclude / exclude_defaults give pydantic's
    answers (compared with pydantic's own instance, not a converted one)."""
    fast, real = _fast(cls, data), _pydantic_instance(cls, data)
    if fast is None:
        return
    assert real is not None, f"{cls.__name__}: the fast path accepts {data!r}, pydantic refuses it"
    assert repr(fast.model_extra) == repr(real.model_extra), (cls.__name__, data)
    names = list(cls.model_fields)
    some = {names[0], names[-1], "no_such_field", *(data if isinstance(data, dict) else ())}
    for kw in ({}, {"exclude_defaults": True}, {"include": some}, {"exclude": some},
               {"include": some, "exclude_defaults": True}):
        assert repr(fast.model_dump(**kw)) == repr(real.model_dump(**kw)), (cls.__name__, data, kw)
    for k, v in (fast.model_extra or {}).items():
        assert getattr(fast, k) is v


@pytest.mark.parametrize("cls", list(TRAINING), ids=lambda c: c.__name__)
def test_training_models_agree_with_pydantic(cls):
    base = TRAINING[cls]
    assert _fast(cls, base) is not None, f"{cls.__name__}: the fast path declines a plain section"
    assert _same(cls, base) and _same(cls, {})
    _same_dumps(cls, base)
    _same_dumps(cls, {k: v for k, v in base.items() if k in ("name", "type")})
    for field in [*cls.model_fields, "no_such_field", "momentum"]:
        for value in ODD + [{"x": 1.5}, ["a"], "a", "2/3", "1/0", "horizontal"]:
            _same(cls, {**base, field: value})
            _same_dumps(cls, {**base, field: value})


def test_extra_keys_are_kept_and_never_shadow_the_model():
    opt = training.OptimizerDef.model_validate({"name": "adam", "beta_1": 0.8, "model_dump": 1, "name_x": "y"})
    assert opt.model_extra == {"beta_1": 0.8, "model_dump": 1, "name_x": "y"} and opt.beta_1 == 0.8
    assert opt.model_dump() == {"name": "adam", "beta_1": 0.8, "model_dump": 1, "name_x": "y"}   # still the method
    assert opt == training.OptimizerDef.model_validate({"name": "adam", "beta_1": 0.8, "model_dump": 1, "name_x": "y"})
    assert opt != training.OptimizerDef.model_validate({"name": "adam", "beta_1": 0.9, "model_dump": 1, "name_x": "y"})
    assert training.OptimizerDef.model_validate({"name": "adam"}).model_extra == {}
    assert training.TrainingDef.model_validate({}).model_extra is None            # extra="forbid"
    with pytest.raises(AttributeError):
        training.OptimizerDef.model_validate({"name": "adam"}).beta_1
    with pytest.raises(Invalid) as exc:
        training.OptimizerDef.model_validate({"name": "adam", 3: 1})               # a key that is not text
    assert exc.value.errors()[0]["type"] == "invalid_key"
    with pytest.raises(TypeError):
        opt.model_dump(include={"name": True})                                    # nested include: not taken


def test_the_training_section_imports_no_pydantic():
    code = ("from archspec.lang.training import TrainingDef, OptimizerDef\n"
            "TrainingDef.model_validate({'optimizer': 'sgd', 'epochs': 3, 'rescale': '1/255'})\n"
            "OptimizerDef.model_validate({'name': 'sgd', 'momentum': 0.9}).model_extra")
    assert imported_by(code, ("pydantic",)) == []
