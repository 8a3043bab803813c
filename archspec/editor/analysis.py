"""What an editor asks about a spec, answered from its text: diagnostics (the same as `archspec check`),
hover (an entry's inferred output shape, parameters, MACs and scope path), definitions (blocks,
included files, layers named in `from:`) and completions (op names, their fields and values, a
block's parameters). No protocol here: positions are 0-based (line, character) in code points.

An analysis never raises on a half-typed document: a parse error gives its diagnostic and an empty
index, and whatever expansion got to before a mistake (the partial graph, the blocks it loaded) still
answers hovers and definitions.

>>> r = analyze("archspec: 1\\nname: t\\ninputs: {x: [8, 8, 3]}\\nmodel:\\n  - conv2d: {filters: 4, kernel: 3}\\n")
>>> r.diagnostics
[]
>>> print(hover(r, 4, 6))
**conv2d** `conv2d` → `(6, 6, 4)`
<BLANKLINE>
params 112 · MACs 3,888 · input `(8, 8, 3)` from `x`
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..api import is_library
from ..errors import Diagnostic, SpecError
from ..lang.grammar import RESERVED, STRUCTURES
from ..lang.source import DEFAULT_LIMITS, Limits, parse
from ..ops import REGISTRY

WORD = re.compile(r"[$\w.\-/]+")


@dataclass
class Result:
    """One analysis of one version of a document."""

    display: str                               # the file name diagnostics carry (its path)
    path: Path | None
    text: str
    version: int | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    parsed: bool = False                       # the YAML/JSON itself was readable
    graph: object = None                       # the expanded graph, partial after a mistake
    costs: dict = field(default_factory=dict)  # node id -> analyze.Cost
    scope_costs: dict = field(default_factory=dict)  # scope path -> analyze.Cost (its layers summed)
    blocks: dict = field(default_factory=dict)  # block name -> lang.context.Block (included ones too)
    index: dict = field(default_factory=dict)  # (line, col) 1-based -> [("node" | "scope", id)] in this file


SPEC_MARK = re.compile(r'^(?:archspec|"archspec")\s*:|^\{\s*"archspec"\s*:', re.M)


def is_spec(text: str) -> bool:
    """Whether a YAML/JSON document is an archspec spec (it has a top-level `archspec:` key), so a
    server attached to every YAML file leaves the others (CI files, Kubernetes manifests) alone."""
    return bool(SPEC_MARK.search(text))


def analyze(text: str, path: Path | None = None, version: int | None = None,
            limits: Limits = DEFAULT_LIMITS) -> Result:
    """Check `text` as `archspec check` would (as the file at `path`, so includes resolve)."""
    from ..api import _no_gc

    with _no_gc():          # as `check` does: the cyclic GC would rescan the new graph again and again,
        return _analyze(text, path, version, limits)    # holding the GIL the server's event loop needs


def _analyze(text: str, path: Path | None, version: int | None, limits: Limits) -> Result:
    from ..lang.expand import Expander

    display = str(path) if path else "<untitled>"
    r = Result(display, path, text, version)
    try:
        src = parse(text, display, path, limits)
    except SpecError as exc:
        r.diagnostics = exc.diagnostics
        return r
    r.parsed = True
    if is_library(src.data):
        return _library(r, src, limits)
    ex = Expander(src, limits, {}, None)
    try:
        graph = ex.run()
    except SpecError as exc:
        r.diagnostics = exc.diagnostics
        graph = ex.graph
        r.costs = _costs(graph) if graph is not None else {}
        r.scope_costs = _rollup(graph, r.costs) if graph is not None else {}
    except RecursionError:
        r.diagnostics = [Diagnostic("limit", "the spec nests too deeply to analyze", None)]
        graph = None
    else:
        from ..api import Spec

        spec = Spec(src, graph, ex.sources, {})
        r.diagnostics = list(spec.warnings)
        r.costs, r.scope_costs = spec.analysis().nodes, spec.analysis().scopes
    r.graph, r.blocks = graph, dict(ex.blocks)
    if graph is not None:
        for n in graph.nodes.values():
            if n.loc and n.loc.file == display and not REGISTRY[n.op].source:
                r.index.setdefault((n.loc.line, n.loc.col), []).append(("node", n.id))
        for s in graph.scopes.values():
            if s.loc and s.loc.file == display and s.kind not in ("path",):
                r.index.setdefault((s.loc.line, s.loc.col), []).append(("scope", s.path))
    return r


def _library(r: Result, src, limits) -> Result:
    """A block library, checked exactly as `archspec check` checks it (api.check_library)."""
    from ..api import check_library

    r.diagnostics, ex = check_library(src, limits)
    r.blocks = dict(ex.blocks)
    return r


def _rollup(graph, costs: dict) -> dict:
    """Per-scope sums of the known node costs (as passes.analyze does for a complete graph)."""
    from ..passes.analyze import Cost

    out = {p: Cost() for p in graph.scopes}
    for nid, c in costs.items():
        scope = graph.nodes[nid].scope
        while scope:
            if scope in out:
                out[scope].add(c)
            scope = scope.rsplit("/", 1)[0] if "/" in scope else ""
    return out


def _costs(graph) -> dict:
    """Per-node costs of a partial graph: nodes whose shapes are known."""
    from ..ops import REGISTRY
    from ..ops.shapes import size
    from ..passes.analyze import Cost

    out = {}
    for n in graph.nodes.values():
        ins = [graph.nodes[i].shape if i in graph.nodes else None for i in n.inputs]
        if n.shape is None or any(s is None for s in ins):
            continue
        op = REGISTRY[n.op]
        try:
            t, nt = op.params(n.attrs, ins, n.shape)
            out[n.id] = Cost(t, nt, op.macs(n.attrs, ins, n.shape), op.flops(n.attrs, ins, n.shape), size(n.shape), 1)
        except Exception:                       # a rule that cannot price a half-built layer: no figure
            continue
    return out


# ---- hover -------------------------------------------------------------------------------------
def entry_at(r: Result, line: int, char: int) -> list[tuple[str, str]]:
    """The graph nodes/scopes made by the entry under the cursor: the nearest entry key at or before
    it whose block the cursor is inside (same line, or an indented line below)."""
    if not r.index:
        return []
    pos = (line + 1, char + 1)
    lines = r.text.splitlines()
    text = lines[line] if line < len(lines) else ""
    indent = len(text) - len(text.lstrip()) + 1
    best = None
    for key in r.index:
        if key <= pos and (best is None or key > best):
            if key[0] == pos[0] or indent > key[1]:
                best = key
    if best is None:
        return []
    # a line with several entries (`[conv_bn: {...}, conv_bn: {...}]`): only those left of the cursor
    return r.index[best]


def hover(r: Result, line: int, char: int) -> str | None:
    """Markdown for the entry under the cursor, or the op/block whose name is under it."""
    items = entry_at(r, line, char)
    if items:
        return _describe(r, items)
    word = word_at(r.text, line, char)
    return describe_name(word.lstrip("$"), r) if word else None


def _describe(r: Result, items) -> str:
    from ..render.tables import human

    g = r.graph
    parts = []
    scopes = [i for k, i in items if k == "scope"]
    nodes = [i for k, i in items if k == "node"]
    for sid in scopes[:3]:
        s = g.scopes[sid]
        c = r.scope_costs.get(sid)
        params, macs, layers = (c.params, c.macs, c.layers) if c else (0, 0, 0)
        out = g.nodes[s.output].shape if s.output and s.output in g.nodes else None
        title = f"block `{s.name}`" if s.kind == "block" else s.kind
        args = ", ".join(f"{k}={v}" for k, v in s.args.items() if k not in ("merge",)) if s.kind == "block" else ""
        parts.append(f"**{title}** `{sid}` → `{out if out is not None else '?'}`\n\n"
                     f"params {params:,} · MACs {human(macs) if macs >= 1e6 else f'{macs:,}'} · {layers} layers"
                     + (f" · {args}" if args else ""))
    if len(scopes) > 3:
        rest = scopes[3:]
        total = sum(r.scope_costs[sid].params for sid in rest if sid in r.scope_costs)
        parts.append(f"… {len(rest)} more calls ({', '.join(f'`{s}`' for s in rest[:6])}{', …' if len(rest) > 6 else ''}); "
                     f"params {total:,} in them")
    if nodes:
        if len(nodes) == 1:
            n = g.nodes[nodes[0]]
            c = r.costs.get(n.id)
            ins = ", ".join(f"`{g.nodes[i].shape}` from `{i}`" for i in n.inputs if i in g.nodes)
            cost = (f"params {c.params:,}" + (f" ({c.non_trainable:,} non-trainable)" if c.non_trainable else "") +
                    f" · MACs {human(c.macs) if c.macs >= 1e6 else f'{c.macs:,}'}") if c else "costs unknown"
            parts.append(f"**{n.op}** `{n.id}` → `{n.shape if n.shape is not None else '?'}`\n\n{cost}"
                         + (f" · input {ins}" if ins else ""))
        else:
            op = g.nodes[nodes[0]].op
            total_p = sum(r.costs[n].params for n in nodes if n in r.costs)
            total_m = sum(r.costs[n].macs for n in nodes if n in r.costs)
            rows = [f"- `{n}` → `{g.nodes[n].shape}` · {r.costs[n].params:,} params" if n in r.costs else
                    f"- `{n}` → `{g.nodes[n].shape}`" for n in nodes[:8]]
            more = [f"- … {len(nodes) - 8} more"] if len(nodes) > 8 else []
            parts.append(f"**{op}** — {len(nodes)} instances, params {total_p:,} · MACs {human(total_m)} in all\n\n"
                         + "\n".join(rows + more))
    return "\n\n---\n\n".join(parts)


def describe_name(name: str, r: Result | None = None) -> str | None:
    """Markdown for an op or block name (hover on a name that made no layer, completion details)."""
    from .. import ops

    op = ops.get(name)
    if op is not None and not op.internal:
        fields = []
        for f, info in op.Attrs.model_fields.items():
            fields.append(f"`{f}`" + ("" if not info.is_required() else " (required)"))
        return f"**{name}** — {op.doc}\n\nattributes: " + ", ".join(fields)
    if name in STRUCTURES:
        s = STRUCTURES[name]
        fields = ", ".join(f"`{f.name}`" + (" (required)" if f.required else "") for f in s.fields)
        return f"**{name}** — {s.doc}\n\nfields: {fields}\n\n```yaml\n{s.example}```"
    if r is not None and name in r.blocks:
        b = r.blocks[name]
        params = ", ".join(f"`{p}: {t}`" + ("" if req else f" = {d!r}") for p, (t, d, req) in b.params.items())
        return f"**block {name}**" + (f" — {b.spec.doc}" if b.spec.doc else "") + f"\n\nparameters: {params or 'none'}"
    return None


def word_at(text: str, line: int, char: int) -> str | None:
    lines = text.splitlines()
    if line >= len(lines):
        return None
    for m in WORD.finditer(lines[line]):
        if m.start() <= char <= m.end():
            return m.group().strip(".-/") or None
    return None


# ---- definitions -------------------------------------------------------------------------------
def definition(r: Result, line: int, char: int) -> list[tuple[Path, int, int]]:
    """Where the name under the cursor is defined: an included file, a block, a layer named in `from:`."""
    word = word_at(r.text, line, char)
    if not word:
        return []
    if word.endswith((".yaml", ".yml", ".json")):
        base = r.path.parent if r.path else Path.cwd()
        target = (base / word).resolve()
        return [(target, 0, 0)] if target.is_file() else []
    name = word.lstrip("$")
    if name in r.blocks:
        b = r.blocks[name]
        loc = b.src.loc(b.path, key=True)
        return [(Path(b.src.path) if b.src.path else Path(loc.file), loc.line - 1, loc.col - 1)]
    g = r.graph
    if g is not None:
        for n in g.nodes.values():
            if n.id.rsplit("/", 1)[-1] == name and n.loc and n.loc.file == r.display:
                return [(r.path or Path(r.display), n.loc.line - 1, n.loc.col - 1)]
    return []


# ---- completion --------------------------------------------------------------------------------
@dataclass
class Item:
    label: str
    kind: str                 # op | block | structure | field | param | value | key
    detail: str = ""
    doc: str = ""


def completions(r: Result | None, text: str, line: int, char: int) -> list[Item]:
    """What may be typed at the cursor of `text` (the current text; `r` is the latest analysis,
    perhaps of an older version, for block names and parameters)."""
    lines = text.splitlines()
    cur = lines[line][:char] if line < len(lines) else ""
    blocks = r.blocks if r else {}
    # inside a flow mapping on this line: `- conv2d: {filters: 8, ke`
    owner, inner, segment = _flow_owner(cur)
    if owner is None:
        stripped = cur.strip()
        if re.fullmatch(r"-\s*[\w$]*", stripped) or re.search(r"[\[,]\s*[\w$]*$", cur) and "- [" in cur:
            return _entry_items(blocks)
        owner, inner = _block_owner(lines, line, cur)
        segment = cur
    if owner is None:
        return []
    m = re.fullmatch(r"\s*(?:-\s+)?([\w]+)\s*:\s*(\[?[^:]*)", segment)
    if m:                                        # a value: `padding: ` → its enum
        if m.group(1) == "from":                 # the layers defined so far (the nearest first)
            return _layer_items(r)
        return _value_items(owner, m.group(1))
    if owner == "defaults":
        return _entry_items({}, only_ops=True)
    if owner in ("model", "body", "shortcut", "paths"):
        return _entry_items(blocks)
    return _field_items(owner, blocks, present=set(re.findall(r"([\w]+)\s*:", inner)))


def _flow_owner(cur: str):
    depth, start = 0, None
    for k in range(len(cur) - 1, -1, -1):
        c = cur[k]
        if c == "}":
            depth += 1
        elif c == "{":
            if depth == 0:
                start = k
                break
            depth -= 1
    if start is None:
        return None, "", ""
    m = re.search(r"([\w$]+)\s*:\s*$", cur[:start])
    if not m:
        return None, "", ""
    tail = cur[start + 1:]
    depth, cut = 0, 0
    for k, c in enumerate(tail):                 # the last comma outside [ ] starts the current field
        depth += (c == "[") - (c == "]")
        if c == "," and depth == 0:
            cut = k + 1
    return m.group(1), tail, tail[cut:]


def _block_owner(lines, line: int, cur: str):
    indent = len(cur) - len(cur.lstrip())
    for k in range(line - 1, -1, -1):
        text = lines[k].split("#", 1)[0].rstrip()
        if not text.strip():
            continue
        ind = len(text) - len(text.lstrip())
        if ind < indent or (ind == indent and text.lstrip().startswith("- ") and not cur.lstrip().startswith("-")):
            m = re.fullmatch(r"\s*(?:-\s+)?([\w$]+)\s*:\s*", text)
            if m:                                # the keys already written below the owner count as present
                siblings = [x for x in lines[k + 1:line] if len(x) - len(x.lstrip()) == indent]
                return m.group(1), " ".join(siblings) + " " + cur
            return None, ""
    return ("<document>" if indent == 0 else None), cur


def _entry_items(blocks, only_ops=False) -> list[Item]:
    from .. import ops

    out = [Item(name, "op", op.doc) for name, op in sorted(ops.user_ops().items())]
    if only_ops:
        return out
    out += [Item(s.name, "structure", s.doc) for s in STRUCTURES.values()]
    out += [Item(b, "block", (blk.spec.doc or f"block ({', '.join(blk.params) or 'no parameters'})"))
            for b, blk in sorted(blocks.items())]
    return out


def _field_items(owner: str, blocks, present: set) -> list[Item]:
    from .. import ops

    op = ops.get(owner)
    out: list[Item] = []
    if op is not None and not op.internal:
        props = op_schema(owner, wait=False)
        for f, info in op.Attrs.model_fields.items():
            detail = "required" if info.is_required() else f"default: {info.default!r}"
            out.append(Item(f, "field", detail, props.get(f, {}).get("description", "")))
    elif owner in STRUCTURES:
        out = [Item(f.name, "field", _field_detail(f), f.doc) for f in STRUCTURES[owner].fields]
    elif owner in blocks:
        for p, (t, d, req) in blocks[owner].params.items():
            out.append(Item(p, "param", f"{t}" + ("" if req else f" = {d!r}")))
    elif owner == "<document>":
        from ..lang.document import Document

        return [Item(f, "key", "", info.description or "") for f, info in Document.model_fields.items()
                if f not in present]
    else:
        return []
    out += [Item(f.name, "field", "", f.doc) for f in RESERVED.values()]
    return [i for i in out if i.label not in present]


def _field_detail(f) -> str:
    return "required" if f.required else f"default: {f.default!r}" if f.default is not None else ""


def _layer_items(r: Result | None) -> list[Item]:
    if r is None or r.graph is None:
        return []
    g, out = r.graph, {}
    for n in reversed(list(g.nodes.values())):
        if not n.scope and n.loc and n.loc.file == r.display:
            out.setdefault(n.id, Item(n.id, "value", f"{n.op} → {n.shape}"))
    for s in reversed(list(g.scopes.values())):
        if not s.parent and SEP_ not in s.path and s.output in g.nodes:
            out.setdefault(s.path, Item(s.path, "value", f"{s.kind} → {g.nodes[s.output].shape}"))
    return list(out.values())


SEP_ = "/"


def _value_items(owner: str, name: str) -> list[Item]:
    prop = op_schema(owner, wait=False).get(name)
    if not prop:
        return []
    values = []

    def walk(node):
        if isinstance(node, dict):
            values.extend(x for x in node.get("enum", []) if isinstance(x, str))
            for alt in node.get("anyOf", []):
                walk(alt)
    walk(prop)
    return [Item(v, "value") for v in dict.fromkeys(values)]


_OP_SCHEMAS: dict = {}
_SCHEMA_LOCK = threading.Lock()


def op_schema(name: str, wait: bool = True) -> dict:
    """The JSON Schema properties of an op's attributes or a structure's fields (descriptions, enums), built
    once (pydantic builds every model: slow cold).
    With `wait=False` (a request on the server's event loop) it answers {} while another thread is
    still building them, rather than blocking."""
    if not _OP_SCHEMAS:
        if not _SCHEMA_LOCK.acquire(blocking=wait):
            return {}
        try:
            if not _OP_SCHEMAS:
                from ..lang.jsonschema import json_schema

                defs = json_schema()["definitions"]
                _OP_SCHEMAS.update({k[3:]: v.get("properties", {}) for k, v in defs.items() if k.startswith("op_")})
                for kind in STRUCTURES:             # a structure's fields: `merge: ` completes the merging ops
                    s = defs["entry_map"]["properties"][kind]
                    _OP_SCHEMAS[kind] = next(a for a in s.get("anyOf", [s]) if a.get("type") == "object")["properties"]
        finally:
            _SCHEMA_LOCK.release()
    return _OP_SCHEMAS.get(name, {})


def warm_up() -> None:
    """Import and build what the first analysis and completion need (run on the worker at start-up)."""
    op_schema("conv2d")
    analyze("archspec: 1\nname: w\ninputs: {x: [4, 4, 1]}\nmodel:\n  - conv2d: {filters: 1, kernel: 1}\n")
