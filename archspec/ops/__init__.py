"""The op registry. One op type = one :class:`~archspec.ops.base.Op` subclass in one family module.

Every pass (inference, costs, labels, Keras building, JSON Schema, docs) dispatches through
:data:`REGISTRY`; registration refuses duplicates.
"""
from __future__ import annotations

from .base import Op, ShapeError

REGISTRY: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    if cls.name in REGISTRY:
        raise ValueError(f"op '{cls.name}' is registered twice")
    REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> Op | None:
    return REGISTRY.get(name)


from . import activation, attention, conv, dense, merge, norm, pool, reshape, tokens  # noqa: E402,F401  (registration)

__all__ = ["Op", "ShapeError", "REGISTRY", "register", "get"]
