"""The registry itself: op classes register here (``@register``), every stage looks ops up here. The
family modules import this module, and :mod:`archspec.ops` imports them, so nothing imports in a circle."""
from __future__ import annotations

from .base import Category, Op

REGISTRY: dict[str, Op] = {}
ROLES: dict[str, str] = {}            # role → op name
KERAS_CLASSES: dict[str, str] = {}    # Keras layer class → op name (for archspec import)

# The roles the spec language and the importer ask for; each is played by exactly one op.
ROLE_NAMES = {
    "input": "a model input (created from the spec's `inputs:`)",
    "activation": "an activation by name (a residual's `activation:`)",
    "residual_add": "the merge of a residual without scale",
    "scaled_residual": "the merge of a residual with `scale:` (shortcut + scale · body)",
    "default_merge": "the merge of a `branches:` structure that names none",
    "block_summary": "a recorded block call standing as one node in a pricing graph (lang/memo.py)",
}


def register(cls: type[Op]) -> type[Op]:
    if cls.name in REGISTRY:
        raise ValueError(f"op '{cls.name}' is registered twice")
    if cls.category not in Category.__members__.values():
        raise ValueError(f"op '{cls.name}' has the unknown category {cls.category!r}; "
                         f"one of {', '.join(c.value for c in Category)}")
    cls.category = Category(cls.category)
    for r in cls.roles:
        if r not in ROLE_NAMES:
            raise ValueError(f"op '{cls.name}' claims the unknown role '{r}'")
        if r in ROLES:
            raise ValueError(f"ops '{ROLES[r]}' and '{cls.name}' both claim the role '{r}'")
    classes = tuple(k for k in cls.keras_classes or (cls.keras_class,) if k)     # none: never read from Keras
    for k in classes:
        if k in KERAS_CLASSES:
            raise ValueError(f"ops '{KERAS_CLASSES[k]}' and '{cls.name}' both read the Keras class {k}")
    REGISTRY[cls.name] = cls()
    ROLES.update({r: cls.name for r in cls.roles})
    KERAS_CLASSES.update({k: cls.name for k in classes})
    return cls


def get(name: str) -> Op | None:
    return REGISTRY.get(name)


def role(name: str) -> str:
    """The name of the op that plays `name` (a key of :data:`ROLE_NAMES`)."""
    return ROLES[name]


def user_ops() -> dict[str, Op]:
    """The ops a spec may write as layer entries (all but the internal ones), in registration order."""
    return {k: v for k, v in REGISTRY.items() if not v.internal}


def merges() -> tuple[str, ...]:
    """The ops a `branches:` structure may merge with, in registration order."""
    return tuple(n for n, op in REGISTRY.items() if op.branch_merge)


def of_keras_class(cls: str, module: str = "keras.layers", registered: str | None = None) -> Op | None:
    """The op that reads Keras layers of class `cls` defined in `module`, if any.

    A bare class name in an op's ``keras_classes`` stands for Keras's own class (or archspec's, from
    ops/keras_layers.py); any other library's layer matches only by its registered name
    (``package>Class``, as ``keras.saving.register_keras_serializable`` gives it), so a class that merely
    shares a name with one of Keras's is never read as that op:

    >>> of_keras_class("BatchNormalization").name
    'batch_norm'
    >>> of_keras_class("PositionEmbedding", "archspec.ops.keras_layers").name
    'position_embedding'
    >>> of_keras_class("Dense", "mypackage.layers", "mypackage>Dense") is None
    True
    >>> of_keras_class("LlamaLayerNorm", "keras_hub.src.models.llama.llama_layernorm", "LlamaLayerNorm").name
    'rms_norm'
    """
    if is_keras_module(module) or module.split(".")[0] == "archspec":
        name = KERAS_CLASSES.get(cls)
    else:
        name = KERAS_CLASSES.get(f"{module}.{cls}") if module else None
        if name is None and registered and ">" in registered:
            name = KERAS_CLASSES.get(registered)
    return REGISTRY[name] if name else None


def is_keras_module(module: str) -> bool:
    """Whether `module` (a layer config's `module`) is Keras itself: `keras.layers`, `keras.src…`,
    `keras.src.applications…` — not KerasHub (`keras_hub…`) or any other library."""
    return module == "keras" or module.startswith("keras.")


def of_keras_op(cls: str) -> list[Op]:
    """The ops that may read a `keras.ops` operation of class `cls` (each says yes or no to the call)."""
    return [op for op in REGISTRY.values() if cls in op.keras_ops]


def keras_op_identity(cls: str, cfg: dict, in_dtypes: list, module: str = "keras.src.ops.core") -> bool:
    """Whether a `keras.ops` operation of class `cls` (defined in `module`, its config `cfg`), called on one
    tensor of `in_dtypes`, returns it unchanged — a cast to the dtype the tensor already has (KerasHub casts
    a layer's output to its input's dtype, FNet and DeepLabV3 alike). The importer leaves it out of the
    graph: it is no layer. A cast to another dtype (a mask made boolean) is not. (Keras's Identity layer is
    the reader's own case: importer/trace.is_identity.)

    >>> keras_op_identity("Cast", {"dtype": "float32"}, ["float32"]), keras_op_identity("Cast", {"dtype": "bool"}, ["float32"])
    (True, False)
    """
    return (len(in_dtypes) == 1 and cls == "Cast" and module.startswith("keras.src.ops") and cfg.get("dtype") is not None
            and cfg.get("dtype") == in_dtypes[0])


def lambda_readers() -> list[Op]:
    """The ops that recognize a Lambda layer by probing what it computes."""
    return [op for op in REGISTRY.values() if op.lambda_form]
