"""Docs generated from code stay in sync, and every diagnostic code used in the sources is catalogued."""
import re
import subprocess
import sys

from conftest import ROOT

from archspec.codes import ALL


def test_generated_docs_are_current():
    r = subprocess.run([sys.executable, "tools/gen_docs.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_every_code_is_catalogued():
    used = set()
    for path in (ROOT / "archspec").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used.update(re.findall(r'(?:Diagnostic|error|warn|ShapeError)\(\s*"([a-z]+(?:-[a-z]+)*)"', text))
    unknown = sorted(c for c in used if c not in ALL)
    assert not unknown, unknown
