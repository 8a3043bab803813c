"""Block definitions for the factored spec: parameter declarations and the body, written from the first
instance with the varying attributes replaced by parameter expressions."""
from __future__ import annotations

from dataclasses import dataclass

from .yamltext import Entry, flow, render_entries, scalar

TYPE_OF = {bool: "bool", int: "int", float: "number", str: "str"}


@dataclass
class BlockText:
    doc: str | None
    params: dict                     # name → declaration (a type, a default, or {type, default})
    body: list[Entry]

    def data(self) -> dict:
        out = {}
        if self.doc:
            out["doc"] = self.doc
        if self.params:
            out["params"] = self.params
        out["body"] = [e.data() for e in self.body]
        return out

    def lines(self, name: str, indent: int) -> list[str]:
        pad = " " * indent
        lines = [f"{pad}{scalar(name)}:"]
        if self.doc:
            lines.append(f"{pad}  doc: {scalar(self.doc)}")
        if self.params:
            lines.append(f"{pad}  params: {flow(self.params)}")
        lines.append(f"{pad}  body:")
        lines += render_entries(self.body, indent + 4)
        return lines


def declaration(param):
    if param.required:
        return param.decl
    if TYPE_OF.get(type(param.default)) == param.decl:
        return param.default
    return {"type": param.decl, "default": param.default}


def block_definitions(factored, writer) -> list[tuple[str, BlockText]]:
    from .units import Group, Run, instance_prefix

    out = []
    for block in factored.defs:
        first = block.insts[0]
        writer.subst, writer.names_override = block.subst, block.names
        try:
            p = instance_prefix(first, "")
            prefix = p + "_" if p else ""
            if isinstance(first, (Run, Group)):
                entry = _entry_of(first)
                body = writer.body(first.items, entry, prefix)
            else:
                entry = _entry_of(first)
                body = [writer.residual(first, entry, prefix, own="") if first.__class__.__name__ == "Residual"
                        else writer.branches(first, entry, prefix, own="")]
        finally:
            writer.subst, writer.names_override = {}, {}
        params = {name: declaration(param) for name, param in block.params.items()}
        n = len(block.insts)
        doc = f"{n} instances in the Keras model" if block.kind != "run" else None
        out.append((block.name, BlockText(doc, params, body)))
    return out


def _entry_of(item) -> str:
    """The node a structure starts from: the input of its first layer."""
    from .units import nodes_of

    inside = {n.name for n in nodes_of(item)}
    for n in nodes_of(item):
        for i in n.inputs:
            if i not in inside:
                return i
    raise AssertionError("importer: a structure without an input")
