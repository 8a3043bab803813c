"""Assemble the spec document: header, inputs, outputs, defaults, blocks, model — and check that YAML
reads the text back as exactly the data it was written from."""
from __future__ import annotations

import yaml

from ..version import __version__
from .blockdef import block_definitions
from .structure import Tree
from .writer import Writer, choose_defaults, op_entry_nodes
from .yamltext import flow, render_entries, scalar


def input_names(kg) -> dict[str, str]:
    out, taken = {}, set()
    for i in kg.inputs:
        node = kg.nodes[i]
        base = i if not node.auto and i != "in" else ("image" if len(node.attrs.shape) == 3 else "input")
        name, k = base, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        out[i] = name
    return out


def write_document(tree: Tree, blocks, keep_names: bool, source: str | None, name: str, params: int) -> str:
    kg = tree.graph
    defaults = choose_defaults(op_entry_nodes(tree.items))
    names = input_names(kg)
    writer = Writer(kg, defaults, names, keep_names)
    block_defs = []
    if blocks is not None:
        block_defs = block_definitions(blocks, writer)
    model = writer.body(tree.items, tree.entry, "", top=True, extra_refs=kg.outputs if len(kg.outputs) > 1 else ())
    refs = {o: names.get(o) or writer.top_names[o] for o in kg.outputs} if len(kg.outputs) > 1 else {}
    return assemble(kg, names, refs, defaults, block_defs, model, source or name, source, params)


def assemble(kg, names: dict, output_refs: dict, defaults: dict, block_defs, model, title: str, source: str | None,
             params: int) -> str:
    """The spec text — header comments, inputs, outputs (`output_refs`: each output node's reference, for a
    model of several outputs), defaults, blocks (name, definition) pairs, model entries — checked to read back
    through YAML as exactly the data it was written from."""
    data = {"archspec": 1, "name": kg.name}
    lines = [f"# Imported from {title} by archspec import {__version__}: {len(kg.nodes) - len(kg.inputs):,} "
             f"Keras layers, {params:,} parameters.",
             f"# Check the round trip (same graph, parameters and outputs): archspec import {source}"
             if source else "# Check the round trip: archspec.importer.verify.roundtrip(model, spec_text)"]
    lines += [f"# warning: {w}" for w in kg.warnings]
    lines += ["archspec: 1", f"name: {scalar(kg.name)}", "inputs:"]
    data["inputs"] = {}
    for i in kg.inputs:
        a = kg.nodes[i].attrs
        shape = list(a.shape)
        value = shape if a.dtype == "float32" else {"shape": shape, "dtype": a.dtype}
        data["inputs"][names[i]] = value
        lines.append(f"  {scalar(names[i])}: {scalar(shape) if a.dtype == 'float32' else flow(value)}")
    if len(kg.outputs) > 1:
        data["outputs"] = {}
        lines.append("outputs:")
        for o, key in zip(kg.outputs, kg.output_names or kg.outputs):
            data["outputs"][key] = output_refs[o]
            lines.append(f"  {scalar(key)}: {scalar(output_refs[o])}")
    if defaults:
        data["defaults"] = defaults
        lines.append("defaults:")
        lines += [f"  {op}: {flow(attrs)}" for op, attrs in defaults.items()]
    if block_defs:
        data["blocks"] = {}
        lines += ["", "blocks:"]
        for bname, bdef in block_defs:
            data["blocks"][bname] = bdef.data()
            lines += bdef.lines(bname, 2)
    data["model"] = [e.data() for e in model]
    lines += ["", "model:"]
    lines += render_entries(model, 2)
    text = "\n".join(lines) + "\n"
    back = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if back != data:
        raise AssertionError("importer: the YAML text does not read back as the spec written "
                             f"(first difference under {_first_difference(back, data)})")
    return text


def _first_difference(a, b, path=()):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), path + (k,))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for k, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, path + (k,))
    return f"{'/'.join(map(str, path))}: {a!r} vs {b!r}"
