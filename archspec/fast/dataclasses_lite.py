"""Plain record classes for the check path, without the dataclasses module.

`import dataclasses` (which imports inspect, ast, dis and tokenize) and the code it generates for each
class would cost a cold `archspec check` several percent (docs/design.md). The records a check builds
are therefore NamedTuples where they never change (Loc, Note, Diagnostic, Limits) and :class:`Record` subclasses
where they do (Node, Scope, Source, Cost, ...): each writes its own ``__init__`` (the hot ones build a
hundred thousand instances) and lists its fields in ``_fields``; Record adds what dataclasses would:

>>> class Point(Record):
...     __slots__ = _fields = ("x", "y")
...     def __init__(self, x, y=0):
...         self.x, self.y = x, y
>>> p = Point(1)
>>> p, p == Point(1, 0), p._replace(y=5)
(Point(x=1, y=0), True, Point(x=1, y=5))
"""
from __future__ import annotations


class Record:
    """repr, equality (over ``_compare``, default ``_fields``), ``_replace`` and ``_asdict`` from ``_fields``."""

    __slots__ = ()
    _fields: tuple = ()
    _compare: tuple | None = None
    __hash__ = None                      # mutable: like a dataclass with eq and without frozen

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields) + ")"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in (self._compare or self._fields))

    def _asdict(self) -> dict:
        return {f: getattr(self, f) for f in self._fields}

    def _replace(self, **changes):
        """A copy with some fields changed (as dataclasses.replace; __init__ is not run again)."""
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        new = object.__new__(type(self))
        for f in self._fields:
            object.__setattr__(new, f, changes[f] if f in changes else getattr(self, f))
        return new
