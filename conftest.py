"""Collection rules for the whole repository: the doctests in archspec/ run with the tests (pyproject's
testpaths); those of modules that import Keras belong to the `keras` group like the parity tests. A module
without doctests is not imported for them at all, nor one importing Keras (seconds) in a run that leaves
`keras` out.

Tiers: a test says what it needs beyond the core dependencies with a marker — `keras` (Keras and a
backend), `extras` (another optional dependency: numpy/scikit-learn/Pillow for training data, jsonschema,
pygls, optuna; a module whose doctests need one says `# tier: extras` on a line of its own) — and
`slow` when it is long. Every test with none of the three is marked `core` here, so
`pytest -m core` is exactly what runs with `pip install -e .[test]` alone (`tools/test.sh --core` proves it
in a venv of its own)."""
import re
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

PACKAGE = Path(__file__).resolve().parent / "archspec"
TESTS = Path(__file__).resolve().parent / "tests"
_KERAS = re.compile(r"^\s*(import keras|from keras|>>> import keras)", re.M)
_TOP_KERAS = re.compile(r"^(import keras|from keras|from \S*keras_layers import)", re.M)
_EXTRAS = re.compile(r"^# tier: extras", re.M)     # a module whose doctests need an optional dependency
_NO_KERAS = re.compile(r"not keras|\bcore\b")
_NO_EXTRAS = re.compile(r"not extras|\bcore\b")
_seen: dict = {}


def _text(path: Path) -> str:
    if path not in _seen:
        _seen[path] = path.read_text(encoding="utf-8")
    return _seen[path]


def pytest_ignore_collect(collection_path, config):
    path = Path(collection_path)
    if path.suffix != ".py":
        return None
    if path.parent == TESTS and not path.name.startswith(("test_", "conftest")):
        return ">>>" not in _text(path) or None   # a helper the tests import (seq_runs.py): no doctests of its own
    if not path.is_relative_to(PACKAGE):
        return None
    if ">>>" not in _text(path):
        return True
    marks = config.getoption("markexpr") or ""
    if _TOP_KERAS.search(_text(path)) and _NO_KERAS.search(marks):
        return True   # `-m "not keras"` or `-m core`: the module's doctests would be deselected anyway
    if _EXTRAS.search(_text(path)) and _NO_EXTRAS.search(marks):
        return True   # `-m core`: its doctests are `extras`, and importing it may need what core lacks
    return None


_NEEDS = ("keras", "extras", "slow")


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, DoctestItem) and _KERAS.search(_text(Path(item.path))):
            item.add_marker(pytest.mark.keras)
        if isinstance(item, DoctestItem) and _EXTRAS.search(_text(Path(item.path))):
            item.add_marker(pytest.mark.extras)
        if not any(item.get_closest_marker(m) for m in _NEEDS):
            item.add_marker(pytest.mark.core)
