"""Expansion: the document's entries, blocks, branches, residuals and repeats → a graph of layers.

Shapes are inferred while expanding, node by node, because a block body may read its input's
shape (`$in.channels`). Every node keeps the file/line/column of the entry that made it and its
scope path; every mistake becomes a located Diagnostic, and a node that failed poisons its
dependents silently (one mistake, one message).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .. import ops
from ..errors import Diagnostic, Loc, Note, SpecError, closest, focus, hint_for
from ..fast.pydantic_lite import Invalid
from ..graph import SEP, Graph, Node
from ..ops.base import Op, ShapeError
from . import grammar
from .blocks import Blocks, _user_ops
from .context import _FAILED, RESERVED, STRUCTURES, Block, Ctx, Wiring, _Abort, _join, _Poison, _view
from .document import Document, comma_hint, describe, dollar_hint, pydantic_diagnostics
from .expr import Budget, ExprError, Unknown, evaluate
from .memo import Memo, MemoStore, _freeze
from .source import DEFAULT_LIMITS, INT_MAX, INT_MIN, Limits, Source
from .space import SearchSpace
from .structures import Structures

_MASKING: frozenset[str] = frozenset()


def _masking() -> frozenset[str]:
    """The ops that can make a mask (their class has its own Op.makes_mask): the only ones whose outputs the
    input-dtype check looks at further."""
    global _MASKING
    if not _MASKING:
        _MASKING = frozenset(n for n, o in ops.REGISTRY.items() if type(o).makes_mask is not Op.makes_mask)
    return _MASKING


class Expander(Memo, Blocks, Structures):
    def __init__(self, doc_src: Source, limits: Limits, overrides: dict, root: Path | None,
                 prepared: Prepared | None = None, memo: MemoStore | None = None, summarize: bool = False):
        self.src = doc_src
        self.limits = limits
        self.overrides = overrides
        self.root = root
        self.diags: list[Diagnostic] = []
        self.graph: Graph | None = None
        self.blocks: dict[str, Block] = {}
        self.sources: dict[str, Source] = {doc_src.file: doc_src}
        self.used: dict[str, set] = {}           # scope path -> names used in it
        self.globals: dict = {}
        self.counters: dict = {}                 # (scope, name) -> next free suffix
        self.included: set = set()               # resolved paths of included files
        self._trace: tuple = ()                  # call-site notes of the block being expanded
        self.prepared = prepared
        self.memo = MemoStore() if memo is None else memo  # lang/memo.py
        self.memo_globals: tuple = ()            # top-level parameters that block bodies or defaults read
        self._defaults_keys: dict = {}
        self.summarize = summarize               # pricing: a recorded block call becomes one summary node
        self.hidden = 0                          # layers and scopes those nodes stand for (limits)
        self.degraded = False                    # the document had errors: check what can be checked
        self.bad_blocks: set[str] = set()        # blocks whose definition has errors (calls are skipped)
        self.lost_includes = False               # an include could not be read
        self.space = SearchSpace()               # searched top-level parameters (lang/space.py)
        self.budget = Budget(limits.max_expr_size, limits.max_expr_work)   # all the spec's expressions

    # ---- diagnostics -------------------------------------------------------------------------
    def error(self, code, message, loc, scope=None, hint=None, notes=(), subject=None, suggestion=None):
        # a mistake inside a block from another file is shown at its call site in the spec being checked
        notes = tuple(notes) + tuple(n for n in self._trace if n not in notes)
        loc, notes = focus(loc, notes, self.src.file)
        self.diags.append(Diagnostic(code, message, loc, scope or None, hint or hint_for(suggestion), notes,
                                     subject=subject, suggestion=suggestion))

    def _expr_loc(self, src: Source, path: tuple, offset: int) -> Loc:
        loc = src.loc(path)
        if loc.line <= 0:
            return loc
        line = src.text.splitlines()[loc.line - 1] if loc.line <= len(src.text.splitlines()) else ""
        quoted = 1 if line[loc.col - 1: loc.col] in ("'", '"') else 0
        return Loc(loc.file, loc.line, loc.col + 1 + quoted + offset)

    # ---- values ------------------------------------------------------------------------------
    def value(self, raw, ctx: Ctx, src: Source, path: tuple, scope: str | None = None):
        """Evaluate expressions inside a raw value (strings starting with `$`, recursively in lists)."""
        if isinstance(raw, str):
            if raw.startswith("$$"):
                return raw[1:]
            if raw.startswith("$"):
                try:
                    v = evaluate(raw[1:], ctx.env, self.budget)
                    if v.__class__ is int and not INT_MIN <= v <= INT_MAX:
                        raise ExprError("the value is out of range: integers in a spec lie between -2**63 and "
                                        "2**63-1", 0, "schema", hint="no count or size can be this large")
                except Unknown:
                    raise _Poison() from None
                except ExprError as exc:
                    hint = exc.hint
                    if exc.kind == "expr-syntax":
                        hint = comma_hint(src, path, raw) or hint
                    self.error(exc.kind, exc.message, self._expr_loc(src, path, exc.offset), scope or ctx.scope,
                               hint, ctx.notes, subject=exc.subject or raw, suggestion=exc.suggestion)
                    raise _Poison() from None
                except RecursionError:
                    self.error("limit", "the expression nests too deeply", src.loc(path), scope or ctx.scope)
                    raise _Poison() from None
                return list(v) if isinstance(v, tuple) else v
            return raw
        if isinstance(raw, list):
            return [self.value(v, ctx, src, path + (i,), scope) for i, v in enumerate(raw)]
        if isinstance(raw, dict):
            return {k: self.value(v, ctx, src, path + (k,), scope) for k, v in raw.items()}
        return raw

    # ---- entry point -------------------------------------------------------------------------
    def prepare(self) -> "Prepared":
        """Everything that does not depend on the parameter values: the validated document, the
        blocks (and included files), the top-level defaults. Raises SpecError if the document
        itself is malformed; other mistakes are kept and reported with the expansion's."""
        data = self.src.data
        if not isinstance(data, dict):
            self.error("schema", f"a spec is a mapping with 'archspec', 'name', 'inputs' and 'model'; got {describe(data)}",
                       self.src.loc(()))
            raise SpecError(self.diags)
        if "archspec" not in data:
            self.error("version", "the spec does not say which language version it uses", self.src.loc(()),
                       hint="start the file with `archspec: 1`")
        try:
            doc = Document.model_validate(data)
        except Invalid as exc:
            self.diags += [d for d in pydantic_diagnostics(exc, data, self.src, fields=Document.model_fields)
                           if not (d.code == "missing-field" and d.path == ("archspec",))]
            doc = self._salvage(data, exc)       # go on: a missing `inputs:` must not hide the model's mistakes
            if doc is None:
                raise SpecError(self.diags) from None
        from ..codes import WARNINGS

        for k, code in enumerate(doc.ignore_warnings):
            if code not in WARNINGS:
                guess = closest(code, WARNINGS)
                self.error("schema", f"'{code}' is not a warning code", self.src.loc(("ignore_warnings", k)),
                           hint=hint_for(guess) or "warning codes: " + ", ".join(WARNINGS),
                           subject=str(code), suggestion=guess)
        self._load_blocks(self.src, data, (), stack=())
        defaults = self._defaults({}, data.get("defaults") or {}, self.src, ("defaults",))
        return Prepared(doc, self.blocks, self.sources, defaults, tuple(self.diags),
                        self.names_read_by_blocks(doc), self.degraded, frozenset(self.bad_blocks),
                        self.lost_includes)

    def _input_shape(self, name: str, spec, params: dict, defaults) -> tuple | None:
        """An input's shape, its `$expressions` evaluated over the top-level `params` (None: reported)."""
        raw = list(spec.shape if hasattr(spec, "shape") else spec)
        if not any(isinstance(d, str) for d in raw):
            return tuple(raw)
        path = ("inputs", name) + (("shape",) if hasattr(spec, "shape") else ())
        ctx = Ctx(self.src, "", dict(params), defaults, [{}], [])
        try:
            dims = self.value(raw, ctx, self.src, path)
        except _Poison:
            self.degraded = True
            return None
        for i, d in enumerate(dims):
            if isinstance(d, bool) or not isinstance(d, int) or d < 1:
                self.error("param-type", f"input '{name}' dimension {i} is {d!r}; a dimension is a whole number ≥ 1",
                           self.src.loc(path + (i,)), hint="give a positive integer, e.g. `--set length=128`")
                self.degraded = True
                return None
        return tuple(dims)

    def run(self) -> Graph:
        prep = self.prepared
        if prep is None:
            prep = self.prepared = self.prepare()
        else:
            self.blocks, self.sources = prep.blocks, prep.sources
        self.bad_blocks, self.lost_includes = set(prep.bad_blocks), prep.lost_includes
        self.diags = list(prep.diags)
        doc, data = prep.doc, self.src.data
        self.graph = Graph(doc.name)
        self.graph.block_params = {name: b.params for name, b in self.blocks.items()}
        params = self.globals = self._globals(doc, data)
        self.memo_globals = tuple((k, _freeze(params[k])) for k in prep.block_names if k in params)
        defaults = prep.defaults
        self.degraded = prep.degraded or bool(self.diags)   # go on: report the model's own mistakes as well
        g = self.graph
        table: dict[str, str] = {}
        self.used[""] = set()
        for name, spec in doc.inputs.items():
            shape = self._input_shape(name, spec, params, defaults)
            if shape is None:
                continue
            dtype = spec.dtype if hasattr(spec, "dtype") else "float32"
            attrs = ops.get(ops.role("input")).Attrs(shape=shape, dtype=dtype)
            g.add(Node(name, ops.role("input"), attrs, (), self.src.loc(("inputs", name), key=True), "", shape))
            g.inputs.append(name)
            table[name] = name
            self.used[""].add(name)
        first = g.inputs[0] if g.inputs else None
        env = dict(params)
        env.update({"in": _view(g, first), "prev": _view(g, first)})
        ctx = Ctx(self.src, "", env, defaults, [table], [], body_input=first)
        try:
            last = self.body(data["model"], ctx, first, ("model",)) if isinstance(data.get("model"), list) else None
        except _Abort:
            raise SpecError(self.diags) from None
        if self.degraded:
            raise SpecError(self.diags)
        self._outputs(doc, data, ctx, last)
        self._reachability()
        if self.diags:
            raise SpecError(self.diags)
        return g

    def _salvage(self, data: dict, exc: Invalid) -> Document | None:
        """A Document from the parts of `data` that are valid, so expansion can still check the model
        (its entries, blocks, defaults) after a top-level mistake. Marks the expansion degraded:
        shapes are unknown where inputs are missing, and the graph is never returned."""
        bad = {e["loc"][0] for e in exc.errors() if e["loc"]}
        if "model" in bad:
            return None                          # nothing to walk
        if "blocks" in bad:                      # each block is validated (and reported) on its own
            self.diags = [d for d in self.diags if not (d.path[:1] == ("blocks",) and len(d.path) > 2)]
        fields = Document.model_fields
        kept = {k: v for k, v in data.items() if k in fields and k not in bad}   # blocks: read from `data`
        kept.setdefault("archspec", 1)
        kept.setdefault("name", "spec")
        kept.setdefault("inputs", {})
        try:
            doc = Document.model_construct(**Document.model_validate({**kept, "inputs": kept["inputs"] or {"_": [1]}})
                                           .__dict__)
        except Invalid:
            return None
        if "inputs" in bad or not kept["inputs"]:
            doc.inputs = {}
        self.degraded = True
        return doc

    # ---- blocks, params, defaults ------------------------------------------------------------
    def body(self, entries, ctx: Ctx, cur: str | None, path: tuple) -> str | None:
        src = ctx.src
        if not isinstance(entries, list):
            self.error("bad-entry", f"a body is a list of entries; got {describe(entries)}", src.loc(path), ctx.scope)
            return None
        later = Wiring(entries, src, path)
        table: dict[str, str] = {}
        if cur is not None:
            table["in"] = ctx.body_input or cur
        inner = ctx.derive(names=ctx.names + [table], later=ctx.later + [later])
        for i, entry in enumerate(entries):
            later.current = i
            inner.env["prev"] = _view(self.graph, cur)
            try:
                cur = self.entry(entry, inner, cur, path + (i,), i)
            except _Poison:
                cur = None
        return cur

    def _entry_name(self, key: str, ctx: Ctx, kloc: Loc) -> str:
        """The op or block an expression key names (a `one_of` parameter, or any expression giving a name)."""
        try:
            name = evaluate(key[1:], ctx.env, self.budget)
        except Unknown:
            raise _Poison() from None
        except ExprError as exc:
            self.error(exc.kind, exc.message, Loc(kloc.file, kloc.line, kloc.col + 1 + exc.offset) if kloc.line else kloc,
                       ctx.scope, exc.hint, ctx.notes)
            raise _Poison() from None
        if not isinstance(name, str):
            self.error("bad-entry", f"the entry key {key} should name an op or block; it gives {describe(name)}",
                       kloc, ctx.scope, "declare the parameter with `one_of: [block_a, block_b]`", ctx.notes)
            raise _Poison()
        return name

    def entry(self, entry, ctx: Ctx, cur, path: tuple, index: int):
        if entry.__class__ is dict and len(entry) == 1:
            for key, value in entry.items():
                pass
            if key.__class__ is str and value.__class__ is dict and key[:1] != "$" and value.keys().isdisjoint(RESERVED):
                op = ops.REGISTRY.get(key)
                if op is not None and not op.internal:
                    return self._plain_op(op, key, value, entry, ctx, cur, path + (key,))
        return self._entry(entry, ctx, cur, path, index)

    def _plain_op(self, op, key: str, attrs: dict, entry: dict, ctx: Ctx, cur, vpath: tuple):
        """`- op: {attributes}` without name, from, repeat or when — most entries of a big spec — exactly
        as the general path below expands it."""
        kloc = ctx.src.first_key_loc(entry, vpath)
        local = self.unique(ctx.scope, key, False, kloc)
        if local is None:
            return None
        try:
            out = self.op_entry(op, attrs, ctx, [cur], local, vpath, kloc)
        except _Poison:
            out = None
        ctx.names[-1][local] = out
        return out

    def _entry(self, entry, ctx: Ctx, cur, path: tuple, index: int):
        """One entry of a body: what it names, its attributes and reserved keys (when, repeat, from, name),
        then the layer, block call or structure, once or `repeat` times."""
        found = self._entry_key(entry, ctx, path)
        if found is None:
            return cur
        key, value, vpath, kloc, op = found
        src = ctx.src
        # scalar shorthand and reserved keys
        reserved = {}
        if isinstance(value, dict):
            if value.keys().isdisjoint(RESERVED):
                attrs = value                    # read, never changed
            else:
                reserved = {k: value[k] for k in RESERVED if k in value}
                attrs = {k: v for k, v in value.items() if k not in RESERVED}
        elif value is None:
            attrs = {}
        elif isinstance(value, list) and key in STRUCTURES and grammar.STRUCTURES[key].shorthand:
            attrs = {grammar.STRUCTURES[key].shorthand: value}     # `- sequence: [...]`
        elif op is not None and op.primary:
            v = self.value(value, ctx, src, vpath)
            if v is None:
                return cur                       # `- activation: $act` with act = null: no layer
            attrs = {op.primary: v}
        else:
            self.error("bad-entry", f"{key} takes a mapping of attributes; got {describe(value)}",
                       src.loc(vpath), ctx.scope, f"write `- {key}: {{...}}`", ctx.notes)
            return cur

        if "when" in reserved:
            if not self._when(reserved["when"], ctx, src, vpath + ("when",)):
                return cur
        count = self._repeat_count(reserved["repeat"], ctx, vpath + ("repeat",)) if "repeat" in reserved else 1
        if count is None:
            return None
        inputs = [cur]
        if "from" in reserved:
            inputs = self.refs(reserved["from"], ctx, src, vpath + ("from",))
            if inputs is None:
                if isinstance(reserved.get("name"), str):
                    ctx.names[-1][reserved["name"]] = None
                return None
        name = reserved.get("name")
        if name is not None:
            name = self.value(name, ctx, src, vpath + ("name",))
            if not isinstance(name, str) or not name or SEP in name or "." in name or name in ("in",):
                # '/' separates scopes; '.' is what '/' becomes in Keras layer names
                self.error("schema", f"'name' should be a non-empty name without '/' or '.'; got {describe(name)}",
                           src.loc(vpath + ("name",)), ctx.scope)
                return None
        out = self._repeated(key, op, attrs, ctx, inputs, name, count, "repeat" in reserved, vpath, kloc)
        return out if count else cur            # repeat: 0 passes its input on

    def _entry_key(self, entry, ctx: Ctx, path: tuple):
        """(key, value, path of the value, location of the key, op or None) of an entry that names a known
        op, block or structure; None, with the error said, for anything else."""
        src = ctx.src
        if isinstance(entry, str):
            key, value, vpath = entry, None, path
        elif isinstance(entry, dict) and len(entry) == 1:
            key, value = next(iter(entry.items()))
            vpath = path + (key,)
        elif isinstance(entry, dict) and len(entry) > 1:
            keys = list(entry)
            known = [k for k in keys if k in ops.REGISTRY or k in self.blocks or k in STRUCTURES]
            hint = (f"put the attributes inside the op: `- {known[0]}: {{...}}`" if known else
                    "write one op or block per entry: `- conv2d: {filters: 32, kernel: 3}`")
            self.error("bad-entry", f"an entry names one op or block; this one has {len(keys)} keys: "
                       f"{', '.join(map(str, keys))}", src.loc(path), ctx.scope, hint, ctx.notes)
            return None
        else:
            self.error("bad-entry", f"an entry is `- op: {{attributes}}`; got {describe(entry)}", src.loc(path),
                       ctx.scope, "write e.g. `- conv2d: {filters: 32, kernel: 3}`", ctx.notes)
            return None
        kloc = src.first_key_loc(entry, vpath) if isinstance(entry, dict) else src.loc(path)
        if not isinstance(key, str):
            self.error("bad-entry", f"an op name must be text; got {describe(key)}", kloc, ctx.scope)
            return None
        if key.startswith("$") and not key.startswith("$$"):
            key = self._entry_name(key, ctx, kloc)      # `- $stem: {...}`: a block choice
        op = ops.get(key)
        if op is not None and op.internal:
            op = None
        if op is None and key not in self.blocks and key not in STRUCTURES:
            if key in self.bad_blocks or self.lost_includes:
                raise _Poison()                  # the block failed (or may be in a missing include): said already
            guess = None if key in ops.NOT_OPS else closest(key, list(_user_ops()) + list(self.blocks) + list(STRUCTURES))
            self.error("unknown-op", f"unknown op or block '{key}'", kloc, ctx.scope,
                       ops.NOT_OPS.get(key) or hint_for(guess) or "see `archspec ops` for the list of ops", ctx.notes,
                       subject=key, suggestion=guess)
            return None
        return key, value, vpath, kloc, op

    def _repeat_count(self, raw, ctx: Ctx, path: tuple) -> int | None:
        """`repeat:`'s count; None (said) when it is no whole number ≥ 0; past max_repeat the spec stops."""
        count = self.value(raw, ctx, ctx.src, path)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            self.error("schema", f"'repeat' should be a whole number ≥ 0; got {describe(count)}",
                       ctx.src.loc(path), ctx.scope)
            return None
        if count > self.limits.max_repeat:
            self.error("limit", f"repeat {count:,} exceeds the limit of {self.limits.max_repeat:,}",
                       ctx.src.loc(path), ctx.scope, "raise it with --limit max_repeat=N")
            raise _Abort()
        return count

    def _repeated(self, key, op, attrs, ctx: Ctx, inputs, name, count: int, indexed: bool, vpath: tuple, kloc):
        """The entry's layer, block call or structure `count` times in a row (`i` the index when `indexed`),
        named `base_1`, `base_2`, …; the last output, or None (said) when one fails. After two repetitions,
        what they made says whether all of them would pass max_layers."""
        base = name or key
        out = None
        sizes = [self.graph_size()]
        for rep in range(count):
            if rep == 2:                    # the smaller of the first two repetitions, times those to come
                sizes.append(self.graph_size())
                each = min(sizes[1] - sizes[0], sizes[2] - sizes[1])
                if sizes[2] + each * (count - 2) > self.limits.max_layers:
                    self.error("limit", f"repeat {count:,} would make about {sizes[2] + each * (count - 2):,} "
                               f"layers ({each:,} each), more than the limit of {self.limits.max_layers:,}",
                               ctx.src.loc(vpath + ("repeat",)), ctx.scope, "raise it with --limit max_layers=N")
                    raise _Abort()
            elif rep == 1:
                sizes.append(self.graph_size())
            rctx = ctx.derive(env={**ctx.env, "i": rep}) if indexed else ctx
            label = f"{base}_{rep + 1}" if count > 1 else base
            local = self.unique(ctx.scope, label, explicit=name is not None and count == 1, loc=kloc)
            if local is None:
                return None
            try:
                if op is not None:
                    out = self.op_entry(op, attrs, rctx, inputs, local, vpath, kloc)
                elif key in self.blocks:
                    out = self.block_call(self.blocks[key], attrs, rctx, inputs, local, vpath, kloc)
                else:
                    out = getattr(self, "s_" + key)(attrs, rctx, inputs, local, vpath, kloc)
            except _Poison:
                out = None
            if out is None:
                ctx.names[-1][local] = None
                if name is not None:
                    ctx.names[-1][name] = None
                return None
            ctx.names[-1][local] = out
            inputs = [out, *inputs[1:]]          # the output chains; side inputs (a mask) go to every repetition
        if name is not None and count != 1:
            ctx.names[-1][name] = out
        return out

    def _when(self, raw, ctx: Ctx, src, path: tuple) -> bool:
        """`when:` takes true, false or a `$` expression that gives one; anything else (`when: "false"`,
        `when: not x` without its `$`, `when: 1`) would be silently true or false, so it is an error."""
        value = self.value(raw, ctx, src, path)
        if isinstance(value, bool):
            return value
        if isinstance(raw, str) and not raw.startswith("$"):
            hint, fixed = dollar_hint(raw)
            if fixed is None and raw.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
                fixed = "true" if raw.strip().lower() in ("true", "yes", "on") else "false"
                hint = f"write the boolean without quotes: `when: {fixed}`"
            self.error("schema", f"'when' should be true, false or a `$` expression; got the text {describe(raw)}",
                       src.loc(path), ctx.scope, hint or "write true, false or an expression that starts with '$', e.g. `when: $depth > 2`",
                       ctx.notes, subject=raw if fixed else None, suggestion=fixed)
        else:
            what = f"the expression {describe(raw)} gives {describe(value)}" if isinstance(raw, str) else \
                f"got {describe(value)}"
            self.error("schema", f"'when' should be true or false; {what}", src.loc(path), ctx.scope,
                       "compare to get a boolean, e.g. `when: $depth > 0`", ctx.notes)
        raise _Poison()

    def graph_size(self) -> int:
        """Layers and scopes so far, as the max_layers limit counts them."""
        return len(self.graph.nodes) + len(self.graph.scopes) + self.hidden

    def unique(self, scope: str, name: str, explicit: bool, loc) -> str | None:
        used = self.used.get(scope)
        if used is None:
            used = self.used[scope] = set()
        if name in used:
            if explicit:
                first = self.graph.nodes.get(_join(scope, name)) or self.graph.scopes.get(_join(scope, name))
                self.error("duplicate-name", f"the name '{name}' is used twice in {scope or 'the model'}", loc, scope,
                           "give each layer its own name",
                           [Note("first used here", first.loc)] if first and first.loc else [])
                return None
            k = self.counters.get((scope, name), 2)
            while f"{name}_{k}" in used:
                k += 1
            self.counters[(scope, name)] = k + 1
            name = f"{name}_{k}"
        used.add(name)
        if self.graph_size() > self.limits.max_layers:
            self.error("limit", f"the graph has more than {self.limits.max_layers:,} layers", loc, scope,
                       "raise it with --limit max_layers=N")
            raise _Abort()
        return name

    def refs(self, raw, ctx: Ctx, src, path) -> list | None:
        raw = self.value(raw, ctx, src, path)
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for k, ref in enumerate(items):
            rpath = path + (k,) if isinstance(raw, list) else path
            if not isinstance(ref, str) or not ref:
                self.error("schema", f"'from' names layers; got {describe(ref)}", src.loc(rpath), ctx.scope)
                return None
            node = self.resolve(ref, ctx)
            if node is _FAILED:
                return None                      # refers to a layer that already failed: no new message
            if node is None:
                if self.degraded and not self.graph.inputs:
                    return None                  # the inputs are missing (already reported)
                code, message, hint = self._unresolved(ref, ctx)
                guess = None if hint else self._ref_guess(ref, ctx)
                self.error(code, message, src.loc(rpath), ctx.scope, hint or self._ref_hint(ref, ctx, guess),
                           ctx.notes, subject=ref, suggestion=guess)
                return None
            out.append(node)
        if not out:
            self.error("schema", "'from' is empty", src.loc(path), ctx.scope)
            return None
        return out

    def resolve(self, ref: str, ctx: Ctx) -> str | None:
        for table in reversed(ctx.names):
            if ref in table:
                return table[ref] if table[ref] is not None else _FAILED
        g = self.graph
        for cand in (_join(ctx.scope, ref), ref):
            if cand in g.nodes:
                return cand
            if cand in g.scopes and g.scopes[cand].output:
                return g.scopes[cand].output
            if self.summarize:
                raise Unsummarized()             # it may name a layer inside a summary node: expand in full
        return None

    def _unresolved(self, ref, ctx) -> tuple[str, str, str | None]:
        """Why `ref` names no layer yet: a cycle (with its path), a forward reference, or no such layer."""
        for level in reversed(ctx.later):
            if ref not in level.index:
                continue
            cycle = level.cycle_through(level.index[ref])
            if cycle:
                path = " → ".join(level.label(k) for k in cycle)
                return ("cycle", f"'from: {ref}' closes a cycle: {path}",
                        "a layer cannot take its own output, directly or through others; break the loop")
            return ("forward-ref", f"'{ref}' is defined later in this body; a layer can only take "
                                   f"layers defined before it", f"move the entry '{ref}' above this one")
        if ref == "prev":                        # a name of expressions (`$prev.channels`), not a layer
            return ("unknown-ref", "'from: prev' names no layer: `prev` is the previous entry's shape in "
                    "expressions ($prev.channels)", "leave `from:` out to take the previous entry, or name "
                    "that layer (`name: x`) and write `from: x`")
        return ("unknown-ref", f"'from' refers to '{ref}', which is not defined here", None)

    def _ref_guess(self, ref, ctx) -> str | None:
        known = [n for table in ctx.names for n in table]    # definition order: the nearest last
        return closest(ref, known)

    def _ref_hint(self, ref, ctx, guess=None):
        if guess:
            return hint_for(guess)
        known = {n for table in ctx.names for n in table}
        return f"known here: {', '.join(sorted(known)[:12])}" if known else None

    # ---- ops ---------------------------------------------------------------------------------
    def op_entry(self, op, attrs: dict, ctx: Ctx, inputs, local, vpath, kloc) -> str | None:
        src = ctx.src
        scope = ctx.scope
        node_id = f"{scope}{SEP}{local}" if scope else local
        values = {}
        defaults = ctx.defaults.get(op.name)
        if defaults:
            for attr, (raw, dsrc, dpath) in defaults.items():
                values[attr] = self.value(raw, ctx, dsrc, dpath, node_id)
        for attr, raw in attrs.items():
            c = raw.__class__
            if c is str and raw[:1] == "$" or c is list or c is dict:    # plain values are what they say
                raw = self.value(raw, ctx, src, vpath + (attr,), node_id)
            values[attr] = raw
        try:
            a = self.validated(op, values)
        except Invalid as exc:
            self._attr_errors(exc, op, values, _origin(defaults, attrs, src, vpath), src, vpath, kloc, node_id, ctx)
            return None
        if None in inputs:
            return None                          # an earlier mistake: attributes checked, nothing built
        lo, hi = op.arity
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            need = f"exactly {lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            self.error("arity", f"{op.name} takes {need} input{'s' if (hi or 2) > 1 else ''}; it receives {len(inputs)}",
                       kloc, node_id, "list its inputs: `from: [a, b]`" if lo > 1 else
                       "a single input: the previous layer, or one name in `from:`", ctx.notes)
            return None
        g = self.graph
        nodes = g.nodes
        node = g.add(Node(node_id, op.name, a, tuple(inputs), kloc, scope, None, ctx.notes))
        shapes = [nodes[i].shape for i in inputs]
        if None in shapes:
            return None
        masking = _MASKING or _masking()
        for i in inputs:
            if nodes[i].op in masking:
                if not self._masks_read_as_masks(op, a, inputs, kloc, node_id, ctx):
                    return None
                break
        try:
            node.shape, node.cost = self.inferred(op, a, shapes)
            if op.reads_producers:
                op.check_producers(a, [(nodes[i].op, nodes[i].attrs) for i in inputs])
        except ShapeError as exc:
            loc = kloc
            origin = _origin(defaults, attrs, src, vpath)
            if exc.field and exc.field in origin:
                osrc, opath = origin[exc.field]
                loc = osrc.loc(opath)
            loc, notes = focus(loc, tuple(ctx.notes), self.src.file)
            if len(inputs) > 1:
                notes = tuple(Note(f"input {i} {nodes[n].shape} comes from {n}", nodes[n].loc)
                              for i, n in enumerate(inputs)) + notes
            self.error(exc.code, exc.message, loc, node_id, exc.hint, notes)
            return None
        return node_id

    def _masks_read_as_masks(self, op, a, inputs, kloc, node_id, ctx) -> bool:
        """A mask (a boolean input, padding_mask's output: Op.makes_mask) goes only where the op reads one
        (Op.mask_inputs); else an input-dtype error."""
        nodes = self.graph.nodes
        bools = [k for k, i in enumerate(inputs) if ops.get(nodes[i].op).makes_mask(nodes[i].attrs)]
        if not bools:
            return True
        takes = op.mask_inputs(a, len(inputs))
        bad = next((k for k in bools if k not in takes), None)
        if bad is None:
            return True
        source = nodes[inputs[bad]]
        name = source.short
        roles = op.input_roles(a, len(inputs)) or ()
        role = f" ({roles[bad]})" if bad < len(roles) else ""
        where = f"input {bad}{role} of {op.name}" if len(inputs) > 1 else op.name
        is_input = not source.inputs
        what = "a boolean input (a mask)" if is_input else f"a mask ({source.op}'s output)"
        hint = ("a mask can only go where an op reads one (the last input of an attention with `padding_mask: true`)"
                + (f"; declare '{name}' `dtype: int32` or float32 to compute with its values" if is_input else ""))
        self.error("input-dtype", f"'{name}' is {what}; {where} reads it as numbers, not as a mask", kloc, node_id,
                   hint, (Note(f"'{name}' is {'declared' if is_input else 'made'} here", source.loc),) + tuple(ctx.notes))
        return False

    def _attr_errors(self, exc, op, values, origin, src, vpath, kloc, node_id, ctx):
        """Diagnostics for attributes the op refuses; `origin`: attribute → (source, path) of its value."""
        fields = op.Attrs.model_fields
        diags = pydantic_diagnostics(exc, values, src, vpath, fields=fields, what=op.name, scope=node_id,
                                     notes=ctx.notes)
        suggested = {d.suggestion for d in diags if d.code == "unknown-field" and d.suggestion}
        for d in diags:
            if d.code == "missing-field" and d.subject in suggested:
                continue                         # reported as the misspelled field
            attr = d.path[len(vpath)] if len(d.path) > len(vpath) and d.path[:len(vpath)] == vpath else None
            if attr in origin and origin[attr][0] is not src or (attr in origin and origin[attr][1][:len(vpath)] != vpath):
                osrc, opath = origin[attr]
                d = d._replace(loc=osrc.loc(opath), notes=d.notes + (Note("used by this layer", kloc),))
            elif d.code == "missing-field":
                d = d._replace(loc=kloc, hint=f"{op.name} needs: " + ", ".join(
                    k for k, f in fields.items() if f.is_required()))
            loc, notes = focus(d.loc, d.notes, self.src.file)   # a bad value passed into a block: the call site
            self.diags.append(d._replace(loc=loc, notes=notes))

    # ---- blocks ------------------------------------------------------------------------------
    def _outputs(self, doc: Document, data: dict, ctx: Ctx, last):
        g = self.graph
        spec = data.get("outputs")
        if spec is None:
            if last is not None:
                n = g[last]
                g.outputs[ops.REGISTRY[n.op].output_name(n.attrs, n.short)] = last
            return
        items = [(spec, ("outputs",))] if isinstance(spec, str) else \
            [(v, ("outputs", k)) for k, v in enumerate(spec)] if isinstance(spec, list) else \
            [(v, ("outputs", k)) for k, v in spec.items()]
        for k, (ref, path) in enumerate(items):
            node = self.resolve(ref, ctx) if isinstance(ref, str) else None
            if node is None:
                if not any(d.severity == "error" for d in self.diags):
                    # the model's layers (and structures) as `outputs:` names them, then the inputs
                    known = list(dict.fromkeys([n.short for n in g.nodes.values() if not n.scope] +
                                               [s.path for s in g.scopes.values() if not s.parent] +
                                               [n for table in ctx.names for n in table]))
                    guess = closest(str(ref), known)
                    hint = hint_for(guess) or (f"known here: {', '.join(known[-12:])}" if known else None)
                    self.error("unknown-ref", f"the output '{ref}' names no layer", self.src.loc(path), None,
                               hint, subject=str(ref), suggestion=guess)
                continue
            name = path[-1] if isinstance(spec, dict) else ref
            if str(name) in g.outputs:
                self.error("duplicate-name", f"the output '{name}' is listed twice", self.src.loc(path))
                continue
            g.outputs[str(name)] = node

    def _reachability(self):
        g = self.graph
        if self.diags:
            return
        if not g.outputs:
            self.error("missing-field", "the model has no outputs", self.src.loc(("outputs",), key=True),
                       hint="list them under `outputs:`, or leave `outputs:` out to use the last layer")
            return
        live = set()
        todo = list(g.outputs.values())
        nodes = g.nodes
        while todo:
            n = todo.pop()
            if n not in live:
                live.add(n)
                todo.extend(nodes[n].inputs)
        if len(live) == len(nodes):
            return                               # every layer (and input) feeds an output
        for name in g.inputs:
            if name not in live:
                self.error("unused-input", f"the input '{name}' is not used by any output", g[name].loc,
                           hint=f"wire it with `from: {name}`, or remove it")
        for n in g:
            if n.id not in live and not ops.REGISTRY[n.op].source and all(i in live for i in n.inputs):
                self.error("dead-layer", f"'{n.id}' does not contribute to any output", n.loc, n.id,
                           "list it under `outputs:`, wire it into the model, or remove it", n.trace)


class Unsummarized(Exception):
    """Pricing met something that summary nodes may hide (a path into a block call): expand in full."""


class Prepared(NamedTuple):
    """What expansion reuses across parameter values (see archspec.pricing)."""

    doc: Document
    blocks: dict
    sources: dict
    defaults: dict
    diags: tuple
    block_names: tuple          # names that block bodies and defaults read (their values key the memo)
    degraded: bool              # the document had errors (expansion goes on to report the model's)
    bad_blocks: frozenset
    lost_includes: bool


def expand(src: Source, overrides: dict | None = None, limits: Limits = DEFAULT_LIMITS,
           root: Path | None = None, prepared: Prepared | None = None,
           memo: MemoStore | None = None, summarize: bool = False) -> tuple[Graph, dict[str, Source]]:
    """Expand a parsed spec into a shape-annotated graph; raises SpecError with all diagnostics.
    `prepared` (from a previous Expander's prepare()) and `memo` are reused across calls by the Pricer;
    `summarize` lets recorded block calls stand as one summary node each (ops/summary.py) (a pricing graph: totals,
    outputs and peak memory are exact, layers and scopes inside those calls are absent)."""
    ex = Expander(src, limits, overrides or {}, root, prepared, memo, summarize)
    graph = ex.run()
    graph.space = ex.space
    graph.params = dict(ex.globals)           # the top-level parameter values (the training section reads them)
    return graph, ex.sources


def _origin(defaults: dict | None, attrs: dict, src: Source, vpath: tuple) -> dict:
    """Where each attribute value of a layer comes from, (source, path): its entry, else the defaults
    in effect. Built only for messages."""
    out = {attr: (dsrc, dpath) for attr, (_, dsrc, dpath) in (defaults or {}).items()}
    out.update({attr: (src, vpath + (attr,)) for attr in attrs})
    return out
