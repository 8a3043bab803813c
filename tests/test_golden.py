"""Golden files derived from specs/: the report table and the one-line-per-node graph dump.
Regenerate with `ARCHSPEC_UPDATE_GOLDEN=1 pytest tests/test_golden.py` and review the diff."""
import os

import pytest
from conftest import ROOT

import archspec

GOLDEN = ROOT / "tests" / "golden"
CASES = [("mnist_cnn", "all"), ("inception_resnet_cifar10", 1), ("resnet50", 1), ("inception_v1_module", "all")]


def compare(name: str, text: str):
    path = GOLDEN / name
    if os.environ.get("ARCHSPEC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {name}: run with ARCHSPEC_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: rerun with ARCHSPEC_UPDATE_GOLDEN=1 and review"


@pytest.mark.parametrize("spec,depth", CASES, ids=[c[0] for c in CASES])
def test_report_golden(spec, depth):
    s = archspec.load(ROOT / "specs" / f"{spec}.yaml", display=f"specs/{spec}.yaml")
    compare(f"report_{spec}.txt", s.report("table", None if depth == "all" else depth))


@pytest.mark.parametrize("spec", ["mnist_cnn", "inception_resnet_cifar10"])
def test_dump_golden(spec):
    s = archspec.load(ROOT / "specs" / f"{spec}.yaml", display=f"specs/{spec}.yaml")
    compare(f"dump_{spec}.txt", s.graph.dump() + "\n")
