"""Shared pieces of expansion: the context passed down bodies, and small helpers."""
from __future__ import annotations

from dataclasses import dataclass

from .. import ops
from ..graph import SEP, Graph
from .expr import ShapeView, UnknownShape
from .schema import BlockDef
from .source import Source

STRUCTURES = ("sequence", "branches", "residual")
RESERVED = ("name", "from", "repeat", "when")
MERGES = ops.merges()               # the ops that may close a `branches:` structure
PARAM_TYPES = {"int", "float", "number", "bool", "str", "list", "any", "pair", "activation"}

class _Abort(Exception):
    """Stop expanding (a limit was hit); diagnostics already recorded."""


@dataclass
class Block:
    name: str
    spec: BlockDef
    src: Source
    path: tuple                 # path of the block definition in its source
    params: dict                # name -> (type, default, required)


@dataclass
class Ctx:
    src: Source
    scope: str                  # scope path for node ids
    env: dict                   # expression names
    defaults: dict              # op -> {attr: (value, src, path)}
    names: list                 # chain of name tables, innermost last: [{name: node_id}]
    later: list                 # chain of {name: (index, refs)} of explicitly named entries
    blocks_stack: tuple = ()
    notes: tuple = ()           # "instantiated from" notes
    body_input: str | None = None


_FAILED = object()   # a name whose layer failed: references to it are skipped silently


class _Poison(Exception):
    """An entry failed; its dependents are skipped without further messages."""


def _with_in(env: dict, g: Graph, node_id) -> dict:
    """Expression names for a structure's body: `in` is the tensor entering that body."""
    return {**env, "in": _view(g, node_id)}


def _view(g: Graph, node_id):
    """The shape of `node_id` as expressions see it (unknown after an earlier mistake)."""
    if node_id is None or g[node_id].shape is None:
        return UnknownShape()
    return ShapeView(g[node_id].shape)


def _join(scope: str, name: str) -> str:
    return f"{scope}{SEP}{name}" if scope else name


