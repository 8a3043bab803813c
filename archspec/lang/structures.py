"""Structures: sequence, branches and residual entries."""
from __future__ import annotations

from .. import ops
from ..errors import Note, closest, focus, hint_for
from ..fast.pydantic_lite import Invalid
from ..graph import Node, Scope
from ..ops.base import ShapeError
from .context import MERGES, RESERVED, Ctx, _join, _Poison, _with_in
from .document import describe, pydantic_diagnostics
from .grammar import STRUCTURES


class Structures:
    """Mixin of the Expander: `sequence`, `branches` and `residual` entries (methods `s_<kind>`)."""

    def _struct_fields(self, kind, attrs, src, vpath, outer, scope, kloc, required=True) -> bool:
        """Refuse a field the structure does not have (poisoning the entry, said in the `outer` scope); then
        `_struct_required`. The fields are lang/grammar.py's."""
        allowed = STRUCTURES[kind].field_names
        for k in attrs:
            if k not in allowed:
                self.error("unknown-field", f"unknown field '{k}' in {kind}", src.loc(vpath + (k,), key=True), outer,
                           hint_for(guess := closest(k, list(allowed) + list(RESERVED))) or "fields: " + ", ".join(allowed),
                           subject=str(k), suggestion=guess)
                raise _Poison()
        return self._struct_required(kind, attrs, scope, kloc) if required else True

    def _struct_required(self, kind, attrs, scope, kloc) -> bool:
        """Say the first missing required field of the structure (in its `scope`) and answer False."""
        for f in STRUCTURES[kind].required:
            if f.name not in attrs:
                self.error("missing-field", f.missing, kloc, scope)
                return False
        return True

    def s_sequence(self, attrs, ctx: Ctx, inputs, local, vpath, kloc):
        scope = _join(ctx.scope, local)
        if not self._struct_fields("sequence", attrs, ctx.src, vpath, ctx.scope, scope, kloc):
            return None
        self.graph.scopes[scope] = Scope(scope, "sequence", local, kloc, ctx.scope, {}, inputs[0])
        defaults = self._defaults(ctx.defaults, attrs.get("defaults"), ctx.src, vpath + ("defaults",))
        sctx = ctx.derive(scope=scope, defaults=defaults, body_input=inputs[0], env=_with_in(ctx.env, self.graph, inputs[0]))
        out = self.body(attrs["body"], sctx, inputs[0], vpath + ("body",))
        self.graph.scopes[scope].output = out
        return out

    def s_branches(self, attrs, ctx: Ctx, inputs, local, vpath, kloc):
        src = ctx.src
        struct = STRUCTURES["branches"]
        scope = _join(ctx.scope, local)
        self._struct_fields("branches", attrs, src, vpath, ctx.scope, scope, kloc, required=False)
        merge = self.value(attrs.get("merge", struct.field("merge").default), ctx, src, vpath + ("merge",))
        if merge not in MERGES:
            self.error("schema", f"'merge' should be one of {', '.join(MERGES)}; got {describe(merge)}",
                       src.loc(vpath + ("merge",)), scope, subject=str(merge), suggestion=closest(str(merge), MERGES))
            return None
        if not self._struct_required("branches", attrs, scope, kloc):
            return None
        paths = attrs["paths"]
        if isinstance(paths, dict):
            items = [(str(k), v, vpath + ("paths", k)) for k, v in paths.items()]
        elif isinstance(paths, list):
            items = [(f"branch_{k}", v, vpath + ("paths", k)) for k, v in enumerate(paths)]
        else:
            self.error("missing-field" if paths is None else "schema", struct.field("paths").missing, kloc, scope)
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
                ok &= inputs[0] is not None     # its input failed (said already): nothing to merge
                continue
            pscope = _join(scope, pname)
            self.used[scope].add(pname)
            g.scopes[pscope] = Scope(pscope, "path", pname, src.loc(ppath), scope, {}, inputs[0])
            if not isinstance(body, list):
                body = [body]
            out = self.body(body, ctx.derive(scope=pscope, body_input=inputs[0], env=_with_in(ctx.env, g, inputs[0])),
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
        node = g.add(Node(node_id, opname, self.validated(op, mattrs), tuple(outs), kloc, scope,
                          trace=ctx.notes))
        try:
            shapes = [g[o].shape for o in outs]
            node.shape, node.cost = self.inferred(op, node.attrs, shapes)
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
        scope = _join(ctx.scope, local)
        if not self._struct_fields("residual", attrs, src, vpath, ctx.scope, scope, kloc):
            return None
        scale = self.value(attrs.get("scale", STRUCTURES["residual"].field("scale").default), ctx, src, vpath + ("scale",))
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            self.error("schema", f"'scale' should be a number; got {describe(scale)}", src.loc(vpath + ("scale",)), scope)
            return None
        act = self.value(attrs.get("activation"), ctx, src, vpath + ("activation",))
        g = self.graph
        x = inputs[0]
        g.scopes[scope] = Scope(scope, "residual", local, kloc, ctx.scope, {"scale": scale}, x)
        self.used.setdefault(scope, set()).add("shortcut")
        inner_env = _with_in(ctx.env, g, x)
        body_out = self.body(attrs["body"], ctx.derive(scope=scope, body_input=x, env=inner_env), x, vpath + ("body",))
        short = x
        if attrs.get("shortcut"):
            sscope = _join(scope, "shortcut")
            g.scopes[sscope] = Scope(sscope, "path", "shortcut", src.loc(vpath + ("shortcut",), key=True), scope, {}, x)
            short = self.body(attrs["shortcut"], ctx.derive(scope=sscope, body_input=x, env=inner_env), x,
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
            self.error("shape-mismatch", f"residual add joins {ss} and {bs}", loc, _join(scope, ops.role("residual_add")), hint,
                       (Note(f"the body ends at {last.id} {bs}", last.loc),
                        Note(f"the shortcut is {g[short].id} {ss}", g[short].loc)) + trace)
            return None
        if scale == 1 and "scale" not in attrs:   # an explicit scale (even 1.0) keeps the scaled add
            out = self._merge_node(ops.role("residual_add"), {}, [short, body_out], scope, kloc, ctx, "residual")
        else:
            out = self._merge_node(ops.role("scaled_residual"), {"scale": float(scale)}, [short, body_out], scope, kloc,
                                   ctx, "residual")
        if out and act:
            try:
                a = self.validated(ops.get(ops.role("activation")), {"activation": act})
            except Invalid as exc:
                for d in pydantic_diagnostics(exc, {"activation": act}, src, vpath, scope=scope):
                    self.error(d.code, d.message, d.loc, scope, d.hint, ctx.notes)
                return None
            nid = _join(scope, self.unique(scope, "act", False, kloc))
            g.add(Node(nid, ops.role("activation"), a, (out,), src.loc(vpath + ("activation",), key=True), scope, g[out].shape,
                       ctx.notes))
            out = nid
        g.scopes[scope].output = out
        return out

    # ---- outputs and reachability ------------------------------------------------------------
