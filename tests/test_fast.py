"""The stand-ins of archspec/fast that have no test of their own against their library: Record against
dataclasses, the position table against a dict (pydantic_lite and yaml_lite: test_pydantic_lite.py,
test_yaml_lite.py)."""
import dataclasses

import pytest

from archspec.fast.dataclasses_lite import Record
from archspec.fast.positions import Rows, Table


class Point(Record):
    __slots__ = _fields = ("x", "y", "tags")

    def __init__(self, x, y=0, tags=()):
        self.x, self.y, self.tags = x, y, tags


@dataclasses.dataclass
class DPoint:
    x: object
    y: object = 0
    tags: object = ()


@pytest.mark.parametrize("args", [(1,), (1, 2), ("a", [1, 2], ("t",)), (None, {"k": 1})])
def test_record_behaves_as_a_dataclass(args):
    r, d = Point(*args), DPoint(*args)
    assert repr(r).replace("Point(", "") == repr(d).replace("DPoint(", "")
    assert r._asdict() == dataclasses.asdict(d)
    assert (r == Point(*args)) == (d == DPoint(*args)) is True
    assert (r == Point(*args, *([0] * (3 - len(args))))._replace(x="other")) is False
    changed = r._replace(y=5)
    assert changed._asdict() == dataclasses.asdict(dataclasses.replace(d, y=5))
    assert r.__hash__ is None and DPoint.__hash__ is None          # mutable, eq without frozen: unhashable
    with pytest.raises(TypeError):
        r._replace(z=1)
    with pytest.raises(TypeError):
        dataclasses.replace(d, z=1)


def test_position_table_is_a_dict_of_paths():
    data = {"model": [{"conv2d": {"filters": 8}}, {"relu": {}}], "name": "t"}
    rows = Rows()
    rows.skeleton = data
    rows.root = 1 << 24 | 1
    rows.add(data, [1 << 24 | 1, 1 << 24 | 8, 4 << 24 | 1, 4 << 24 | 7])      # key, value, key, value
    rows.add(data["model"], [2 << 24 | 5, 3 << 24 | 5])
    rows.add(data["model"][0], [2 << 24 | 5, 2 << 24 | 14])
    rows.add(data["model"][0]["conv2d"], [2 << 24 | 15, 2 << 24 | 24])
    rows.add(data["model"][1], [3 << 24 | 5, 3 << 24 | 11])
    rows.add(data["model"][1]["relu"], [])
    values = Table(rows, key=False)
    expected = {("model",): (1, 8), ("name",): (4, 7), ("model", 0): (2, 5), ("model", 1): (3, 5),
                ("model", 0, "conv2d"): (2, 14), ("model", 0, "conv2d", "filters"): (2, 24),
                ("model", 1, "relu"): (3, 11)}
    for path, pos in expected.items():
        assert values[path] == pos
        assert values.get(path) == pos
    assert values.get(("nope",)) is None and ("model", 7) not in values
    values[("extra",)] = (9, 9)                       # writes and deletes go to an overlay, as in a dict
    assert values[("extra",)] == (9, 9)
    del values[("extra",)]
    assert ("extra",) not in values
