"""A point of a search space written back as a plain spec: the searched declarations under `params:`
become their values, everything else (comments, layout, blocks, training) stays as the author wrote it."""
from __future__ import annotations

import json
import re


def concrete_text(text: str, point: dict, header: str | None = None, move: tuple | None = None) -> str:
    """Replace each searched parameter's declaration in `text` (YAML or JSON) by its value in `point`.
    `move=(from_dir, to_dir)`: the text will live in another folder, so its `include:` paths are
    rewritten relative to the new place.

    >>> print(concrete_text("params:\\n  w: {choice: [16, 32]}  # widths\\n  d:\\n    range: [1, 3]\\nmodel: []\\n",
    ...                     {"w": 32, "d": 2}), end="")
    params:
      w: 32  # widths
      d: 2
    model: []
    """
    import yaml

    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    as_json = text.lstrip().startswith("{")
    params = next((v for k, v in root.value if k.value == "params"), None)
    edits = []
    for key, value in params.value if params is not None else ():
        if key.value in point:
            edits.append((key.end_mark.index, _end(value), ": " + scalar(point[key.value], as_json)))
    inc = next((v for k, v in root.value if k.value == "include"), None)
    if move and isinstance(inc, yaml.SequenceNode):
        import os
        from pathlib import Path

        src_dir, dst_dir = (Path(d).resolve() for d in move)
        for item in inc.value:
            if isinstance(item, yaml.ScalarNode) and src_dir != dst_dir:
                new = Path(os.path.relpath(src_dir / item.value, dst_dir)).as_posix()
                edits.append((item.start_mark.index, item.end_mark.index, scalar(new, as_json)))
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


_WORDS = ("true", "false", "null", "yes", "no", "on", "off", "y", "n", "True", "False", "Null", "NULL", "TRUE",
          "FALSE", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF", "Y", "N", "~")
_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./\-]*$")


def scalar(v, as_json: bool = False) -> str:
    """A value in flow style that reads back as the same value in YAML (plain words and paths stay
    unquoted) and, with `as_json`, in JSON."""
    if isinstance(v, str):
        plain = not as_json and (v.isidentifier() or _PATH.match(v)) and v not in _WORDS and not _number(v)
        return v if plain else json.dumps(v)
    if isinstance(v, float):
        return repr(v) if "e" not in repr(v) or "." in repr(v) else repr(v).replace("e", ".0e")
    return json.dumps(v)


def _number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def moved_root(spec_path, out_path) -> str | None:
    """When a spec with includes is written to another folder: the folder its rebased includes stay
    inside (what `--root` must say to check it there), else None."""
    import os
    from pathlib import Path

    src, dst = Path(spec_path).resolve().parent, Path(out_path).resolve().parent
    if src == dst or dst in src.parents:
        return None
    return os.path.relpath(os.path.commonpath([src, dst]))
