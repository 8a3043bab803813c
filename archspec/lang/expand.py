"""Expansion: the document's entries, blocks, branches, residuals and repeats → a graph of layers.

Shapes are inferred while expanding, node by node, because a block body may read its input's
shape (`$in.channels`). Every node keeps the file/line/column of the entry that made it and its
scope path; every mistake becomes a located Diagnostic, and a node that failed poisons its
dependents silently (one mistake, one message).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from .. import ops
from ..errors import Diagnostic, Loc, Note, SpecError, did_you_mean, focus
from ..graph import SEP, Graph, Node, Scope
from ..ops.base import ShapeError
from .expr import ExprError, ShapeView, Unknown, UnknownShape, evaluate, is_expr
from .schema import BlockDef, Document, Library, describe, pydantic_diagnostics
from .source import DEFAULT_LIMITS, Limits, Source, parse, read_text

STRUCTURES = ("sequence", "branches", "residual")
RESERVED = ("name", "from", "repeat", "when")
MERGES = ("concat", "add", "multiply", "average", "maximum", "minimum")
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


class Expander:
    def __init__(self, doc_src: Source, limits: Limits, overrides: dict, root: Path | None):
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

    # ---- diagnostics -------------------------------------------------------------------------
    def error(self, code, message, loc, scope=None, hint=None, notes=()):
        # a mistake inside a block from another file is shown at its call site in the spec being checked
        notes = tuple(notes) + tuple(n for n in self._trace if n not in notes)
        loc, notes = focus(loc, notes, self.src.file)
        self.diags.append(Diagnostic(code, message, loc, scope or None, hint, notes))

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
                    v = evaluate(raw[1:], ctx.env)
                except Unknown:
                    raise _Poison() from None
                except ExprError as exc:
                    self.error(exc.kind, exc.message, self._expr_loc(src, path, exc.offset), scope or ctx.scope,
                               exc.hint, ctx.notes)
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
    def run(self) -> Graph:
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
        except ValidationError as exc:
            self.diags += [d for d in pydantic_diagnostics(exc, data, self.src, fields=Document.model_fields)
                           if not (d.code == "missing-field" and "'archspec'" in d.message)]
            raise SpecError(self.diags) from None
        from ..codes import WARNINGS

        for k, code in enumerate(doc.ignore_warnings):
            if code not in WARNINGS:
                self.error("schema", f"'{code}' is not a warning code", self.src.loc(("ignore_warnings", k)),
                           hint=did_you_mean(code, WARNINGS) or "warning codes: " + ", ".join(WARNINGS))
        self.graph = Graph(doc.name)
        self._load_blocks(self.src, data, (), stack=())
        params = self.globals = self._globals(doc, data)
        defaults = self._defaults({}, data.get("defaults") or {}, self.src, ("defaults",))
        if self.diags:
            raise SpecError(self.diags)
        g = self.graph
        table: dict[str, str] = {}
        self.used[""] = set()
        for name, spec in doc.inputs.items():
            shape = tuple(spec.shape if hasattr(spec, "shape") else spec)
            dtype = spec.dtype if hasattr(spec, "dtype") else "float32"
            attrs = ops.get("input").Attrs(shape=shape, dtype=dtype)
            g.add(Node(name, "input", attrs, (), self.src.loc(("inputs", name), key=True), "", shape))
            g.inputs.append(name)
            table[name] = name
            self.used[""].add(name)
        first = g.inputs[0]
        env = dict(params)
        env.update({"in": ShapeView(g[first].shape), "prev": ShapeView(g[first].shape)})
        ctx = Ctx(self.src, "", env, defaults, [table], [], body_input=first)
        try:
            last = self.body(data["model"], ctx, first, ("model",))
        except _Abort:
            raise SpecError(self.diags) from None
        self._outputs(doc, data, ctx, last)
        self._reachability()
        if self.diags:
            raise SpecError(self.diags)
        return g

    # ---- blocks, params, defaults ------------------------------------------------------------
    def _load_blocks(self, src: Source, data: dict, base: tuple, stack: tuple):
        for i, inc in enumerate(data.get("include") or []):
            self._include(src, inc, ("include", i), stack)
        for name, raw in (data.get("blocks") or {}).items():
            path = ("blocks", name)
            if name in ops.REGISTRY or name in STRUCTURES:
                self.error("duplicate-name", f"the block '{name}' has the name of a built-in "
                           f"{'op' if name in ops.REGISTRY else 'structure'}", src.loc(path, key=True),
                           hint="rename the block")
                continue
            if name in self.blocks:
                other = self.blocks[name]
                self.error("duplicate-name", f"the block '{name}' is defined twice", src.loc(path, key=True),
                           notes=[Note("first defined here", other.src.loc(other.path, key=True))])
                continue
            try:
                spec = BlockDef.model_validate(raw)
            except ValidationError as exc:
                self.diags += pydantic_diagnostics(exc, raw, src, path, fields=BlockDef.model_fields,
                                                   what=f"block '{name}'")
                continue
            params = {}
            for pname, decl in spec.params.items():
                parsed = self._param_decl(pname, decl, src, path + ("params", pname))
                if parsed:
                    params[pname] = parsed
            if spec.defaults:
                self._defaults({}, raw.get("defaults"), src, path + ("defaults",))
            self.blocks[name] = Block(name, spec, src, path, params)

    def _include(self, src: Source, inc, path: tuple, stack: tuple):
        loc = src.loc(path)
        if not isinstance(inc, str):
            self.error("include", f"an include is a file path; got {describe(inc)}", loc)
            return
        base = src.path.parent if src.path else Path.cwd()
        target = (base / inc).resolve()
        root = (self.root or (self.src.path.parent if self.src.path else Path.cwd())).resolve()
        if Path(inc).is_absolute() or not target.is_relative_to(root):
            self.error("include", f"the include '{inc}' points outside the project folder {root}", loc,
                       hint="keep block libraries inside the project (or pass --root)")
            return
        chain = stack + ((src.path.resolve() if src.path else None),)
        if target in self.included and target not in chain:
            return                               # already included through another file (a diamond)
        if target in chain:
            self.error("include", f"including '{inc}' forms a cycle", loc,
                       notes=[Note(f"included from {p}") for p in chain if p])
            return
        display = str(Path(self.src.file).parent / Path(inc)) if src is self.src else str(
            Path(src.file).parent / Path(inc))
        try:
            lib = parse(read_text(target, display, self.limits), display, target, self.limits)
        except SpecError as exc:
            for d in exc.diagnostics:
                if d.code == "file-not-found":
                    self.error("include", f"the included file '{inc}' does not exist", loc,
                               hint=f"looked for {target}")
                else:
                    self.diags.append(d)
            return
        self.sources[lib.file] = lib
        self.included.add(target)
        if not isinstance(lib.data, dict):
            self.error("include", f"the included file '{inc}' is not a mapping", lib.loc(()))
            return
        try:
            Library.model_validate(lib.data)
        except ValidationError as exc:
            self.diags += pydantic_diagnostics(exc, lib.data, lib, fields=Library.model_fields)
            return
        self._load_blocks(lib, lib.data, (), chain)

    def _param_decl(self, name, decl, src, path):
        """`filters: int` (required), `kernel: 3` (default), `act: {type: str?, default: relu}`."""
        if isinstance(decl, dict):
            unknown = set(decl) - {"type", "default", "doc"}
            if unknown:
                self.error("unknown-field", f"unknown field '{sorted(unknown)[0]}' in the declaration of '{name}'",
                           src.loc(path + (sorted(unknown)[0],), key=True), hint="a parameter has type, default, doc")
                return None
            ptype = decl.get("type", "any")
            if not isinstance(ptype, str) or ptype.rstrip("?") not in PARAM_TYPES:
                self.error("param-type", f"unknown parameter type {describe(ptype)}", src.loc(path + ("type",)),
                           hint=did_you_mean(str(ptype), PARAM_TYPES) or "types: " + ", ".join(sorted(PARAM_TYPES)))
                return None
            return (ptype, decl.get("default"), "default" not in decl)
        if isinstance(decl, str) and decl.rstrip("?") in PARAM_TYPES:
            return (decl, None, not decl.endswith("?"))
        return (_type_of(decl), decl, False)

    def _globals(self, doc: Document, data: dict) -> dict:
        env = {}
        for name, decl in doc.params.items():
            path = ("params", name)
            parsed = self._param_decl(name, decl, self.src, path)
            if not parsed:
                continue
            ptype, default, required = parsed
            if name in self.overrides:
                value = self.overrides[name]
                problem = _type_problem(ptype, value)
                if problem:
                    self.error("param-type", f"--set {name}={value}: {problem}", self.src.loc(path),
                               hint=f"the spec declares '{name}' here")
                    continue
            elif required:
                self.error("missing-param", f"the parameter '{name}' has no default; pass --set {name}=VALUE",
                           self.src.loc(path, key=True))
                continue
            else:
                value = default
            env[name] = value
        unknown = set(self.overrides) - set(doc.params)
        for name in sorted(unknown):
            self.error("unknown-param", f"--set {name}: the spec declares no parameter '{name}'",
                       self.src.loc(("params",), key=True) if doc.params else self.src.loc(()),
                       hint=did_you_mean(name, doc.params) or
                       ("declared: " + ", ".join(doc.params) if doc.params else "the spec has no `params:` section"))
        return env

    def _defaults(self, outer: dict, raw, src: Source, path: tuple) -> dict:
        """Merge a `defaults:` mapping into the inherited ones (inner wins)."""
        merged = {k: dict(v) for k, v in outer.items()}
        if not raw:
            return merged
        if not isinstance(raw, dict):
            self.error("schema", "'defaults' maps op names to attributes", src.loc(path))
            return merged
        for opname, attrs in raw.items():
            op = ops.get(opname)
            if op is None or getattr(op, "internal", False):
                self.error("unknown-op", f"defaults for unknown op '{opname}'", src.loc(path + (opname,), key=True),
                           hint=did_you_mean(opname, _user_ops()))
                continue
            if not isinstance(attrs, dict):
                self.error("schema", f"defaults for '{opname}' must be a mapping of attributes",
                           src.loc(path + (opname,)))
                continue
            for attr, v in attrs.items():
                if attr not in op.Attrs.model_fields:
                    self.error("unknown-field", f"{opname} has no attribute '{attr}'",
                               src.loc(path + (opname, attr), key=True),
                               hint=did_you_mean(attr, op.Attrs.model_fields) or
                               "attributes: " + ", ".join(op.Attrs.model_fields))
                    continue
                merged.setdefault(opname, {})[attr] = (v, src, path + (opname, attr))
        return merged

    # ---- bodies and entries ------------------------------------------------------------------
    def body(self, entries, ctx: Ctx, cur: str | None, path: tuple) -> str | None:
        src = ctx.src
        if not isinstance(entries, list):
            self.error("bad-entry", f"a body is a list of entries; got {describe(entries)}", src.loc(path), ctx.scope)
            return None
        later = {}
        for i, e in enumerate(entries):
            if isinstance(e, dict) and len(e) == 1:
                v = next(iter(e.values()))
                if isinstance(v, dict) and isinstance(v.get("name"), str) and not is_expr(v["name"]):
                    refs = v.get("from")
                    refs = [refs] if isinstance(refs, str) else [r for r in (refs or []) if isinstance(r, str)] \
                        if isinstance(refs, list) else []
                    later[v["name"]] = (i, refs)
        table: dict[str, str] = {}
        if cur is not None:
            table["in"] = ctx.body_input or cur
        inner = replace(ctx, names=ctx.names + [table], later=ctx.later + [later])
        for i, entry in enumerate(entries):
            inner.env["prev"] = _view(self.graph, cur)
            try:
                cur = self.entry(entry, inner, cur, path + (i,), i)
            except _Poison:
                cur = None
        return cur

    def entry(self, entry, ctx: Ctx, cur, path: tuple, index: int):
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
            return cur
        else:
            self.error("bad-entry", f"an entry is `- op: {{attributes}}`; got {describe(entry)}", src.loc(path),
                       ctx.scope, "write e.g. `- conv2d: {filters: 32, kernel: 3}`", ctx.notes)
            return cur
        kloc = src.loc(vpath, key=True) if isinstance(entry, dict) else src.loc(path)
        if not isinstance(key, str):
            self.error("bad-entry", f"an op name must be text; got {describe(key)}", kloc, ctx.scope)
            return cur
        op = ops.get(key)
        if op is not None and getattr(op, "internal", False):
            op = None
        if op is None and key not in self.blocks and key not in STRUCTURES:
            self.error("unknown-op", f"unknown op or block '{key}'", kloc, ctx.scope,
                       did_you_mean(key, list(_user_ops()) + list(self.blocks) + list(STRUCTURES)) or
                       "see `archspec ops` for the list of ops", ctx.notes)
            return cur

        # scalar shorthand and reserved keys
        reserved = {}
        if isinstance(value, dict):
            reserved = {k: value[k] for k in RESERVED if k in value}
            attrs = {k: v for k, v in value.items() if k not in RESERVED}
        elif value is None:
            attrs = {}
        elif key == "sequence" and isinstance(value, list):
            attrs = {"body": value}
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
            if not self.value(reserved["when"], ctx, src, vpath + ("when",)):
                return cur
        count = 1
        if "repeat" in reserved:
            count = self.value(reserved["repeat"], ctx, src, vpath + ("repeat",))
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                self.error("schema", f"'repeat' should be a whole number ≥ 0; got {describe(count)}",
                           src.loc(vpath + ("repeat",)), ctx.scope)
                return None
            if count > self.limits.max_repeat:
                self.error("limit", f"repeat {count:,} exceeds the limit of {self.limits.max_repeat:,}",
                           src.loc(vpath + ("repeat",)), ctx.scope, "raise it with --limit max_repeat=N")
                raise _Abort()
        inputs = [cur]
        if "from" in reserved:
            inputs = self.refs(reserved["from"], ctx, src, vpath + ("from",), reserved.get("name"))
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
        base = name or (key if op or key in STRUCTURES else key)
        out = None
        for rep in range(count):
            rctx = ctx
            if "repeat" in reserved:
                rctx = replace(ctx, env={**ctx.env, "i": rep})
            label = f"{base}_{rep + 1}" if count > 1 else base
            local = self.unique(ctx.scope, label, explicit=name is not None and count == 1,
                                loc=kloc)
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
            inputs = [out]
        if name is not None and count != 1:
            ctx.names[-1][name] = out
        return out if count else cur

    def unique(self, scope: str, name: str, explicit: bool, loc) -> str | None:
        used = self.used.setdefault(scope, set())
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
        if len(self.graph.nodes) + len(self.graph.scopes) > self.limits.max_layers:
            self.error("limit", f"the graph has more than {self.limits.max_layers:,} layers", loc, scope,
                       "raise it with --limit max_layers=N")
            raise _Abort()
        return name

    def refs(self, raw, ctx: Ctx, src, path, own_name) -> list | None:
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
                self.error(*self._unresolved(ref, ctx, own_name), src.loc(rpath), ctx.scope,
                           self._ref_hint(ref, ctx), ctx.notes)
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
        return None

    def _unresolved(self, ref, ctx, own_name):
        for later in reversed(ctx.later):
            if ref in later:
                # a cycle if the later entry (transitively) refers back to this one
                seen, todo = set(), [ref]
                while todo:
                    n = todo.pop()
                    if n in seen:
                        continue
                    seen.add(n)
                    todo += [r for r in later.get(n, (0, []))[1]]
                if own_name and own_name in seen:
                    return ("cycle", f"'from: {ref}' forms a cycle: {own_name} → {ref} → … → {own_name}")
                return ("forward-ref", f"'{ref}' is defined later in this body; a layer can only take "
                                       f"layers defined before it")
        return ("unknown-ref", f"'from' refers to '{ref}', which is not defined here")

    def _ref_hint(self, ref, ctx):
        known = set()
        for table in ctx.names:
            known.update(table)
        return did_you_mean(ref, known) or (f"known here: {', '.join(sorted(known)[:12])}" if known else None)

    # ---- ops ---------------------------------------------------------------------------------
    def op_entry(self, op, attrs: dict, ctx: Ctx, inputs, local, vpath, kloc) -> str | None:
        src = ctx.src
        node_id = _join(ctx.scope, local)
        values, origin = {}, {}
        for attr, (raw, dsrc, dpath) in ctx.defaults.get(op.name, {}).items():
            values[attr] = self.value(raw, ctx, dsrc, dpath, node_id)
            origin[attr] = (dsrc, dpath)
        for attr, raw in attrs.items():
            values[attr] = self.value(raw, ctx, src, vpath + (attr,), node_id)
            origin[attr] = (src, vpath + (attr,))
        try:
            a = op.Attrs.model_validate(values)
        except ValidationError as exc:
            self._attr_errors(exc, op, values, origin, src, vpath, kloc, node_id, ctx)
            return None
        if any(i is None for i in inputs):
            return None                          # an earlier mistake: attributes checked, nothing built
        lo, hi = op.arity
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            need = f"exactly {lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            self.error("arity", f"{op.name} takes {need} input{'s' if (hi or 2) > 1 else ''}; it receives {len(inputs)}",
                       kloc, node_id, "list its inputs: `from: [a, b]`" if lo > 1 else
                       "a single input: the previous layer, or one name in `from:`", ctx.notes)
            return None
        g = self.graph
        node = g.add(Node(node_id, op.name, a, tuple(inputs), kloc, ctx.scope, trace=ctx.notes))
        shapes = [g[i].shape for i in inputs]
        if any(s is None for s in shapes):
            return None
        try:
            node.shape = tuple(op.infer(a, shapes))
        except ShapeError as exc:
            loc = kloc
            if exc.field and exc.field in origin:
                osrc, opath = origin[exc.field]
                loc = osrc.loc(opath)
            loc, notes = focus(loc, tuple(ctx.notes), self.src.file)
            if len(inputs) > 1:
                notes = tuple(Note(f"input {i} {g[n].shape} comes from {n}", g[n].loc) for i, n in enumerate(inputs)) + notes
            self.error(exc.code, exc.message, loc, node_id, exc.hint, notes)
            return None
        return node_id

    def _attr_errors(self, exc, op, values, origin, src, vpath, kloc, node_id, ctx):
        fields = op.Attrs.model_fields
        diags = pydantic_diagnostics(exc, values, src, vpath, fields=fields, what=op.name, scope=node_id,
                                     notes=ctx.notes)
        suggested = {d.hint.split("'")[1] for d in diags if d.code == "unknown-field" and d.hint and "'" in d.hint}
        for d in diags:
            if d.code == "missing-field" and d.message.split("'")[1] in suggested:
                continue                         # reported as the misspelled field
            attr = d.message.split("'")[1] if "'" in d.message else None
            if attr in origin and origin[attr][0] is not src or (attr in origin and origin[attr][1][:len(vpath)] != vpath):
                osrc, opath = origin[attr]
                d = replace(d, loc=osrc.loc(opath), notes=d.notes + (Note("used by this layer", kloc),))
            elif d.code == "missing-field":
                d = replace(d, loc=kloc, hint=f"{op.name} needs: " + ", ".join(
                    k for k, f in fields.items() if f.is_required()))
            loc, notes = focus(d.loc, d.notes, self.src.file)   # a bad value passed into a block: the call site
            self.diags.append(replace(d, loc=loc, notes=notes))

    # ---- blocks ------------------------------------------------------------------------------
    def block_call(self, block: Block, args: dict, ctx: Ctx, inputs, local, vpath, kloc) -> str | None:
        src = ctx.src
        scope_path = _join(ctx.scope, local)
        if block.name in ctx.blocks_stack:
            chain = " → ".join(ctx.blocks_stack + (block.name,))
            self.error("recursion", f"the block '{block.name}' calls itself: {chain}", kloc, scope_path, None, ctx.notes)
            return None
        if len(ctx.blocks_stack) >= self.limits.max_block_depth:
            self.error("limit", f"blocks nest deeper than {self.limits.max_block_depth}", kloc, scope_path)
            return None
        g = self.graph
        env = ctx.env                           # arguments read the caller's names: `in`, `prev`, `i`
        ok = True
        bound, suggested = {}, set()
        for pname, raw in args.items():
            if pname not in block.params:
                guess = did_you_mean(pname, block.params)
                if guess:
                    suggested.add(guess.split("'")[1])
                self.error("unknown-param", f"the block '{block.name}' has no parameter '{pname}'",
                           src.loc(vpath + (pname,), key=True), scope_path,
                           did_you_mean(pname, block.params) or
                           ("parameters: " + ", ".join(block.params) if block.params else f"'{block.name}' takes no parameters"),
                           [Note(f"'{block.name}' is defined here", block.src.loc(block.path, key=True))])
                ok = False
                continue
            try:
                v = self.value(raw, replace(ctx, env=env), src, vpath + (pname,), scope_path)
            except _Poison:
                ok = False
                continue
            problem = _type_problem(block.params[pname][0], v)
            if problem:
                self.error("param-type", f"parameter '{pname}' of '{block.name}': {problem}",
                           src.loc(vpath + (pname,)), scope_path, None,
                           [Note("declared here", block.src.loc(block.path + ("params", pname), key=True))])
                ok = False
                continue
            bound[pname] = v
        for pname, (ptype, default, required) in block.params.items():
            if pname not in bound and pname not in args:
                if required and pname not in suggested:
                    self.error("missing-param", f"the block '{block.name}' needs the parameter '{pname}' ({ptype})",
                               kloc, scope_path, f"write `- {block.name}: {{{pname}: ...}}`",
                               [Note("declared here", block.src.loc(block.path + ("params", pname), key=True))])
                    ok = False
                elif not required:
                    bound[pname] = default
        if not ok or any(i is None for i in inputs):
            return None
        in_shape = g[inputs[0]].shape
        benv = dict(self.globals)               # a block sees globals and its own params only
        benv.update(bound)
        benv["in"] = ShapeView(in_shape)
        for k, n in enumerate(inputs):
            benv[f"in{k}"] = ShapeView(g[n].shape)
        defaults = self._defaults_merge(ctx.defaults, block)
        note = Note(f"in block '{block.name}' called here", kloc)
        g.scopes[scope_path] = Scope(scope_path, "block", block.name, kloc, ctx.scope, dict(bound), inputs[0])
        table = {f"in{k}": n for k, n in enumerate(inputs)}
        bctx = Ctx(block.src, scope_path, benv, defaults, [table], [], ctx.blocks_stack + (block.name,),
                   (note,) + ctx.notes, inputs[0])
        saved, self._trace = self._trace, bctx.notes
        try:
            out = self.body(block.spec.body, bctx, inputs[0], block.path + ("body",))
        finally:
            self._trace = saved
        g.scopes[scope_path].output = out
        return out

    def _defaults_merge(self, outer, block: Block):
        raw = block.src.data
        for p in block.path:
            raw = raw[p]
        return self._defaults(outer, raw.get("defaults"), block.src, block.path + ("defaults",)) \
            if raw.get("defaults") else outer

    # ---- structures --------------------------------------------------------------------------
    def _struct_fields(self, kind, attrs, allowed, src, vpath, scope):
        for k in attrs:
            if k not in allowed:
                self.error("unknown-field", f"unknown field '{k}' in {kind}", src.loc(vpath + (k,), key=True), scope,
                           did_you_mean(k, list(allowed) + list(RESERVED)) or "fields: " + ", ".join(allowed))
                raise _Poison()

    def s_sequence(self, attrs, ctx: Ctx, inputs, local, vpath, kloc):
        self._struct_fields("sequence", attrs, ("body", "defaults"), ctx.src, vpath, ctx.scope)
        scope = _join(ctx.scope, local)
        if "body" not in attrs:
            self.error("missing-field", "a sequence needs a 'body' list", kloc, scope)
            return None
        self.graph.scopes[scope] = Scope(scope, "sequence", local, kloc, ctx.scope, {}, inputs[0])
        defaults = self._defaults(ctx.defaults, attrs.get("defaults"), ctx.src, vpath + ("defaults",))
        sctx = replace(ctx, scope=scope, defaults=defaults, body_input=inputs[0], env=_with_in(ctx.env, self.graph, inputs[0]))
        out = self.body(attrs["body"], sctx, inputs[0], vpath + ("body",))
        self.graph.scopes[scope].output = out
        return out

    def s_branches(self, attrs, ctx: Ctx, inputs, local, vpath, kloc):
        src = ctx.src
        self._struct_fields("branches", attrs, ("paths", "merge", "axis"), src, vpath, ctx.scope)
        scope = _join(ctx.scope, local)
        merge = self.value(attrs.get("merge", "concat"), ctx, src, vpath + ("merge",))
        if merge not in MERGES:
            self.error("schema", f"'merge' should be one of {', '.join(MERGES)}; got {describe(merge)}",
                       src.loc(vpath + ("merge",)), scope, did_you_mean(str(merge), MERGES))
            return None
        paths = attrs.get("paths")
        if isinstance(paths, dict):
            items = [(str(k), v, vpath + ("paths", k)) for k, v in paths.items()]
        elif isinstance(paths, list):
            items = [(f"branch_{k}", v, vpath + ("paths", k)) for k, v in enumerate(paths)]
        else:
            self.error("missing-field" if paths is None else "schema",
                       "branches need 'paths': a list of paths (each a list of entries)", kloc, scope)
            return None
        if len(items) < 2:
            self.error("schema", f"branches need at least 2 paths; got {len(items)}", src.loc(vpath + ("paths",), key=True), scope)
            return None
        g = self.graph
        g.scopes[scope] = Scope(scope, "branches", local, kloc, ctx.scope, {"merge": merge}, inputs[0])
        self.used.setdefault(scope, set())
        outs, ok = [], True
        for pname, body, ppath in items:
            if body is None or body == []:
                outs.append(inputs[0])          # identity path
                continue
            pscope = _join(scope, pname)
            self.used[scope].add(pname)
            g.scopes[pscope] = Scope(pscope, "path", pname, src.loc(ppath), scope, {}, inputs[0])
            if not isinstance(body, list):
                body = [body]
            out = self.body(body, replace(ctx, scope=pscope, body_input=inputs[0], env=_with_in(ctx.env, g, inputs[0])),
                            inputs[0], ppath)
            g.scopes[pscope].output = out
            ok &= out is not None
            outs.append(out)
        if not ok:
            return None
        mattrs = {}
        if "axis" in attrs:
            mattrs["axis"] = self.value(attrs["axis"], ctx, src, vpath + ("axis",))
        mid = self._merge_node(merge, mattrs, outs, scope, kloc, ctx, "branches", items)
        g.scopes[scope].output = mid
        return mid

    def _merge_node(self, opname, mattrs, outs, scope, kloc, ctx, what, items=None):
        op = ops.get(opname)
        g = self.graph
        self.used.setdefault(scope, set())
        local = self.unique(scope, opname, False, kloc)
        node_id = _join(scope, local)
        node = g.add(Node(node_id, opname, op.Attrs.model_validate(mattrs), tuple(outs), kloc, scope,
                          trace=ctx.notes))
        try:
            node.shape = tuple(op.infer(node.attrs, [g[o].shape for o in outs]))
        except ShapeError as exc:
            notes = []
            for k, o in enumerate(outs):
                pname = items[k][0] if items else ("shortcut", "body")[k]
                notes.append(Note(f"{pname} ends at {g[o].id} with shape {g[o].shape}", g[o].loc))
            loc, trace = focus(kloc, tuple(ctx.notes), self.src.file)
            self.error(exc.code, f"{what}: {exc.message}", loc, node_id, exc.hint, tuple(notes) + trace)
            return None
        return node_id

    def s_residual(self, attrs, ctx: Ctx, inputs, local, vpath, kloc):
        src = ctx.src
        self._struct_fields("residual", attrs, ("body", "shortcut", "scale", "activation"), src, vpath, ctx.scope)
        scope = _join(ctx.scope, local)
        if "body" not in attrs:
            self.error("missing-field", "a residual needs a 'body' list", kloc, scope)
            return None
        scale = self.value(attrs.get("scale", 1.0), ctx, src, vpath + ("scale",))
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            self.error("schema", f"'scale' should be a number; got {describe(scale)}", src.loc(vpath + ("scale",)), scope)
            return None
        act = self.value(attrs.get("activation"), ctx, src, vpath + ("activation",))
        g = self.graph
        x = inputs[0]
        g.scopes[scope] = Scope(scope, "residual", local, kloc, ctx.scope, {"scale": scale}, x)
        self.used.setdefault(scope, set()).add("shortcut")
        inner_env = _with_in(ctx.env, g, x)
        body_out = self.body(attrs["body"], replace(ctx, scope=scope, body_input=x, env=inner_env), x, vpath + ("body",))
        short = x
        if attrs.get("shortcut"):
            sscope = _join(scope, "shortcut")
            g.scopes[sscope] = Scope(sscope, "path", "shortcut", src.loc(vpath + ("shortcut",), key=True), scope, {}, x)
            short = self.body(attrs["shortcut"], replace(ctx, scope=sscope, body_input=x, env=inner_env), x,
                              vpath + ("shortcut",))
            g.scopes[sscope].output = short
        if body_out is None or short is None:
            return None
        bs, ss = g[body_out].shape, g[short].shape
        if bs != ss:
            hint = None
            last = g[body_out]
            if bs[:-1] == ss[:-1] and bs[-1] != ss[-1]:
                filt = getattr(last.attrs, "filters", None)
                producer = last
                while filt is None and producer.inputs and producer.scope.startswith(scope):
                    producer = g[producer.inputs[0]]
                    filt = getattr(producer.attrs, "filters", None)
                hint = (f"the body ends with {bs[-1]} channels" + (f" (filters: {filt})" if filt else "") +
                        f" but the shortcut has {ss[-1]}; use filters: $in.channels, or add a projection `shortcut:`")
            elif bs[:-1] != ss[:-1]:
                hint = "the body changes the spatial size; add a strided projection `shortcut:` (e.g. a 1×1 conv)"
            loc, trace = focus(kloc, tuple(ctx.notes), self.src.file)
            self.error("shape-mismatch", f"residual add joins {ss} and {bs}", loc, _join(scope, "add"), hint,
                       (Note(f"the body ends at {last.id} {bs}", last.loc),
                        Note(f"the shortcut is {g[short].id} {ss}", g[short].loc)) + trace)
            return None
        if scale == 1 and "scale" not in attrs:   # an explicit scale (even 1.0) keeps the scaled add
            out = self._merge_node("add", {}, [short, body_out], scope, kloc, ctx, "residual")
        else:
            out = self._merge_node("scaled_add", {"scale": float(scale)}, [short, body_out], scope, kloc, ctx, "residual")
        if out and act:
            try:
                a = ops.get("activation").Attrs.model_validate({"activation": act})
            except ValidationError as exc:
                for d in pydantic_diagnostics(exc, {"activation": act}, src, vpath, scope=scope):
                    self.error(d.code, d.message, d.loc, scope, d.hint, ctx.notes)
                return None
            nid = _join(scope, self.unique(scope, "act", False, kloc))
            g.add(Node(nid, "activation", a, (out,), src.loc(vpath + ("activation",), key=True), scope, g[out].shape,
                       ctx.notes))
            out = nid
        g.scopes[scope].output = out
        return out

    # ---- outputs and reachability ------------------------------------------------------------
    def _outputs(self, doc: Document, data: dict, ctx: Ctx, last):
        g = self.graph
        spec = data.get("outputs")
        if spec is None:
            if last is not None:
                g.outputs[g[last].short] = last
            return
        items = [(spec, ("outputs",))] if isinstance(spec, str) else \
            [(v, ("outputs", k)) for k, v in enumerate(spec)] if isinstance(spec, list) else \
            [(v, ("outputs", k)) for k, v in spec.items()]
        for k, (ref, path) in enumerate(items):
            node = self.resolve(ref, ctx) if isinstance(ref, str) else None
            if node is None:
                if not any(d.severity == "error" for d in self.diags):
                    self.error("unknown-ref", f"the output '{ref}' names no layer", self.src.loc(path), None,
                               self._ref_hint(str(ref), ctx))
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
        while todo:
            n = todo.pop()
            if n not in live:
                live.add(n)
                todo.extend(g[n].inputs)
        for name in g.inputs:
            if name not in live:
                self.error("unused-input", f"the input '{name}' is not used by any output", g[name].loc,
                           hint=f"wire it with `from: {name}`, or remove it")
        for n in g:
            if n.id not in live and n.op != "input" and all(i in live for i in n.inputs):
                self.error("dead-layer", f"'{n.id}' does not contribute to any output", n.loc, n.id,
                           "list it under `outputs:`, wire it into the model, or remove it", n.trace)


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


def _user_ops():
    return [k for k, v in ops.REGISTRY.items() if not getattr(v, "internal", False)]


def _type_of(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number" if isinstance(value, float) else "int"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "any"


def _type_problem(ptype: str, v) -> str | None:
    optional = ptype.endswith("?")
    t = ptype.rstrip("?")
    if v is None:
        return None if optional or t == "any" else f"expected {t}, got null"
    isnum = isinstance(v, (int, float)) and not isinstance(v, bool)
    ok = {
        "any": True, "bool": isinstance(v, bool), "str": isinstance(v, str), "list": isinstance(v, list),
        "float": isnum, "number": isnum,
        "int": (isnum and float(v).is_integer()) or (isinstance(v, list) and all(
            isinstance(x, int) and not isinstance(x, bool) for x in v)),
        "pair": (isnum and float(v).is_integer()) or (isinstance(v, list) and len(v) == 2),
        "activation": isinstance(v, str),
    }[t]
    return None if ok else f"expected {t}{' or null' if optional else ''}, got {describe(v)}"


def expand(src: Source, overrides: dict | None = None, limits: Limits = DEFAULT_LIMITS,
           root: Path | None = None) -> tuple[Graph, dict[str, Source]]:
    """Expand a parsed spec into a shape-annotated graph; raises SpecError with all diagnostics."""
    ex = Expander(src, limits, overrides or {}, root)
    graph = ex.run()
    return graph, ex.sources
