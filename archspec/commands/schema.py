"""archspec schema: print the JSON Schema (draft-07) of the spec language, for editors."""
from __future__ import annotations


def configure(p):
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


def run(args) -> int:
    from ..lang.jsonschema import schema_text

    text = schema_text()
    if args.output:
        from ..files import atomic_write

        atomic_write(args.output, text.encode())
        import sys

        from .shared import shown

        print(f"wrote {shown(args.output)}", file=sys.stderr)
    else:
        print(text, end="")
    return 0
