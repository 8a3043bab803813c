"""The structured tree → spec entries: attributes that differ from the defaults, names, `from:` wiring.

Names: a layer keeps its Keras name (`name: conv1_conv`) unless Keras made it up (`conv2d_17`); a
residual or branches structure is named after the longest `_`-separated prefix its layers' Keras names
share (`conv2_block1`), and its layers are then named by the rest (`1_conv`), so the compiled layer
`conv2_block1.1_conv` reads as Keras's `conv2_block1_1_conv`. Made-up names are dropped unless a
`from:` needs them. The expander's own naming rules (first come keeps the name, then `_2`, `_3`) are
replayed per body, so no name ever collides.
"""
from __future__ import annotations

from collections import Counter

from ..ops import REGISTRY, role
from .attrs import STYLE, common_prefix, full_attrs, op_defaults, spec_value, strip  # noqa: F401  (spec_value: used from here)
from .reader import KGraph, KNode
from .structure import Branches, Layer, Residual, Wired
from .yamltext import Entry


def choose_defaults(nodes: list[KNode]) -> dict:
    """Per-op values most layers of that op share and Keras does not default to (epsilon 1.001e-5 …)."""
    by_op: dict[str, list[KNode]] = {}
    for n in nodes:
        by_op.setdefault(n.op, []).append(n)
    out = {}
    for op, group in by_op.items():
        base = op_defaults(op)
        primary = REGISTRY[op].primary
        for attr, default in base.items():
            if attr not in STYLE or attr == primary:
                continue
            counts = Counter(repr(full_attrs(n)[attr]) for n in group)
            value_repr, count = counts.most_common(1)[0]
            value = next(full_attrs(n)[attr] for n in group if repr(full_attrs(n)[attr]) == value_repr)
            if value != default and count >= 3 and count * 2 > len(group):
                out.setdefault(op, {})[attr] = value
    return out


def explicit_attrs(op: str, values: dict, defaults: dict) -> dict:
    base = {**op_defaults(op), **defaults.get(op, {})}
    return {k: v for k, v in values.items() if k not in base or base[k] != v}


class Namer:
    """Replays the expander's naming in one scope: explicit names are kept (renamed only on a clash),
    other entries take their op/block/structure name, then `_2`, `_3`…"""

    def __init__(self, reserved=()):
        self.used = set(reserved)
        self.counters: dict[str, int] = {}

    def explicit(self, name: str) -> str:
        name = name.replace(".", "_")           # compiled layer names join scopes with '.': keep them apart
        k, cand = 2, name
        while cand in self.used:
            cand = f"{name}_{k}"
            k += 1
        self.used.add(cand)
        return cand

    def default(self, label: str) -> str:
        if label not in self.used:
            self.used.add(label)
            return label
        k = self.counters.get(label, 2)
        while f"{label}_{k}" in self.used:
            k += 1
        self.counters[label] = k + 1
        self.used.add(f"{label}_{k}")
        return f"{label}_{k}"

    def entry(self, e: Entry) -> None:
        """Fix `e.name` (already the wanted name or None) and reserve what the expander will."""
        count = e.repeat or 1
        if isinstance(count, str):              # `repeat: $blocks`: the count differs per call, reserve widely
            count = 99
        if e.name is not None and count == 1:
            e.name = self.explicit(e.name)
            return
        if e.name is not None:
            e.name = e.name.replace(".", "_")
        base = e.name or e.key                  # repeat: name_1 … name_n, renamed silently on a clash
        for r in range(count):
            self.default(f"{base}_{r + 1}" if count > 1 else base)


# ---- the writer ------------------------------------------------------------------------------------
class Writer:
    def __init__(self, kg: KGraph, defaults: dict, input_names: dict[str, str], keep_names: bool = True):
        self.kg, self.defaults, self.input_names, self.keep = kg, defaults, input_names, keep_names
        self.subst: dict = {}                   # (owner id, attr) → "$expr" inside a block body
        self.names_override: dict = {}          # owner id → name (or None) inside a block body

    def want(self, node: KNode, prefix: str) -> str | None:
        if id(node) in self.names_override:
            return self.names_override[id(node)] if self.keep else None
        if not self.keep or node.auto:
            return None
        return strip(node.name, prefix)

    def layer_entry(self, node: KNode, prefix: str) -> Entry:
        op = REGISTRY[node.op]
        values = full_attrs(node)
        attrs = explicit_attrs(node.op, values, self.defaults)
        if self.subst:
            attrs = {k: self.subst.get((id(node), k), v) for k, v in values.items()
                     if k in attrs or (id(node), k) in self.subst}
        return Entry(node.op, attrs, self.want(node, prefix), primary=op.primary,
                     comment=node.note or None)

    def structure_prefix(self, item, prefix: str) -> str:
        if id(item) in self.names_override:
            return (self.names_override[id(item)] or "") if self.keep else ""
        from .units import instance_prefix

        return instance_prefix(item, prefix) if self.keep else ""

    def body(self, items: list, entry_node: str, prefix: str, reserved=(), top=False, extra_refs=()) -> list[Entry]:
        made: list[tuple[Entry, str, list | None, KNode | None]] = []
        prev = entry_node
        for item in items:
            for e, out, refs, node in self.item_entries(item, prev, prefix):
                made.append((e, out, refs, node))
                prev = out
        # which entries are referenced, and by whom
        index = {out: k for k, (_, out, _, _) in enumerate(made)}
        needed = set()
        prev = entry_node
        pending = []
        for k, (e, out, refs, node) in enumerate(made):
            if refs is not None and refs != [prev]:
                for r in refs:
                    if r in index and index[r] < k:
                        needed.add(index[r])
                pending.append((e, refs))
            prev = out
        for r in extra_refs:
            if r in index:
                needed.add(index[r])
        namer = Namer(reserved)
        for k, (e, out, refs, node) in enumerate(made):
            if k in needed and e.name is None:
                e.name = strip(out, prefix) if node is None or not node.auto else node.name
            namer.entry(e)
        names = {out: e.name for e, out, _, _ in made if e.name}
        for e, refs in pending:
            e.refs = [self.ref(r, entry_node, top, names) for r in refs]
        if top:
            self.top_names = names
        return [e for e, *_ in made]

    def ref(self, node: str, entry_node: str, top: bool, names: dict) -> str:
        if node in self.input_names and (top or node != entry_node):
            return self.input_names[node]
        if node == entry_node:
            return "in"
        if node in names:
            return names[node]
        raise AssertionError(f"importer: '{node}' is referenced outside its body")

    def item_entries(self, item, prev: str, prefix: str):
        """(entry, output node, input nodes or None when it takes the previous output, node)."""
        from .units import Call

        if isinstance(item, Call):
            yield self.call_entry(item, prefix), item.out, None, None
        elif isinstance(item, Layer):
            yield self.layer_entry(item.node, prefix), item.node.name, list(item.node.inputs), item.node
        elif isinstance(item, Wired):
            for sub in item.items:
                yield from self.item_entries(sub, prev, prefix)
        elif isinstance(item, Residual):
            yield self.residual(item, prev, prefix), item.out, None, None
        elif isinstance(item, Branches):
            yield self.branches(item, prev, prefix), item.out, None, None
        else:
            raise TypeError(item)

    def residual(self, item: Residual, prev: str, prefix: str, own: str | None = None) -> Entry:
        p = self.structure_prefix(item, prefix) if own is None else own
        inner = prefix + p + "_" if p else prefix
        attrs = {}
        if item.merge.op == role("scaled_residual"):
            attrs["scale"] = self.subst.get((id(item), "scale"), item.merge.attrs.scale)
        act = self.subst.get((id(item), "activation"), item.act.attrs.activation if item.act else None)
        if act is not None:
            attrs["activation"] = act
        bodies = {"body": self.body(item.body, prev, inner, reserved=("shortcut",))}
        if item.shortcut:
            bodies["shortcut"] = self.body(item.shortcut, prev, inner)
        return Entry("residual", attrs, p or None, bodies=bodies)

    def branches(self, item: Branches, prev: str, prefix: str, own: str | None = None) -> Entry:
        p = self.structure_prefix(item, prefix) if own is None else own
        inner = prefix + p + "_" if p else prefix
        attrs = {}
        if item.merge.op != role("default_merge"):
            attrs["merge"] = item.merge.op
        elif item.merge.attrs.axis != -1:
            attrs["axis"] = item.merge.attrs.axis
        paths = [self.body(path, prev, inner) if path else [] for path in item.paths]
        return Entry("branches", attrs, p or None, bodies={"paths": paths})

    def call_entry(self, call, prefix: str) -> Entry:
        """`- block: {args, repeat, name}`: arguments that differ from the parameter defaults."""
        from .units import instance_prefix

        block = call.block
        args = {}
        for pname, param in block.params.items():
            if (id(call), pname) in self.subst:
                args[pname] = self.subst[(id(call), pname)]
            elif param.required or call.args[pname] != param.default:
                args[pname] = call.args[pname]
        repeat = self.subst.get((id(call), "#repeat"), call.repeat if call.repeat > 1 else None)
        if id(call) in self.names_override:
            name = self.names_override[id(call)] if self.keep else None
            return Entry(block.name, args, name, repeat=repeat)
        if block.labels is not None:
            names = [strip(block.labels[id(inst)], prefix) for inst in call.insts] if self.keep else []
        else:
            names = [] if block.kind == "sequence" or not self.keep else \
                [instance_prefix(inst, prefix) for inst in call.insts]
        comment = None
        if call.repeat == 1:
            name = names[0] if names else None
        else:
            name, comment = repeat_name(names)
        return Entry(block.name, args, name or None, repeat=call.repeat if call.repeat > 1 else None,
                     comment=comment)


def repeat_name(names: list[str]) -> tuple[str | None, str | None]:
    """The name of a repeated call (the expander names its copies NAME_1 … NAME_n) and a comment with the
    Keras names: block35_1 … block35_10 → block35; conv2_block1 … conv2_block6 → conv2_block;
    conv2_block2 … conv2_block3 → conv2_block2to3."""
    import re

    if not names or not all(names):
        return None, None
    parts = [re.fullmatch(r"(.*?[A-Za-z_])(\d+)", n) for n in names]
    if not all(parts) or len({m.group(1) for m in parts}) != 1:
        return None, f"Keras: {names[0]} … {names[-1]}"
    stem, numbers = parts[0].group(1), [int(m.group(2)) for m in parts]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return None, f"Keras: {', '.join(names)}"
    comment = f"Keras: {names[0]} … {names[-1]}"
    if numbers[0] == 1:
        return stem.rstrip("_"), comment if not stem.endswith("_") else None
    return f"{names[0]}to{numbers[-1]}", comment


def op_entry_nodes(items) -> list[KNode]:
    """The nodes written as op entries (not the merges and activations that structures create)."""
    from .units import Call, Group, Run

    out = []
    for item in items:
        if isinstance(item, Call):
            out += op_entry_nodes(item.insts)
        elif isinstance(item, (Run, Group)):
            out += op_entry_nodes(item.items)
        elif isinstance(item, Layer):
            out.append(item.node)
        elif isinstance(item, Wired):
            out += op_entry_nodes(item.items)
        elif isinstance(item, Residual):
            out += op_entry_nodes(item.body) + op_entry_nodes(item.shortcut or [])
        elif isinstance(item, Branches):
            for p in item.paths:
                out += op_entry_nodes(p)
    return out
