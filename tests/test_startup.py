"""What start-up loads: `import archspec` stays free of pydantic, PyYAML and the op registry (they load
with the first spec), and the command line never lets pydantic scan installed packages for plugins.
The times themselves are measured by bench/check_bench.py, not here."""
import os
import subprocess
import sys

from conftest import ROOT

HEAVY = ("pydantic", "yaml", "archspec.ops", "archspec.graph", "networkx", "keras", "tensorflow", "difflib")


def _py(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_import_archspec_is_light():
    out = _py(f"import sys, archspec; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert out == "[]"
    assert _py("import archspec; print(archspec.load('specs/mnist_cnn.yaml').analysis().total.params)") == "52138"


def test_the_cli_skips_pydantic_plugin_discovery():
    code = ("import sys\nsys.argv = ['archspec', 'check', 'specs/mnist_cnn.yaml']\nfrom archspec import cli\n"
            "try:\n    cli.entry()\nexcept SystemExit as e:\n    code = e.code\n"
            "import pydantic.plugin._loader as L\nprint(code, L._plugins)")
    assert _py(code).splitlines()[-1] == "0 None"     # None: entry points never scanned


def test_load_leaves_no_gc_debt():
    """Objects made while the collector was paused go to the oldest generation: the caller's next
    young collections have nothing of the spec's to walk."""
    code = ("import gc, archspec\n"
            "body = ''.join('  - dense: {units: 4}\\n' for _ in range(3000))\n"
            "spec = archspec.load_text('archspec: 1\\nname: c\\ninputs: {x: [4]}\\nmodel:\\n' + body)\n"
            "print(len(spec.graph), len(gc.get_objects(0)) + len(gc.get_objects(1)), gc.isenabled())")
    layers, young, enabled = _py(code).split()
    assert layers == "3001" and int(young) < 300 and enabled == "True"
