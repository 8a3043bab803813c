"""Block-call memoization: a block call is a pure function of its inputs, so its expansion is recorded
once and replayed ("spliced") under a new scope path wherever the same call recurs.

A call's result depends only on the block, its bound arguments, its input shapes, the op defaults in
effect, the block-call stack (recursion and depth checks), and the values of the top-level parameters
that block bodies or defaults read. Those form the key. A call is recorded only when it is clean: it
added no diagnostic and none of its layers or scopes refers to a node outside the call other than the
call's own inputs (a `from:` that resolved to a layer elsewhere in the model). Replaying copies the
recorded nodes and scopes — same ops, validated attributes, shapes, locations and cached costs —
with ids under the new scope and the new call site's notes, so the graph is exactly what expanding
the call again would give; it costs one small object per layer instead of evaluating, validating and
inferring every entry again.

Within one expansion this shares repeated blocks (ResNet's bottlenecks, Inception's modules); across
expansions (archspec.pricing.Pricer keeps the memo) it makes re-pricing under new parameter values
cost little more than the layers that actually change.
"""
from __future__ import annotations

import math
from itertools import islice

from .. import ops
from ..graph import SEP, Node, Scope
from ..ops.summary import Summary
from .context import _Abort
from .expr import ExprError, names_in

MAX_FRAGMENT = 50_000          # layers; bigger calls are not recorded (they are rarely repeated whole)
MAX_MEMO = 2_000_000           # recorded layers in all; past it nothing new is recorded


class MemoStore:
    """What expansions share: recorded block calls, validated op attributes, inferred shapes.
    Every entry is a pure function of its key; one expansion makes its own, a Pricer keeps one."""

    __slots__ = ("fragments", "attrs", "kept", "shapes", "size")

    def __init__(self):
        self.fragments: dict = {}    # block-call key -> Fragment
        self.attrs: dict = {}        # (op name, frozen values) -> validated Attrs (shared by every node using it)
        self.kept: set = set()       # ids of those Attrs (alive as long as this store)
        self.shapes: dict = {}       # (id(attrs), input shapes) -> (output shape, node cost tuple); attrs live in self.attrs
        self.size = 0                # layers and scopes recorded in fragments

    def __len__(self):
        return len(self.fragments)


MAX_CACHED = 200_000           # attribute and shape entries


class _Impure(Exception):
    """The call reads a node outside itself: it cannot be replayed elsewhere."""


def infer_cost(op, a, shapes: list) -> tuple[tuple, tuple]:
    """(output shape, (trainable, non-trainable, MACs, FLOPs, output elements)) of one layer."""
    out = tuple(op.infer(a, shapes))
    t, nt = op.params(a, shapes, out)
    return out, (t, nt, op.macs(a, shapes, out), op.flops(a, shapes, out), math.prod(out))


def _freeze(v):
    """A hashable, type-exact form of a value (1, 1.0 and True stay distinct)."""
    t = v.__class__
    if t is list or t is tuple:
        return (t, tuple(_freeze(x) for x in v))
    if t is dict:                         # scalars inline: an op's attributes are mostly flat
        return (t, tuple((k, _freeze(x) if x.__class__ in _NESTED else (x.__class__, x)) for k, x in v.items()))
    return (t, v)


_NESTED = (list, tuple, dict)


class Fragment:
    __slots__ = ("nodes", "scopes", "output", "size", "summary")

    def __init__(self, nodes, scopes, output, size, summary):
        self.nodes = nodes          # (relative id, template Node, inputs, relative scope, inner-trace length)
        self.scopes = scopes        # (relative path, template Scope, relative parent, input, output)
        self.output = output        # relative id, or int: the k-th input of the call
        self.size = size            # layers and scopes it adds to the graph (for the max_layers limit)
        self.summary = summary      # a Summary when the call is sealed (see `record`), else None


def _expr_names(raw, out: set) -> None:
    if isinstance(raw, str):
        if raw.startswith("$") and not raw.startswith("$$"):
            try:
                out.update(names_in(raw[1:]))
            except (ExprError, RecursionError):
                pass                            # reported where it is evaluated
    elif isinstance(raw, list):
        for v in raw:
            _expr_names(v, out)
    elif isinstance(raw, dict):
        for k, v in raw.items():
            _expr_names(k, out)                 # `- $stem: {...}`: an entry key may be an expression
            _expr_names(v, out)


class Memo:
    """Mixin of the Expander: keys, recording and replay of block calls."""

    def names_read_by_blocks(self, doc) -> tuple:
        """Top-level parameter names that any block body (its own defaults included) may read. The
        defaults a call inherits are keyed with the names they read (memo_key)."""
        names: set = set()
        for block in self.blocks.values():
            raw = block.src.data
            for p in block.path:
                raw = raw[p]
            _expr_names(raw, names)
        return tuple(sorted(n for n in names if n in doc.params))

    def validated(self, op, values: dict):
        """op.Attrs.model_validate(values), once per distinct values (raises pydantic_lite.Invalid)."""
        try:
            key = (op.name, _freeze(values))
            a = self.memo.attrs.get(key)
        except TypeError:
            return op.Attrs.model_validate(values)
        if a is None:
            a = op.Attrs.model_validate(values)
            if len(self.memo.attrs) < MAX_CACHED:
                self.memo.attrs[key] = a
                self.memo.kept.add(id(a))
        return a

    def inferred(self, op, a, shapes: list) -> tuple[tuple, tuple]:
        """(output shape, cost tuple) of `op` on `shapes` — op.infer as a tuple and the node's costs
        (passes.analyze.node_cost) — once per distinct cached attributes and input shapes. Raises the
        op's ShapeError."""
        kept = id(a) in self.memo.kept
        if kept:
            key = (id(a), tuple(shapes))
            hit = self.memo.shapes.get(key)
            if hit is not None:
                return hit
        hit = infer_cost(op, a, shapes)
        if kept and len(self.memo.shapes) < MAX_CACHED:
            self.memo.shapes[key] = hit
        return hit

    def memo_key(self, block, bound: dict, inputs, defaults: dict, stack: tuple):
        g = self.graph
        dkey = self._defaults_keys.get(id(defaults))
        if dkey is None:
            read: set = set()
            _expr_names([raw for attrs in defaults.values() for raw, _, _ in attrs.values()], read)
            dkey = (defaults, (tuple((op, tuple((a, id(s), p) for a, (_, s, p) in attrs.items()))
                                     for op, attrs in defaults.items()),
                               tuple((n, _freeze(self.globals[n])) for n in sorted(read) if n in self.globals)))
            self._defaults_keys[id(defaults)] = dkey     # keeps `defaults` alive, so its id stays unique
        shapes = tuple(g.nodes[i].shape for i in inputs)
        if None in shapes:
            return None
        masks = tuple(ops.get(g.nodes[i].op).makes_mask(g.nodes[i].attrs) for i in inputs)  # (input-dtype's check)
        key = (block.name, id(block), _freeze(bound), shapes, masks, dkey[1], stack, self.memo_globals)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def record(self, key, scope_path: str, inputs, out, n0: int, s0: int, outer_trace: int) -> None:
        """Keep the call just expanded (its nodes and scopes are the newest in the graph). Replay rows
        are kept when it holds no summary node (ops/summary.py); a Summary when it is sealed: its result is a layer of
        its own and every one of its layers contributes to that result."""
        from ..passes.analyze import node_cost, profile

        g = self.graph
        nn, ns = len(g.nodes) - n0, len(g.scopes) - s0
        if nn + ns > MAX_FRAGMENT or self.memo.size + nn + ns > MAX_MEMO:
            return
        pre = scope_path + SEP
        plen = len(pre)
        ext = {}
        for k in range(len(inputs) - 1, -1, -1):
            ext[inputs[k]] = k

        def rel(nid):
            if nid is None:
                return None
            k = ext.get(nid)
            if k is not None:
                return k
            if nid.startswith(pre):
                return nid[plen:]
            raise _Impure

        def rscope(path):
            if path == scope_path:
                return ""
            if path.startswith(pre):
                return path[plen:]
            raise _Impure

        nodes = list(islice(reversed(g.nodes.values()), nn))
        nodes.reverse()
        scopes = list(islice(reversed(g.scopes.values()), ns))
        scopes.reverse()
        reg = ops.REGISTRY
        hidden = sum(reg[n.op].hidden(n.attrs) for n in nodes) if self.summarize else 0   # only pricing makes summaries
        try:
            rows = None
            if not hidden:
                rows = [(rel(n.id), n, tuple(rel(i) for i in n.inputs), rscope(n.scope), len(n.trace) - outer_trace)
                        for n in nodes]
            srows = [(rscope(s.path), s, rscope(s.parent), rel(s.input), rel(s.output)) for s in scopes]
            output = rel(out)
            for n in nodes:
                for i in n.inputs:
                    rel(i)
        except _Impure:
            return
        summary = None
        if output.__class__ is str and _sealed(nodes, out):
            t = nt = macs = flops = elements = layers = 0
            for n in nodes:
                c = n.cost or node_cost(g, n)
                t, nt, macs, flops, elements = t + c[0], nt + c[1], macs + c[2], flops + c[3], elements + c[4]
                layers += reg[n.op].layers(n.attrs)
            out_node = g.nodes[out]
            out_op = reg[out_node.op]
            summary = Summary((t, nt, macs, flops, elements), layers, out_node.shape,
                              out_op.output_elements(out_node.attrs, out_node.cost),
                              out_op.output_name(out_node.attrs, out_node.short),
                              profile(nodes, ext, [out]), nn + ns + hidden)
        old = self.memo.fragments.get(key)
        if old is not None:                      # a summary recorded by pricing: add the replay rows
            if rows is not None and old.nodes is None:
                old.nodes, old.scopes, old.output = rows, srows, output
            return
        frag = Fragment(rows, srows if rows is not None else None, output, nn + ns + hidden, summary)
        self.memo.fragments[key] = frag
        self.memo.size += nn + ns

    def replay(self, frag: Fragment, scope_path: str, ctx_scope: str, inputs, notes: tuple, loc) -> str | None:
        """The result of a call recorded before: one summary node when pricing, else its layers
        spliced in. None when the fragment cannot be used here (expand the call instead)."""
        g = self.graph
        if self.summarize and frag.summary is not None:
            s = frag.summary
            if self.graph_size() + s.size > self.limits.max_layers:
                self._limit(loc, scope_path)
            self.hidden += s.size - 1
            g.add(Node(scope_path, ops.role("block_summary"), s, tuple(inputs), loc, ctx_scope, s.shape, notes, s.cost))
            return scope_path
        if frag.nodes is None:
            return None
        return self.splice(frag, scope_path, inputs, notes, loc)

    def _limit(self, loc, scope):
        self.error("limit", f"the graph has more than {self.limits.max_layers:,} layers", loc, scope,
                   "raise it with --limit max_layers=N")
        raise _Abort()

    def splice(self, frag: Fragment, scope_path: str, inputs, notes: tuple, loc) -> str:
        g = self.graph
        if self.graph_size() + frag.size > self.limits.max_layers:
            self._limit(loc, scope_path)
        pre = scope_path + SEP
        nodes, succs = g.nodes, g._succs
        for rid, t, ins, rsc, inner in frag.nodes:
            nid = pre + rid
            real = tuple(inputs[i] if i.__class__ is int else pre + i for i in ins)
            nodes[nid] = Node(nid, t.op, t.attrs, real, t.loc, pre + rsc if rsc else scope_path, t.shape,
                              t.trace[:inner] + notes, t.cost)
            if succs is not None:
                succs[nid] = []
                for i in real:
                    succs[i].append(nid)
        for rpath, t, rparent, rin, rout in frag.scopes:
            path = pre + rpath
            g.scopes[path] = Scope(path, t.kind, t.name, t.loc, pre + rparent if rparent else scope_path, t.args,
                                   None if rin is None else inputs[rin] if rin.__class__ is int else pre + rin,
                                   None if rout is None else inputs[rout] if rout.__class__ is int else pre + rout)
        g._nx = None
        o = frag.output
        return inputs[o] if o.__class__ is int else pre + o


def _sealed(nodes, out) -> bool:
    """Every node contributes to `out`."""
    inside = {n.id: n for n in nodes}
    seen, todo = set(), [out]
    while todo:
        nid = todo.pop()
        if nid in seen or nid not in inside:
            continue
        seen.add(nid)
        todo.extend(inside[nid].inputs)
    return len(seen) == len(inside)
