"""Who may import whom (docs/design.md, "Layers"): every import between archspec's packages points down the
table below, and no two modules import each other, directly or around a circle — counting imports inside
functions (a lazy import is still a dependency) and the command modules cli.py loads by name.

A new package must be given its place in LAYERS; a new circle fails with the modules and the imports
that close it."""
import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "archspec"

# bottom to top; a package may import its own layer's and the layers below it, never above
LAYERS = [
    {"errors", "codes", "version", "files", "overrides", "devices", "extras", "humanize", "fast"},   # leaves (fast: stand-ins)
    {"ops"},                        # the op registry: one class per op
    {"graph"},                      # the IR
    {"passes", "compile"},          # over the graph: shapes, costs, lints; graph → Keras
    {"lang"},                       # spec text → document (incl. the training: section) → graph
    {"render"},                     # tables, diagrams
    {"api", "diff"},                # the public surface
    {"pricing"},                    # many candidates in process, through api
    {"train", "importer", "editor"},  # features over api
    {"search"},                     # trains candidates
    {"commands"},                   # one module per CLI command, helpers in commands/shared.py
    {"cli", "__main__"},            # parses and dispatches
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


DANGLING: list[str] = []     # imports of archspec modules that do not exist (a renamed module's old name)


def _imports(mods: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module → {imported archspec module: line}, every import statement anywhere in the file."""
    edges: dict[str, dict[str, int]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = edges.setdefault(name, {})
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                # `from x import y`: the module x.y when there is one, else the module x
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for t in targets:
                if t in mods and t != name:
                    found.setdefault(t, node.lineno)
                elif t.split(".")[0] == "archspec" and t not in mods:
                    DANGLING.append(f"{name} (line {node.lineno}) imports {t}, which does not exist")
    import archspec.cli

    for module, _help in archspec.cli.COMMANDS.values():      # cli.py's lazy table imports these by name
        edges["archspec.cli"].setdefault(module, 0)
    return edges


def _circles(edges) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else module


MODS = _modules()
EDGES = _imports(MODS)


def test_every_package_has_a_layer():
    missing = sorted({_layer(m) for m in MODS if m != "archspec"} - RANK.keys())
    assert not missing, f"give {missing} a place in LAYERS (tests/test_layering.py) and docs/design.md"


def test_no_module_imports_in_a_circle():
    problems = []
    for circle in _circles(EDGES):
        arrows = [f"{a} → {b} (line {EDGES[a][b]})" for a in circle for b in circle if b in EDGES[a]]
        problems.append("circle: " + "; ".join(arrows))
    assert not problems, "\n".join(problems)


def test_imports_point_down_the_layers():
    upward = [f"{a} imports {b} (line {line}): {_layer(a)} is below {_layer(b)}"
              for a, targets in EDGES.items() if a != "archspec"
              for b, line in targets.items() if b != "archspec"
              and RANK.get(_layer(a), 99) < RANK.get(_layer(b), 99)]
    assert not upward, "\n".join(upward)


def test_nothing_inside_imports_the_package_facade():
    """archspec/__init__.py re-exports the public API for users; modules import what they use from where it
    lives (archspec.api, archspec.version), so the facade never sits in a circle."""
    users = [f"{a} (line {t['archspec']})" for a, t in EDGES.items() if "archspec" in t and a != "archspec"]
    assert not users, users


def test_every_archspec_import_names_a_module_that_exists():
    """Lazy imports fail only when their function runs; a renamed module's old name is caught here
    (docs/design.md lists the moves)."""
    assert not DANGLING, "\n".join(DANGLING)


def test_the_checker_sees_a_circle():
    """The test above can fail: a circle drawn by hand is found, with its arrows."""
    edges = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert _circles(edges) == [["a", "b", "c"]]
    assert ("archspec.commands.shared", "archspec.cli") not in {(a, b) for a, t in EDGES.items() for b in t}
