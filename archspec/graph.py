"""The IR: a DAG of layer nodes, each with its scope path, source location and inferred shape.

Nodes are kept in definition order, which is a topological order by construction (a node is
created only after all its inputs), so every pass is a single forward loop and output is
deterministic. `Graph.nx` gives the same graph as a `networkx.DiGraph` — built on demand, because
importing networkx would cost more than the rest of a cold `archspec check` (tests/test_startup.py
keeps it out).

>>> from archspec import api
>>> g = api.load_text('''
... archspec: 1
... name: tiny
... inputs: {x: [8, 8, 3]}
... model:
...   - conv2d: {filters: 4, kernel: 3}
...   - global_avg_pool: {}
... ''').graph
>>> print(g.dump())
x                input     -> (8, 8, 3)
conv2d           conv2d(x) -> (6, 6, 4)  conv 3×3 · 4
global_avg_pool  global_avg_pool(conv2d) -> (4,)  global avg pool

(The call column is as wide as the calls shorter than 20 characters; a longer one just runs on.)
"""
from __future__ import annotations

from typing import Iterator

from .errors import Loc
from .fast.dataclasses_lite import Record
from .ops.base import Attrs

SEP = "/"


class Node(Record):
    """One layer. Fields: id — unique scope path ("stage3/block_2/conv_bn/conv2d"); op; attrs;
    inputs — node ids; loc; scope — the enclosing scope's path ("" at top level); shape — the inferred
    output shape, None if inference failed; trace — Notes for the block call sites that produced it,
    innermost first; cost — (trainable, non_trainable, macs, flops, elements), cached by passes.analyze."""

    __slots__ = _fields = ("id", "op", "attrs", "inputs", "loc", "scope", "shape", "trace", "cost")

    def __init__(self, id: str, op: str, attrs: Attrs, inputs: tuple, loc: Loc | None, scope: str,  # noqa: A002
                 shape: tuple | None = None, trace: tuple = (), cost: tuple | None = None):
        self.id, self.op, self.attrs, self.inputs, self.loc = id, op, attrs, inputs, loc
        self.scope, self.shape, self.trace, self.cost = scope, shape, trace, cost

    @property
    def short(self) -> str:
        return self.id.rsplit(SEP, 1)[-1]

    def holds_ids(self) -> bool:
        """Integer values of rank 1: token ids (or a padding mask beside them), not features."""
        return str(getattr(self.attrs, "dtype", "float32")).startswith(("int", "uint")) and len(self.shape or ()) == 1

    def holds_mask(self) -> bool:
        """Rank 1 values that can be a padding mask (1 token, 0 padding): integers or booleans."""
        return self.holds_ids() or (getattr(self.attrs, "dtype", None) == "bool" and len(self.shape or ()) == 1)


class Scope(Record):
    """A block call, residual, branches, branch path or named sequence: one cluster in diagrams,
    one row of per-block roll-ups. kind: block | residual | branches | path | sequence; name: the
    block's name for block calls, else the kind; input / output: the nodes feeding it and produced."""

    __slots__ = _fields = ("path", "kind", "name", "loc", "parent", "args", "input", "output")

    def __init__(self, path: str, kind: str, name: str, loc: Loc | None, parent: str, args: dict | None = None,
                 input: str | None = None, output: str | None = None):  # noqa: A002
        self.path, self.kind, self.name, self.loc, self.parent = path, kind, name, loc, parent
        self.args = {} if args is None else args
        self.input, self.output = input, output

    @property
    def depth(self) -> int:
        return self.path.count(SEP) + 1 if self.path else 0


class Graph:
    def __init__(self, name: str):
        self.name = name
        self.nodes: dict[str, Node] = {}
        self.scopes: dict[str, Scope] = {}
        self.inputs: list[str] = []
        self.outputs: dict[str, str] = {}     # output name -> node id
        self._succs: dict[str, list[str]] | None = None   # consumers of each node, built on first use
        self.space: dict = {}                  # searched top-level parameters (lang/space.py), by name
        self.params: dict = {}                 # top-level parameter values, as expansion bound them
        # block name -> {parameter: (type, default, required)}, as lang/blocks.py parsed the declarations
        self.block_params: dict[str, dict[str, tuple]] = {}
        self._nx = None

    def add(self, node: Node) -> Node:
        assert node.id not in self.nodes, node.id
        self.nodes[node.id] = node
        if self._succs is not None:
            self._succs[node.id] = []
            for i in node.inputs:
                self._succs[i].append(node.id)
        self._nx = None
        return node

    @property
    def succs(self) -> dict[str, list[str]]:
        """node id -> the ids of the nodes that take it as an input, in definition order."""
        if self._succs is None:
            succs: dict[str, list[str]] = {nid: [] for nid in self.nodes}
            for n in self.nodes.values():
                for i in n.inputs:
                    succs[i].append(n.id)
            self._succs = succs
        return self._succs

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, node_id: str) -> Node:
        return self.nodes[node_id]

    @property
    def token_input(self) -> Node | None:
        """The first input when it takes token ids (Node.holds_ids), else None: what makes a spec a
        sequence model for training, its data and its throughput in tokens."""
        first = self.nodes[self.inputs[0]] if self.inputs else None
        return first if first is not None and first.holds_ids() else None

    @property
    def nx(self):
        """This graph as a networkx.DiGraph (node attribute `node` holds the Node)."""
        if self._nx is None:
            import networkx as nx

            g = nx.DiGraph(name=self.name)
            for n in self.nodes.values():
                g.add_node(n.id, node=n, op=n.op, shape=n.shape)
            for n in self.nodes.values():
                for i in n.inputs:
                    g.add_edge(i, n.id, shape=self.nodes[i].shape)
            self._nx = g
        return self._nx

    def scope_chain(self, path: str) -> list[Scope]:
        """Scopes enclosing `path`, outermost first."""
        out, parts = [], path.split(SEP) if path else []
        for i in range(1, len(parts) + 1):
            p = SEP.join(parts[:i])
            if p in self.scopes:
                out.append(self.scopes[p])
        return out

    def lint(self) -> list[str]:
        """Invariants every stage must keep; returns a list of violations (empty when sound). Shapes are
        inferred again from the inputs alone, so a transformed graph proves itself self-consistent."""
        from .ops import REGISTRY

        problems = []
        seen = set()
        for n in self.nodes.values():
            for i in n.inputs:
                if i not in seen:
                    problems.append(f"{n.id}: input {i} is not defined before it")
            if n.scope and n.scope not in self.scopes:
                problems.append(f"{n.id}: unknown scope {n.scope}")
            if n.scope and not n.id.startswith(n.scope + SEP):
                problems.append(f"{n.id}: id is not inside its scope {n.scope}")
            seen.add(n.id)
        for name, o in self.outputs.items():
            if o not in self.nodes:
                problems.append(f"output {name}: unknown node {o}")
        for i in self.inputs:
            if not REGISTRY[self.nodes[i].op].source:
                problems.append(f"input {i} is a {self.nodes[i].op}")
        if not problems:
            shapes: dict[str, tuple] = {}
            for n in self.nodes.values():
                shapes[n.id] = tuple(REGISTRY[n.op].infer(n.attrs, [shapes[i] for i in n.inputs]))
                if n.shape is not None and shapes[n.id] != tuple(n.shape):
                    problems.append(f"{n.id}: stored shape {n.shape}, inferred {shapes[n.id]}")
        return problems

    def dump(self) -> str:
        """One line per node: id, op(inputs) -> shape, label. The text golden tests compare."""
        from .ops import REGISTRY

        rows = []
        for n in self.nodes.values():
            source = REGISTRY[n.op].source
            call = n.op if source else f"{n.op}({', '.join(n.inputs)})"
            label = "" if source else REGISTRY[n.op].label(n.attrs)
            rows.append((n.id, call, str(n.shape) if n.shape is not None else "?", label))
        w0 = max((len(r[0]) for r in rows), default=0)
        w1 = max((len(r[1]) for r in rows if len(r[1]) < 20), default=0)
        return "\n".join(f"{a:<{w0}}  {b:<{w1}} -> {c}" + (f"  {d}" if d else "") for a, b, c, d in rows)
