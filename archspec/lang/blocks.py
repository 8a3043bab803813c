"""Blocks: loading them (and the files they are included from), their parameters, defaults and calls."""
from __future__ import annotations

from pathlib import Path

from .. import ops
from ..errors import Note, SpecError, closest, did_you_mean, hint_for
from ..fast.pydantic_lite import Invalid
from ..graph import Scope
from .context import PARAM_TYPES, STRUCTURES, Block, Ctx, _join, _Poison
from .document import BlockDef, Document, Library, describe, pydantic_diagnostics
from .expr import UNKNOWN, ShapeView
from .source import Source, parse, read_text
from .space import is_space, parse_dim


class Blocks:
    """Mixin of the Expander: everything about blocks and includes."""

    def _load_blocks(self, src: Source, data: dict, base: tuple, stack: tuple):
        includes, blocks = data.get("include") or [], data.get("blocks") or {}
        # of another type (`blocks:` written as a list, `include:` as one file name) the document's schema
        # has said so at its line; nothing here is read from it
        for i, inc in enumerate(includes if isinstance(includes, list) else []):
            self._include(src, inc, ("include", i), stack)
        for name, raw in (blocks if isinstance(blocks, dict) else {}).items():
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
            except Invalid as exc:
                self.diags += pydantic_diagnostics(exc, raw, src, path, fields=BlockDef.model_fields,
                                                   what=f"block '{name}'")
                self.bad_blocks.add(name)
                continue
            params = {}
            for pname, decl in spec.params.items():
                if is_space(decl):
                    self.error("search-space", f"the block parameter '{pname}' declares a search space; search "
                               "spaces are top-level parameters", src.loc(path + ("params", pname), key=True),
                               hint=f"declare it under the top-level `params:` and pass it on: `{pname}: $NAME`")
                    self.bad_blocks.add(name)
                    continue
                parsed = self._param_decl(pname, decl, src, path + ("params", pname))
                if parsed:
                    params[pname] = parsed
                else:
                    self.bad_blocks.add(name)   # its calls are skipped: no follow-up errors about them
            if spec.defaults:
                self._defaults({}, raw.get("defaults"), src, path + ("defaults",))
            if name not in self.bad_blocks:
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
            self.lost_includes = True
            for d in exc.diagnostics:
                if d.code == "file-not-found":
                    guess = _near_file(inc, target)
                    self.error("include", f"the included file '{inc}' does not exist", loc,
                               hint=hint_for(guess) or f"looked for {target}", subject=inc, suggestion=guess)
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
        except Invalid as exc:
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
                guess = closest(str(ptype), sorted(PARAM_TYPES))
                self.error("param-type", f"unknown parameter type {describe(ptype)}", src.loc(path + ("type",)),
                           hint=hint_for(guess) or "types: " + ", ".join(sorted(PARAM_TYPES)),
                           subject=str(ptype), suggestion=guess)
                return None
            return (ptype, decl.get("default"), "default" not in decl)
        if isinstance(decl, str) and decl.rstrip("?") in PARAM_TYPES:
            return (decl, None, not decl.endswith("?"))
        return (_type_of(decl), decl, False)

    def _globals(self, doc: Document, data: dict) -> dict:
        env = {}
        for name, decl in doc.params.items():
            path = ("params", name)
            if is_space(decl):
                dim = self._space_dim(name, decl, path)
                if dim is None:
                    env[name] = UNKNOWN
                    continue
                self.space[name] = dim
                parsed = (dim.ptype, dim.default, False)
            else:
                parsed = self._param_decl(name, decl, self.src, path)
            if not parsed:
                env[name] = UNKNOWN
                continue
            ptype, default, required = parsed
            if name in self.overrides:
                value = self.overrides[name]
                problem = _type_problem(ptype, value)
                code = "param-type"
                if not problem and name in self.space:
                    problem, code = self.space[name].problem(value), "search-space"
                if problem:
                    self.error(code, f"--set {name}={value}: {problem}", self.src.loc(path),
                               hint=f"the spec declares '{name}' here")
                    env[name] = UNKNOWN
                    continue
            elif required:
                self.error("missing-param", f"the parameter '{name}' has no default; pass --set {name}=VALUE",
                           self.src.loc(path, key=True), subject=name)
                env[name] = UNKNOWN
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

    def _space_dim(self, name, decl, path):
        """A searched top-level parameter (lang/space.py); mistakes are reported at their field."""
        def error(message, where, hint, key):
            self.error("search-space", message, self.src.loc(where, key=key), hint=hint)

        return parse_dim(name, decl, path, list(self.blocks) + _user_ops(), error)

    def _defaults(self, outer: dict, raw, src: Source, path: tuple) -> dict:
        """Merge a `defaults:` mapping into the inherited ones (inner wins)."""
        merged = {k: dict(v) for k, v in outer.items()}
        if not raw:
            return merged
        if not isinstance(raw, dict):        # the document's, library's or block's schema has said so at its line
            return merged
        for opname, attrs in raw.items():
            op = ops.get(opname)
            if op is None or op.internal:
                guess = closest(opname, _user_ops())
                self.error("unknown-op", f"defaults for unknown op '{opname}'", src.loc(path + (opname,), key=True),
                           subject=str(opname), suggestion=guess)
                continue
            if not isinstance(attrs, dict):
                self.error("schema", f"defaults for '{opname}' must be a mapping of attributes",
                           src.loc(path + (opname,)))
                continue
            for attr, v in attrs.items():
                if attr not in op.Attrs.model_fields:
                    guess = closest(attr, op.Attrs.model_fields)
                    self.error("unknown-field", f"{opname} has no attribute '{attr}'",
                               src.loc(path + (opname, attr), key=True),
                               hint=hint_for(guess) or "attributes: " + ", ".join(op.Attrs.model_fields),
                               subject=str(attr), suggestion=guess)
                    continue
                merged.setdefault(opname, {})[attr] = (v, src, path + (opname, attr))
        return merged

    # ---- bodies and entries ------------------------------------------------------------------
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
        # arguments are evaluated with the caller's names: `in`, `prev`, `i`
        ok = True
        bound, suggested = {}, set()
        for pname, raw in args.items():
            if pname not in block.params:
                guess = closest(pname, block.params)
                suggested.add(guess)
                self.error("unknown-param", f"the block '{block.name}' has no parameter '{pname}'",
                           src.loc(vpath + (pname,), key=True), scope_path,
                           hint_for(guess) or
                           ("parameters: " + ", ".join(block.params) if block.params else f"'{block.name}' takes no parameters"),
                           [Note(f"'{block.name}' is defined here", block.src.loc(block.path, key=True))],
                           subject=str(pname), suggestion=guess)
                ok = False
                continue
            try:
                v = self.value(raw, ctx, src, vpath + (pname,), scope_path)
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
        note = Note(f"in block '{block.name}' called here", kloc)
        g.scopes[scope_path] = Scope(scope_path, "block", block.name, kloc, ctx.scope, dict(bound), inputs[0])
        notes = (note,) + ctx.notes
        stack = ctx.blocks_stack + (block.name,)
        key = self.memo_key(block, bound, inputs, ctx.defaults, stack)
        frag = self.memo.fragments.get(key) if key is not None else None
        if frag is not None:                    # the same call expanded before: replay it (lang/memo.py)
            out = self.replay(frag, scope_path, ctx.scope, inputs, notes, kloc)
            if out is not None:
                g.scopes[scope_path].output = out
                return out
        n0, s0, d0 = len(g.nodes), len(g.scopes), len(self.diags)
        benv = dict(self.globals)               # a block sees globals and its own params only
        benv.update(bound)
        benv["in"] = ShapeView(g[inputs[0]].shape)
        for k, n in enumerate(inputs):
            benv[f"in{k}"] = ShapeView(g[n].shape)
        defaults = self._defaults_merge(ctx.defaults, block)
        table = {f"in{k}": n for k, n in enumerate(inputs)}
        bctx = Ctx(block.src, scope_path, benv, defaults, [table], [], stack, notes, inputs[0])
        saved, self._trace = self._trace, bctx.notes
        try:
            out = self.body(block.spec.body, bctx, inputs[0], block.path + ("body",))
        finally:
            self._trace = saved
        g.scopes[scope_path].output = out
        if key is not None and out is not None and len(self.diags) == d0:
            self.record(key, scope_path, inputs, out, n0, s0, len(notes))
        return out

    def _defaults_merge(self, outer, block: Block):
        raw = block.src.data
        for p in block.path:
            raw = raw[p]
        return self._defaults(outer, raw.get("defaults"), block.src, block.path + ("defaults",)) \
            if raw.get("defaults") else outer

    # ---- structures --------------------------------------------------------------------------

def _near_file(inc: str, target: Path) -> str | None:
    """The include path a user most likely meant: a file beside the missing one with a close name
    (`conv_bn.yml` → `conv_bn.yaml`), written the way the include was."""
    try:
        names = [p.name for p in target.parent.iterdir() if p.suffix in (".yaml", ".yml", ".json") and p.is_file()]
    except OSError:
        return None
    stem = [n for n in names if Path(n).stem == target.stem]
    guess = stem[0] if len(stem) == 1 else closest(target.name, sorted(names))
    if guess is None:
        return None
    head = inc.replace("\\", "/").rsplit("/", 1)
    return f"{head[0]}/{guess}" if len(head) == 2 else guess


def _user_ops():
    return list(ops.user_ops())


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
    ok = PARAM_TYPES[t].accepts(v)
    return None if ok else f"expected {t}{' or null' if optional else ''}, got {describe(v)}"
