"""archspec schema: print the JSON Schema of the spec language (for editors)."""
from __future__ import annotations

import json


def configure(p):
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


def run(args) -> int:
    from ..lang.jsonschema import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        from ..util import atomic_write

        atomic_write(args.output, text.encode())
    else:
        print(text, end="")
    return 0
