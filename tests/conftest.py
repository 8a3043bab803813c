import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def spec_files():
    return sorted(p for p in SPECS.glob("*.yaml")) + sorted(SPECS.glob("*.json"))


@pytest.fixture
def load():
    import archspec

    def _load(text: str, **kw):
        return archspec.load_text(text, "t.yaml", **kw)

    return _load
