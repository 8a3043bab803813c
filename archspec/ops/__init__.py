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
    keras_op_identity,
    lambda_readers,
    merges,
    of_keras_class,
    of_keras_op,
    register,
    role,
    user_ops,
)

__all__ = ["Op", "Category", "ShapeError", "KerasImportError", "REGISTRY", "ROLES", "ROLE_NAMES", "KERAS_CLASSES", "register", "get",
           "role", "user_ops", "merges", "of_keras_class", "is_keras_module", "keras_op_identity",
           "of_keras_op", "lambda_readers"]

# the families register their ops on import (in this order: the registry's order)
from . import activation, attention, conv, dense, fourier, masks, merge, norm, pool, reshape, summary, tokens, window  # noqa: E402,F401

# Keras layers (snake_case) that are not archspec ops, and what to know instead of a did-you-mean to an
# op that merely shares a word with them (`embedding` is not `position_embedding`)
NOT_OPS = {
    "embedding": "Keras's Embedding (integer token ids → vectors) is not an archspec op; position_embedding "
                 "is another thing (learned position vectors added to a sequence of vectors)",
    "lstm": "recurrent layers (LSTM, GRU, SimpleRNN) are not archspec ops; attention works on token sequences",
    "gru": "recurrent layers (LSTM, GRU, SimpleRNN) are not archspec ops; attention works on token sequences",
    "simple_rnn": "recurrent layers (LSTM, GRU, SimpleRNN) are not archspec ops; attention works on token sequences",
    "conv3d": "archspec's convolutions are 1-D and 2-D (conv1d, conv2d, depthwise, separable, transposed)",
}
