"""The op registry. One op type = one :class:`~archspec.ops.base.Op` subclass in one family module.

Every pass (inference, costs, labels, Keras building and importing, JSON Schema, docs, lints) dispatches
through :data:`REGISTRY`; registration refuses duplicate names, roles and Keras classes. Stages outside
``archspec.ops`` never name an op: they read its flags (``op.branch_merge``, ``op.window``, ...) or ask for
the op that plays a role in the language:

>>> role("residual_add"), role("scaled_residual"), role("input")
('add', 'scaled_add', 'input')
>>> merges()
('concat', 'add', 'multiply', 'average', 'maximum', 'minimum')
>>> of_keras_class("BatchNormalization").name
'batch_norm'
"""
from __future__ import annotations

from .base import Category, KerasImportError, Op, ShapeError
from .registry import (
    KERAS_CLASSES,
    REGISTRY,
    ROLE_NAMES,
    ROLES,
    get,
    is_keras_module,
    lambda_readers,
    merges,
    of_keras_class,
    of_keras_op,
    register,
    role,
    user_ops,
)

__all__ = ["Op", "Category", "ShapeError", "KerasImportError", "REGISTRY", "ROLES", "ROLE_NAMES", "KERAS_CLASSES", "register", "get",
           "role", "user_ops", "merges", "of_keras_class", "is_keras_module", "of_keras_op", "lambda_readers"]

# the families register their ops on import (in this order: the registry's order)
from . import activation, attention, conv, dense, merge, norm, pool, reshape, tokens  # noqa: E402,F401
