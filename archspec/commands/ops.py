"""archspec ops: list the layer types, their attributes and defaults."""
from __future__ import annotations


def configure(p):
    p.add_argument("name", nargs="?", help="show one op in detail")


def run(args) -> int:
    from .. import ops
    from ..errors import did_you_mean
    from .shared import UsageError

    items = sorted(ops.user_ops().items())
    if args.name:
        op = ops.get(args.name)
        if op is None:
            raise UsageError(f"unknown op '{args.name}'; {did_you_mean(args.name, ops.REGISTRY) or 'see archspec ops'}")
        items = [(args.name, op)]
    for name, op in items:
        print(f"{name}" + (f"  ({op.keras_class})" if op.keras_class else "") + f" — {op.doc}")
        for field, info in op.Attrs.model_fields.items():
            default = "required" if info.is_required() else f"default {info.default!r}"
            print(f"    {field}: {default}")
    return 0
