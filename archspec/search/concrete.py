"""A point of a search space written back as a plain spec: the searched declarations under `params:`
become their values, everything else (comments, layout, blocks, training) stays as the author wrote it."""
from __future__ import annotations

import json


def concrete_text(text: str, point: dict, header: str | None = None) -> str:
    """Replace each searched parameter's declaration in `text` (YAML or JSON) by its value in `point`.

    >>> print(concrete_text("params:\\n  w: {choice: [16, 32]}  # widths\\n  d:\\n    range: [1, 3]\\nmodel: []\\n",
    ...                     {"w": 32, "d": 2}), end="")
    params:
      w: 32  # widths
      d: 2
    model: []
    """
    import yaml

    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    params = next((v for k, v in root.value if k.value == "params"), None)
    edits = []
    for key, value in params.value if params is not None else ():
        if key.value in point:
            edits.append((key.end_mark.index, _end(value), ": " + scalar(point[key.value])))
    for start, end, new in sorted(edits, reverse=True):
        # the key's closing quote (JSON) is part of the key node; the colon follows it
        text = text[:start] + new + text[end:]
    if header and not text.lstrip().startswith("{"):
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    return text


def _end(node) -> int:
    """Where a node's own text ends: a block collection ends with its last item (its end mark would
    include the comments and blank lines that follow it)."""
    import yaml

    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _end(node.value[-1])
    return node.end_mark.index


def scalar(v) -> str:
    """A value in flow style that reads back as the same value in YAML and JSON."""
    if isinstance(v, str):
        return v if v.isidentifier() and v not in ("true", "false", "null", "yes", "no", "on", "off", "y", "n") \
            else json.dumps(v)
    if isinstance(v, float):
        return repr(v) if "e" not in repr(v) or "." in repr(v) else repr(v).replace("e", ".0e")
    return json.dumps(v)
