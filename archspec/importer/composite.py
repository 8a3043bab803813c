"""Write a model whose composite layers were traced (importer/trace.py) with one block per composite class.

KerasHub's BERT calls one TransformerEncoder class twelve times; the spec says so: a block
`transformer_encoder` whose body is what the class computes (its sub-layers under their own names, wired
with `from:` to the block's inputs `in`, `in1`, …), called once per instance with the instance's inputs
(`from: [embeddings_dropout, padding_mask]`), consecutive calls with equal arguments as one call with
`repeat:`. Attribute values that differ between the instances of a class are the block's `params:`
(named after the attribute); instances whose layers are wired differently (a decoder with and without
cross-attention) are separate blocks. The rest of the model is written layer by layer (`from:` where an
entry does not take the previous one's output).

Used by :func:`archspec.importer.import_keras` when the graph has traced instances; the text it gives is
matched against the Keras graph like every import (and the flat writing is used should it not match).
"""
from __future__ import annotations

import re

from ..ops import REGISTRY
from .attrs import full_attrs
from .blockdef import TYPE_OF, BlockText
from .document import assemble, input_names
from .reader import KGraph, _is_auto
from .units import unique_name
from .writer import Namer, Writer, choose_defaults
from .yamltext import Entry


class NotComposite(Exception):
    """The traced instances cannot be written as blocks (the flat writing is used)."""


def write_composite(kg: KGraph, keep_names: bool, source: str | None, params: int) -> tuple[str, dict]:
    last_copy: dict[str, str] = {}        # a repeated entry's name → its last copy's (`outputs:` names the copy)
    nodes = [n for n in kg.nodes.values() if n.name not in kg.inputs]
    defaults = choose_defaults(nodes)
    names = input_names(kg)
    writer = Writer(kg, defaults, names, keep_names)
    owner = {n: inst for inst in kg.instances.values() for n in inst.nodes}
    blocks, calls = _blocks(kg, writer)
    users = kg.consumers()

    top = Namer(names.values())
    entries, ref_of, prev = [], dict(names), None
    pending = []                                             # (entry, call info) for repeat merging

    def flush():
        nonlocal pending
        if pending:
            entries.append(_merged(pending, ref_of, top, last_copy))
        pending = []

    for node in kg.nodes.values():
        if node.name in kg.inputs:
            continue
        inst = owner.get(node.name)
        if inst is not None and node.name != inst.output:
            continue
        if inst is not None:                                 # the call, where the instance's output is made
            block, args, used = calls[inst.name]
            refs = [inst.inputs[k] for k in used]
            key = (block, tuple(sorted(args.items())), tuple(refs[1:]))
            if pending:
                last_key, last = pending[-1][1][0], pending[-1][1][1]
                if not (key == last_key and refs[0] == last.output and last.output not in kg.outputs
                        and set(users[last.output]) <= set(inst.nodes)):
                    flush()
            pending.append((Entry(block, dict(args)), (key, inst, refs)))
            prev = inst.output
            continue
        flush()
        entry = writer.layer_entry(node, "")
        entry.name = top.explicit(node.name)                 # (the graph outside the blocks is small: all named)
        if node.inputs and node.inputs != [prev]:
            entry.refs = [ref_of[i] for i in node.inputs]
        ref_of[node.name] = entry.name
        entries.append(entry)
        prev = node.name
    flush()
    for o in kg.outputs:
        if o not in ref_of:
            raise NotComposite(f"the output '{o}' has no name")
    return _document(kg, defaults, names, blocks, entries, {k: last_copy.get(v, v) for k, v in ref_of.items()},
                     source, params), {
        "layers": len(kg.nodes), "blocks": len(blocks), "residual": 0, "branches": 0, "wired": 0}


def _merged(pending, ref_of, top: Namer, last_copy: dict) -> Entry:
    """Consecutive calls of one block, chained, with equal arguments and side inputs: one entry (`repeat`)."""
    entry, (key, inst, refs) = pending[0]
    stem = _stem([p[1][1].name for p in pending])
    entry.refs = [ref_of[r] for r in refs]
    if len(pending) == 1:
        entry.name = top.explicit(inst.name)
        ref_of[inst.output] = entry.name
        return entry
    entry.repeat = len(pending)
    entry.name = stem
    top.entry(entry)
    ref_of[pending[-1][1][1].output] = entry.name       # (`from:` may name the last copy by the entry's name)
    last_copy[entry.name] = f"{entry.name}_{entry.repeat}"
    return entry


def _stem(names: list[str]) -> str:
    """transformer_layer_0 … transformer_layer_11 → transformer_layer."""
    stems = {re.sub(r"_?\d+$", "", n) or n for n in names}
    return stems.pop() if len(stems) == 1 else names[-1]


def _snake(cls: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls).lower()


def _blocks(kg: KGraph, writer: Writer):
    """(block name → BlockText, instance name → (block name, call arguments, the inputs used, in order))."""
    by_class: dict[tuple, dict[tuple, list]] = {}
    shapes = {}
    for inst in kg.instances.values():
        skeleton, slots, used = _shape(kg, inst)
        shapes[inst.name] = (skeleton, slots, used)
        by_class.setdefault((inst.module, inst.cls), {}).setdefault(skeleton, []).append(inst)
    taken = set(REGISTRY) | {"sequence", "branches", "residual"}
    blocks, calls = {}, {}
    for (module, cls), groups in by_class.items():
        for skeleton, insts in groups.items():
            name = unique_name(_snake(cls), taken)
            taken.add(name)
            first = shapes[insts[0].name]
            varying = {}                              # (position, attr) → param name
            counts: dict[str, int] = {}
            for pos, attrs in enumerate(first[1]):
                for attr in attrs:
                    values = [shapes[i.name][1][pos][attr] for i in insts]
                    if any(v != values[0] for v in values):
                        if not all(type(v) in TYPE_OF for v in values):
                            raise NotComposite(f"{cls}'s {attr} differs between instances and is not a number")
                        varying[(pos, attr)] = attr
                        counts[attr] = counts.get(attr, 0) + 1
            local = [loc for loc, _ in skeleton]
            for (pos, attr) in list(varying):
                if counts[attr] > 1:
                    varying[(pos, attr)] = f"{local[pos][0]}_{attr}"
            body = _body(kg, insts[0], skeleton, first[2], varying, writer)
            decl = {}
            for (pos, attr), pname in varying.items():
                v = first[1][pos][attr]
                decl[pname] = TYPE_OF[type(v)]
            doc = (f"{cls} ({module.split('.')[0]}), traced into its parts: {len(insts)} instance"
                   f"{'s' if len(insts) > 1 else ''} in the Keras model")
            blocks[name] = BlockText(doc, decl, body)
            for inst in insts:
                attrs = shapes[inst.name][1]
                args = {pname: attrs[pos][attr] for (pos, attr), pname in varying.items()}
                calls[inst.name] = (name, args, shapes[inst.name][2])
    return blocks, calls


def _shape(kg: KGraph, inst):
    """(skeleton: ((local name, op), input refs) per node; slots: full attributes per node; the block inputs used)."""
    prefix = inst.name + "_"
    local, namer = {}, Namer(["in"] + [f"in{k}" for k in range(1, len(inst.inputs) + 1)])
    for n in inst.nodes:
        node = kg.nodes[n]
        short = n[len(prefix):] if n.startswith(prefix) else n
        if _is_auto(short, node.cls):
            local[n] = namer.default(REGISTRY[node.op].short_name(node.attrs))
        else:
            local[n] = namer.explicit(short)
    used = []
    for n in inst.nodes:
        for i in kg.nodes[n].inputs:
            if i not in local:
                if i not in inst.inputs:
                    raise NotComposite(f"'{n}' takes '{i}', which is not an input of {inst.name}")
                k = inst.inputs.index(i)
                if k not in used:
                    used.append(k)
    used.sort()
    if not used or inst.inputs[used[0]] != inst.inputs[0]:
        raise NotComposite(f"{inst.name} does not use its first input")
    ins = {inst.inputs[k]: ("in" if j == 0 else f"in{j}") for j, k in reversed(list(enumerate(used)))}
    skeleton = tuple(((local[n], kg.nodes[n].op), tuple(local.get(i) or ins[i] for i in kg.nodes[n].inputs))
                     for n in inst.nodes)
    if inst.output != inst.nodes[-1] and inst.output in local:
        skeleton += ((("@out", local[inst.output]), ()),)
    slots = [full_attrs(kg.nodes[n]) for n in inst.nodes]
    return skeleton, slots, used


def _body(kg, inst, skeleton, used, varying, writer) -> list[Entry]:
    entries, prev = [], "in"
    for pos, n in enumerate(inst.nodes):
        node = kg.nodes[n]
        (name, _), refs = skeleton[pos]
        entry = writer.layer_entry(node, "")
        for (p, attr), pname in varying.items():
            if p == pos:
                entry.attrs[attr] = f"${pname}"
        entry.attrs = {k: entry.attrs[k] for k in full_attrs(node) if k in entry.attrs}
        entry.name = name
        if list(refs) != [prev]:
            entry.refs = list(refs)
        entries.append(entry)
        prev = name
    if inst.output != inst.nodes[-1]:
        raise NotComposite(f"{inst.name}'s output is not its last layer")
    return entries


def _document(kg, defaults, names, blocks, entries, ref_of, source, params) -> str:
    refs = {o: ref_of[o] for o in kg.outputs} if len(kg.outputs) > 1 else {}
    return assemble(kg, names, refs, defaults, list(blocks.items()), entries, source or kg.name, source, params)
