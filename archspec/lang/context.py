"""Shared pieces of expansion: the context passed down bodies, and small helpers."""
from __future__ import annotations

from .. import ops
from ..fast.dataclasses_lite import Record
from ..graph import SEP, Graph
from . import grammar
from .document import BlockDef
from .expr import ShapeView, UnknownShape
from .source import Source

STRUCTURES = tuple(grammar.STRUCTURES)   # the entries that are not layers (lang/grammar.py)
RESERVED = tuple(grammar.RESERVED)       # keys any entry may carry
MERGES = ops.merges()               # the ops that may close a `branches:` structure
PARAM_TYPES = grammar.PARAM_TYPES      # what a parameter may declare as its type

class _Abort(Exception):
    """Stop expanding (a limit was hit); diagnostics already recorded."""


class Block(Record):
    """A block definition: its name, validated spec, source, path in that source (where it is
    defined) and parameters (name -> (type, default, required))."""

    _fields = ("name", "spec", "src", "path", "params")

    def __init__(self, name: str, spec: BlockDef, src: Source, path: tuple, params: dict):
        self.name, self.spec, self.src, self.path, self.params = name, spec, src, path, params


class Ctx(Record):
    """What a body is expanded in: src; scope — the scope path for node ids; env — expression names;
    defaults — op -> {attr: (value, src, path)}; names — the chain of name tables, innermost last
    ([{name: node_id}]); later — the chain of Wiring, one per enclosing body; blocks_stack; notes —
    "instantiated from" notes; body_input."""

    _fields = ("src", "scope", "env", "defaults", "names", "later", "blocks_stack", "notes", "body_input")

    def __init__(self, src: Source, scope: str, env: dict, defaults: dict, names: list, later: list,
                 blocks_stack: tuple = (), notes: tuple = (), body_input: str | None = None):
        self.src, self.scope, self.env, self.defaults, self.names, self.later = src, scope, env, defaults, names, later
        self.blocks_stack, self.notes, self.body_input = blocks_stack, notes, body_input

    def derive(self, **changes) -> "Ctx":
        """A copy with some fields changed (dataclasses.replace without its per-call overhead)."""
        c = object.__new__(Ctx)
        c.__dict__.update(self.__dict__)
        c.__dict__.update(changes)
        return c


class Wiring:
    """Who takes whom among the entries of one body, known before any is expanded, so that a
    reference to a later entry is told apart from a cycle (and the cycle is named with its path).

    Entry k depends on the entries named by any `from:` inside it (nested bodies included) and,
    without a `from:` of its own, on entry k-1 (the previous layer feeds it)."""

    def __init__(self, entries: list, src: Source, path: tuple):
        self.src, self.path, self.entries = src, path, entries
        self.index: dict[str, int] = {}
        self.current = 0
        for k, e in enumerate(entries):
            v = next(iter(e.values())) if isinstance(e, dict) and len(e) == 1 else None
            if isinstance(v, dict) and isinstance(v.get("name"), str) and not v["name"].startswith("$"):
                self.index.setdefault(v["name"], k)
        self._deps: list | None = None

    def deps(self, k: int) -> set[int]:
        if self._deps is None:
            self._deps = []
            for j, e in enumerate(self.entries):
                v = next(iter(e.values())) if isinstance(e, dict) and len(e) == 1 else None
                found: set[int] = set()
                _refs_in(e, self.index, found)
                if j > 0 and not (isinstance(v, dict) and "from" in v):
                    found.add(j - 1)
                self._deps.append(found)
        return self._deps[k]

    def cycle_through(self, target: int) -> list[int] | None:
        """The entries of a loop current → target → … → current, or None when target does not
        (transitively) take the current entry."""
        start = self.current
        prev, todo = {target: None}, [target]
        while todo:
            k = todo.pop(0)
            if k == start:
                chain = [k]
                while prev[chain[-1]] is not None:
                    chain.append(prev[chain[-1]])
                return [start] + chain[::-1]
            for d in sorted(self.deps(k)):
                if d not in prev:
                    prev[d] = k
                    todo.append(d)
        return None

    def label(self, k: int) -> str:
        e = self.entries[k]
        key, v = next(iter(e.items())) if isinstance(e, dict) and len(e) == 1 else ("entry", None)
        if isinstance(v, dict) and isinstance(v.get("name"), str):
            return v["name"]
        return f"{key} (line {self.src.loc(self.path + (k,)).line})"


def _refs_in(value, index: dict, out: set) -> None:
    if isinstance(value, dict):
        refs = value.get("from")
        for r in ([refs] if isinstance(refs, str) else refs if isinstance(refs, list) else []):
            if isinstance(r, str) and r in index:
                out.add(index[r])
        for v in value.values():
            if isinstance(v, (dict, list)):
                _refs_in(v, index, out)
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, (dict, list)):
                _refs_in(v, index, out)


_FAILED = object()   # a name whose layer failed: references to it are skipped silently


class _Poison(Exception):
    """An entry failed; its dependents are skipped without further messages."""


def _with_in(env: dict, g: Graph, node_id) -> dict:
    """Expression names for a structure's body: `in` is the tensor entering that body."""
    return {**env, "in": _view(g, node_id)}


def _view(g: Graph, node_id):
    """The shape of `node_id` as expressions see it (unknown after an earlier mistake)."""
    shape = g.nodes[node_id].shape if node_id is not None else None
    return UnknownShape() if shape is None else ShapeView(shape)


def _join(scope: str, name: str) -> str:
    return f"{scope}{SEP}{name}" if scope else name


