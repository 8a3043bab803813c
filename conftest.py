"""Collection rules for the whole repository: the doctests in archspec/ run with the tests (pyproject's
testpaths); those of modules that import Keras belong to the `keras` group like the parity tests. A module
without doctests is not imported for them at all, nor one importing Keras (seconds) in a run that leaves
`keras` out."""
import re
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

PACKAGE = Path(__file__).resolve().parent / "archspec"
_KERAS = re.compile(r"^\s*(import keras|from keras|>>> import keras)", re.M)
_TOP_KERAS = re.compile(r"^(import keras|from keras|from \S*keras_layers import)", re.M)
_seen: dict = {}


def _text(path: Path) -> str:
    if path not in _seen:
        _seen[path] = path.read_text(encoding="utf-8")
    return _seen[path]


def pytest_ignore_collect(collection_path, config):
    path = Path(collection_path)
    if path.suffix != ".py" or not path.is_relative_to(PACKAGE):
        return None
    if ">>>" not in _text(path):
        return True
    if _TOP_KERAS.search(_text(path)) and "not keras" in (config.getoption("markexpr") or ""):
        return True
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, DoctestItem) and _KERAS.search(_text(Path(item.path))):
            item.add_marker(pytest.mark.keras)
