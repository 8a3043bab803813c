"""Declared models: pydantic's way of writing a model, validated without importing pydantic.

The op attribute models (``ConvAttrs``), the document model (``Document``) and the ``training:``
section's (``TrainingDef``) are written as pydantic models are — annotations, ``Field(...)`` defaults
and constraints, ``BeforeValidator``s, ``model_validator(mode="after")``, ``extra="allow"`` with
``model_extra`` — but against this module's stand-ins, so that importing and checking a spec never
imports pydantic (importing it and building these models would more than double a cold ``archspec
check``; docs/design.md has the measurements).

Validation has one meaning, pydantic's. :meth:`Model.model_validate` first tries a *fast path* that
accepts only values whose pydantic result is certain: exact types (an ``int`` for an int field, a
``str`` from a literal's choices, a list of the right length for a pair), constraints that hold, no
unknown or missing keys. Anything else — a bool where an int is expected, ``"3"``, ``3.0`` for an int,
a constraint that fails, a missing field — goes to the real pydantic model, built from the same
declaration on first need (:meth:`Model.pydantic`), which accepts with its own coercions or raises its
``ValidationError`` (raised as :class:`Invalid`, turned into located diagnostics). The fast path never rejects, it only
declines; ``tests/test_pydantic_lite.py`` holds it equal to pydantic on every op example, every bundled
spec and a grid of odd values.

>>> class Pad(Model):
...     size: Annotated[int, Field(ge=1)] = 2
...     mode: Literal["zeros", "edge"] = "zeros"
>>> Pad.model_validate({"size": 3})
Pad(size=3, mode='zeros')
>>> Pad.model_validate({"size": 3.0}).size      # not certain: pydantic decides (and converts)
3
>>> Pad.model_fields["size"].default, Pad.model_fields["mode"].is_required()
(2, False)
"""
from __future__ import annotations

import copy
import re
import types
import typing
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

__all__ = ["Model", "Field", "BeforeValidator", "model_validator", "FieldInfo", "REQUIRED", "Invalid"]


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED: Any = _Required()
_EXTRA = "__pydantic_extra__"       # where an instance keeps its extra keys (extra="allow")
_CONSTRAINTS = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")


class _FieldSpec:
    """What ``Field(...)`` returns: a default and pydantic keyword arguments."""

    __slots__ = ("default", "kw")

    def __init__(self, default, kw: dict):
        self.default, self.kw = default, kw


def Field(default: Any = REQUIRED, **kw) -> Any:   # noqa: N802  (pydantic's name)
    """pydantic.Field's stand-in: default, `description`, and the constraints ge, gt, le, lt,
    min_length, max_length, pattern (and `strict`, passed on to pydantic)."""
    unknown = set(kw) - {*_CONSTRAINTS, "description", "strict"}
    if unknown:
        raise TypeError(f"Field() does not take {sorted(unknown)}")
    return _FieldSpec(default, {k: v for k, v in kw.items() if v is not None})


class BeforeValidator:
    """pydantic.BeforeValidator's stand-in: `func` maps the raw value before the type is checked."""

    __slots__ = ("func", "json_schema_input_type")

    def __init__(self, func, json_schema_input_type: Any = REQUIRED):
        self.func, self.json_schema_input_type = func, json_schema_input_type


def model_validator(*, mode: str):
    """pydantic.model_validator's stand-in, `mode="after"` only: a method that checks the whole
    instance and raises ValueError (its message becomes the diagnostic)."""
    if mode != "after":
        raise ValueError("only model_validator(mode='after') is supported")

    def mark(fn):
        fn.__archspec_after__ = True
        return fn
    return mark


class FieldInfo:
    """A field as ``Model.model_fields`` lists it (the parts of pydantic's FieldInfo archspec reads)."""

    __slots__ = ("annotation", "default", "description", "metadata")

    def __init__(self, annotation, default, description, metadata=()):
        self.annotation, self.default, self.description = annotation, default, description
        self.metadata = list(metadata)      # an Annotated type's extras: Field(...) constraints, BeforeValidators

    def is_required(self) -> bool:
        return self.default is REQUIRED

    def __repr__(self):
        return f"FieldInfo(annotation={self.annotation!r}, default={self.default!r})"


class Invalid(ValueError):
    """Validation failed: pydantic's ValidationError, wrapped so that catching it needs no pydantic."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error

    def errors(self) -> list[dict]:
        """pydantic's error list (type, loc, msg, input, ctx)."""
        return self.error.errors()


class _Decline(Exception):
    """The fast path cannot be sure of pydantic's answer: ask pydantic."""


class _Meta(type):
    @property
    def model_fields(cls) -> dict[str, FieldInfo]:
        """Field name → FieldInfo, in declaration order (base classes' fields first)."""
        if "_infos" not in cls.__dict__:
            hints = cls._hints()
            infos = {}
            for name, spec in cls.__declared__.items():
                tp, meta = hints[name], ()
                if get_origin(tp) is Annotated:
                    tp, *meta = get_args(tp)
                infos[name] = FieldInfo(tp, spec.default, spec.kw.get("description"), meta)
            cls._infos = infos
        return cls._infos


class Model(metaclass=_Meta):
    """Base of declared models. Class keywords: ``frozen`` (default True) and ``extra``: "forbid" (the
    default) refuses unknown keys; "allow" keeps them as ``model_extra`` (read as attributes too, as
    pydantic's; stored under ``__dict__["__pydantic_extra__"]``: a field's name never starts with _)."""

    __declared__: ClassVar[dict[str, _FieldSpec]] = {}
    __after__: ClassVar[tuple] = ()
    __frozen__: ClassVar[bool] = True
    __extra__: ClassVar[str] = "forbid"

    def __init_subclass__(cls, frozen: bool | None = None, extra: str | None = None, **kw):
        super().__init_subclass__(**kw)
        if frozen is not None:
            cls.__frozen__ = frozen
        if extra is not None:
            cls.__extra__ = extra
        declared = dict(cls.__declared__)
        for name, ann in cls.__dict__.get("__annotations__", {}).items():
            if name.startswith("_") or (isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar"))):
                continue
            value = cls.__dict__.get(name, REQUIRED)
            declared[name] = value if isinstance(value, _FieldSpec) else _FieldSpec(value, {})
            if name in cls.__dict__:
                delattr(cls, name)
        cls.__declared__ = declared
        cls.__after__ = tuple(cls.__after__) + tuple(v for v in cls.__dict__.values()
                                                     if getattr(v, "__archspec_after__", False))

    # ---- instances -------------------------------------------------------------------------
    def __init__(self, **data):
        object.__setattr__(self, "__dict__", type(self).model_validate(data).__dict__)

    @classmethod
    def model_construct(cls, **values):
        """An instance holding `values` as they are (no validation), defaults filled in."""
        obj = object.__new__(cls)
        d = obj.__dict__
        for name, spec in cls.__declared__.items():
            if name in values:
                d[name] = values[name]
            elif spec.default is not REQUIRED:
                d[name] = _copy_default(spec.default)
        if cls.__extra__ == "allow":
            extra = {k: v for k, v in values.items() if k not in cls.__declared__}
            if extra:
                d[_EXTRA] = extra
        return obj

    @property
    def model_extra(self) -> dict[str, Any] | None:
        """The keys that are not fields, with their values as given (``extra="allow"``); None otherwise."""
        if type(self).__extra__ != "allow":
            return None
        return self.__dict__.get(_EXTRA, {})

    def __getattr__(self, name):                 # only when normal lookup fails: an extra key
        extra = self.__dict__.get(_EXTRA)
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _items(self):
        """(name, value) of the fields, then of the extra keys."""
        d = self.__dict__
        if _EXTRA not in d:
            return d.items()
        return [*((k, v) for k, v in d.items() if k != _EXTRA), *d[_EXTRA].items()]

    def __setattr__(self, name, value):
        if type(self).__frozen__:
            raise TypeError(f"{type(self).__name__} is frozen: its attributes cannot be assigned")
        object.__setattr__(self, name, value)

    def __eq__(self, other):
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self):
        if not type(self).__frozen__:
            raise TypeError(f"unhashable type: '{type(self).__name__}'")
        d = self.__dict__
        if _EXTRA in d:                         # the fields only, as pydantic hashes
            return hash((type(self), tuple(v for k, v in d.items() if k != _EXTRA)))
        return hash((type(self), tuple(d.values())))

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self._items()) + ")"

    def model_dump(self, *, include=None, exclude=None, exclude_defaults: bool = False) -> dict[str, Any]:
        """The field values (and extra keys) as a dict, nested models as dicts, as pydantic's model_dump:
        `include` / `exclude` are sets of top-level names; `exclude_defaults` leaves out fields whose
        value equals their default."""
        for arg in (include, exclude):
            if arg is not None and not isinstance(arg, (set, frozenset)):
                raise TypeError("model_dump: include and exclude take a set of field names")
        declared = type(self).__declared__
        out = {}
        for k, v in self._items():
            if (include is not None and k not in include) or (exclude is not None and k in exclude):
                continue
            if exclude_defaults and k in declared and declared[k].default is not REQUIRED and \
                    v == declared[k].default:
                continue
            out[k] = _dump(v)
        return out

    @classmethod
    def model_json_schema(cls, **kw) -> dict[str, Any]:
        """pydantic's JSON Schema of this declaration (its keyword arguments: ``ref_template``...)."""
        return cls.pydantic().model_json_schema(**kw)

    # ---- validation ------------------------------------------------------------------------
    @classmethod
    def model_validate(cls, data):
        """An instance from `data`; raises :class:`Invalid` (pydantic's errors). See the module's docstring."""
        plan = cls.__dict__.get("_plan") or cls._compile()
        try:
            return plan(data)
        except _Decline:
            pass
        except (ValueError, TypeError, AssertionError):     # a before/after validator refused: pydantic says how
            pass
        from pydantic import ValidationError

        try:
            return cls._from_pydantic(cls.pydantic().model_validate(data))
        except ValidationError as exc:
            raise Invalid(exc) from None

    @classmethod
    def _hints(cls) -> dict:
        if "_hint_cache" not in cls.__dict__:
            cls._hint_cache = typing.get_type_hints(cls, include_extras=True)   # each class in its module
        return cls._hint_cache

    @classmethod
    def _compile(cls):
        """The fast path for this class: data → instance, or _Decline."""
        hints = cls._hints()
        fields = []
        for name, spec in cls.__declared__.items():
            check = _checker(hints[name])
            if spec.kw:
                check = _constrained(check, spec.kw)
            fields.append((name, check, spec.default))
        names = frozenset(cls.__declared__)
        after = cls.__after__
        allow = cls.__extra__ == "allow"
        new = object.__new__

        def plan(data):
            if type(data) is not dict:
                raise _Decline
            extra = None
            for k in data:
                if k not in names:
                    if not allow or type(k) is not str:
                        raise _Decline
                    extra = extra or {}
                    extra[k] = data[k]
            obj = new(cls)
            d = obj.__dict__
            for name, check, default in fields:
                if name in data:
                    d[name] = check(data[name])
                elif default is REQUIRED:
                    raise _Decline
                else:
                    d[name] = _copy_default(default)
            if extra:
                d[_EXTRA] = extra
            for fn in after:
                fn(obj)
            return obj

        cls._plan = plan
        return plan

    @classmethod
    def _from_pydantic(cls, m):
        obj = object.__new__(cls)
        obj.__dict__.update({name: _lighten(getattr(m, name)) for name in cls.__declared__})
        if m.__pydantic_extra__:
            obj.__dict__[_EXTRA] = {k: _lighten(v) for k, v in m.__pydantic_extra__.items()}
        return obj

    @classmethod
    def pydantic(cls):
        """The pydantic model of this declaration (built once, on first need): it validates when the
        fast path declines, makes the error messages, and writes the JSON Schema."""
        if "_pydantic" not in cls.__dict__:
            import pydantic

            hints = cls._hints()
            fields = {}
            for name, spec in cls.__declared__.items():
                kw = dict(spec.kw)
                if spec.default is not REQUIRED:
                    kw["default"] = spec.default
                fields[name] = (_to_pydantic(hints[name]), pydantic.Field(**kw))
            validators = {fn.__name__: pydantic.model_validator(mode="after")(fn) for fn in cls.__after__}
            model = pydantic.create_model(
                cls.__name__, __config__=pydantic.ConfigDict(extra=cls.__extra__, frozen=cls.__frozen__),
                __doc__=cls.__doc__, __module__=cls.__module__, __validators__=validators, **fields)
            model.__archspec_model__ = cls
            cls._pydantic = model
        return cls._pydantic


def _copy_default(v):
    return copy.deepcopy(v) if isinstance(v, (list, dict, set)) else v


def _dump(v):
    if isinstance(v, Model):
        return v.model_dump()
    if isinstance(v, dict):
        return {k: _dump(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_dump(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_dump(x) for x in v)
    return v


def _lighten(v):
    """pydantic's validated value with its model instances turned back into declared ones."""
    cls = getattr(type(v), "__archspec_model__", None)
    if cls is not None:
        return cls._from_pydantic(v)
    if type(v) is dict:
        return {k: _lighten(x) for k, x in v.items()}
    if type(v) is list:
        return [_lighten(x) for x in v]
    if type(v) is tuple:
        return tuple(_lighten(x) for x in v)
    return v


# ---- the fast path's checkers: value → validated value, or _Decline --------------------------
def _any(v):
    return v


def _exact(t: type):
    """A checker that takes values of type `t` exactly (no bool for int, no int for str)."""
    def check(v):
        if type(v) is t:
            return v
        raise _Decline
    return check


_int, _bool, _str = _exact(int), _exact(bool), _exact(str)


def _float(v):
    t = type(v)
    if t is float:
        if v - v == 0:                      # finite (inf and nan: let pydantic say)
            return v
    elif t is int and -2 ** 1000 < v < 2 ** 1000:       # (past that, float() overflows: pydantic says)
        return float(v)
    raise _Decline


def _none(v):
    if v is None:
        return None
    raise _Decline


def _decline(v):
    raise _Decline


_SCALARS = {int: _int, float: _float, bool: _bool, str: _str, type(None): _none, Any: _any}


def _checker(tp):
    """The fast check of a value against type `tp`: returns the value as pydantic would give it, or raises
    _Decline (pydantic then decides). One builder per kind of type; anything else always declines."""
    fn = _SCALARS.get(tp)
    if fn is not None:
        return fn
    origin, args = get_origin(tp), get_args(tp)
    build = _BUILDERS.get(origin)
    if build is not None:
        return build(args)
    if isinstance(tp, type) and issubclass(tp, Model):
        return _nested(tp)
    return _decline                          # a type the fast path does not know: pydantic always


def _annotated(args):
    check = _checker(args[0])
    kw: dict = {}
    pre = []
    for m in args[1:]:
        if isinstance(m, _FieldSpec):
            kw.update(m.kw)
        elif isinstance(m, BeforeValidator):
            pre.append(m.func)
        else:
            return _decline
    if kw:
        check = _constrained(check, kw)
    if not pre:
        return check
    inner = check

    def before(v, pre=tuple(pre)):
        for f in pre:
            v = f(v)
        return inner(v)
    return before


def _literal(args):
    kinds = {type(a) for a in args}
    if len(kinds) != 1 or kinds - {str, int}:
        return _decline                      # mixed or other literals: pydantic always
    kind, choices = kinds.pop(), frozenset(args)

    def literal(v):
        if type(v) is kind and v in choices:
            return v
        raise _Decline
    return literal


def _union(args):
    nullable = type(None) in args
    members = [_checker(a) for a in args if a is not type(None)]

    def union(v):
        if v is None:
            if nullable:
                return None
            raise _Decline
        found = []
        for m in members:
            try:
                found.append(m(v))
            except _Decline:
                pass
        if len(found) == 1:                 # exactly one member takes it as it is: pydantic's smart union agrees
            return found[0]
        raise _Decline
    return union


def _tuple(args):
    if len(args) == 2 and args[1] is Ellipsis:
        item = _checker(args[0])

        def var_tuple(v):
            if type(v) is list or type(v) is tuple:
                return tuple([item(x) for x in v])
            raise _Decline
        return var_tuple
    items = [_checker(a) for a in args]
    n = len(items)

    def fixed_tuple(v):
        if (type(v) is list or type(v) is tuple) and len(v) == n:
            return tuple([c(x) for c, x in zip(items, v)])
        raise _Decline
    return fixed_tuple


def _list(args):
    item = _checker(args[0]) if args else _any

    def list_of(v):
        if type(v) is list:
            return [item(x) for x in v]
        raise _Decline
    return list_of


def _dict(args):
    key, value = (_checker(args[0]), _checker(args[1])) if args else (_any, _any)

    def dict_of(v):
        if type(v) is dict:
            return {key(k): value(x) for k, x in v.items()}
        raise _Decline
    return dict_of


def _nested(tp):
    def nested(v):
        plan = tp.__dict__.get("_plan") or tp._compile()
        try:
            return plan(v)
        except (ValueError, TypeError, AssertionError):
            raise _Decline from None
    return nested


# typing origin -> the builder of its check (Union and X | Y are two origins of one kind)
_BUILDERS = {Annotated: _annotated, Literal: _literal, Union: _union, types.UnionType: _union, tuple: _tuple,
             list: _list, dict: _dict}


def _constrained(check, kw: dict):
    ge, gt, le, lt = kw.get("ge"), kw.get("gt"), kw.get("le"), kw.get("lt")
    lo, hi = kw.get("min_length"), kw.get("max_length")
    pattern = re.compile(kw["pattern"]) if "pattern" in kw else None

    def constrained(v):
        v = check(v)
        if v is None:
            return v
        if type(v) in (int, float):
            if (ge is not None and not v >= ge) or (gt is not None and not v > gt) or \
                    (le is not None and not v <= le) or (lt is not None and not v < lt):
                raise _Decline
        elif ge is not None or gt is not None or le is not None or lt is not None:
            raise _Decline
        if lo is not None or hi is not None:
            if not isinstance(v, (list, tuple, dict, str)):
                raise _Decline
            if (lo is not None and len(v) < lo) or (hi is not None and len(v) > hi):
                raise _Decline
        if pattern is not None and not (type(v) is str and pattern.search(v)):
            raise _Decline
        return v
    return constrained


# ---- declaration → pydantic ---------------------------------------------------------------
def _to_pydantic(tp):
    import pydantic

    if isinstance(tp, type) and issubclass(tp, Model):
        return tp.pydantic()
    origin, args = get_origin(tp), get_args(tp)
    if origin is None or origin is Literal:
        return tp
    if origin is Annotated:
        meta = []
        for m in args[1:]:
            if isinstance(m, _FieldSpec):
                meta.append(pydantic.Field(**m.kw))
            elif isinstance(m, BeforeValidator):
                kw = {} if m.json_schema_input_type is REQUIRED else \
                    {"json_schema_input_type": _to_pydantic(m.json_schema_input_type)}
                meta.append(pydantic.BeforeValidator(m.func, **kw))
            else:
                meta.append(m)
        return Annotated[(_to_pydantic(args[0]), *meta)]
    if origin is Union or origin is types.UnionType:
        return Union[tuple(_to_pydantic(a) for a in args)]
    new = tuple(a if a is Ellipsis else _to_pydantic(a) for a in args)
    return origin[new if len(new) != 1 else new[0]]
