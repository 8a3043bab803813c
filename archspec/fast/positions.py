"""Compact position tables: where each value and each mapping key of a parsed spec starts.

A table answers ``table[path]`` → ``(line, column)`` for the path tuples pydantic uses in an error's
`loc` (``("model", 3, "conv2d", "filters")``), like a dict keyed by paths, but it does not store the
paths: the walk that builds the data gives every mapping and list one row of packed positions (in
one flat ``array`` of machine integers, in the container's own order), and a lookup follows the path
through the data to its container. A 100,000-layer spec thus keeps ~16 bytes per value instead of a path
tuple, a position tuple and a dict slot (~250 bytes). Writes (train config overrides) and deletes go
to a small overlay, so the table also behaves as a mutable mapping.
"""
from __future__ import annotations

from array import array
from collections.abc import MutableMapping

_SHIFT = 24                       # packed = line << 24 | column


class Rows:
    """The positions of one document, all in one flat array: {id(container): where its row starts
    and how long it is}. A mapping's row is key, value, key, value, …; a list's row is its values.
    `root` is the document's own value."""

    __slots__ = ("skeleton", "rows", "flat", "root")

    def __init__(self):
        self.skeleton = None      # the data the rows describe (kept alive: ids stay unique)
        self.rows: dict[int, int] = {}      # id(container) -> start << 24 | length
        self.flat = array("q")
        self.root = 0

    def add(self, container, row: list) -> None:
        """Record a finished container's row (packed positions in the container's order)."""
        if row:
            self.rows[id(container)] = len(self.flat) << 24 | len(row)
            self.flat.extend(row)

    def row_item(self, container, j: int) -> int:
        ref = self.rows.get(id(container))
        if ref is None or j >= ref & 0xFFFFFF:
            return 0
        return self.flat[(ref >> 24) + j]

    def container(self, path: tuple):
        """(container, index of path[-1] in it) or None."""
        cur = self.skeleton
        for part in path[:-1]:
            if cur.__class__ is dict:
                if part not in cur:
                    return None
                cur = cur[part]
            elif cur.__class__ is list and part.__class__ is int and 0 <= part < len(cur):
                cur = cur[part]
            else:
                return None
        last = path[-1]
        if cur.__class__ is dict:
            if last not in cur:
                return None
            if len(cur) < 8:
                for i, k in enumerate(cur):
                    if k == last and k.__class__ is last.__class__:
                        return cur, i
                return None
            try:
                return cur, list(cur).index(last)
            except ValueError:
                return None
        if cur.__class__ is list and last.__class__ is int and 0 <= last < len(cur):
            return cur, last
        return None


class Table(MutableMapping):
    """Value positions (``key=False``) or key positions (``key=True``) over shared Rows."""

    __slots__ = ("_rows", "_key", "_overlay", "_gone")

    def __init__(self, rows: Rows, key: bool):
        self._rows, self._key = rows, key
        self._overlay: dict = {}
        self._gone: set = set()

    def _find(self, path):
        path = tuple(path)
        if path in self._overlay:
            return self._overlay[path]
        if path in self._gone:
            return None
        rows = self._rows
        if not path:
            return None if self._key or not rows.root else _unpack(rows.root)
        if rows.skeleton is None:
            return None
        hit = rows.container(path)
        if hit is None:
            return None
        cont, i = hit
        if cont.__class__ is dict:
            j = 2 * i + (0 if self._key else 1)
        elif self._key:
            return None
        else:
            j = i
        v = rows.row_item(cont, j)
        return _unpack(v) if v else None

    def row_pos(self, container, j: int) -> int:
        """The packed position of entry `j` of `container` (its key in a key table), read straight from
        the rows without walking a path; 0 when unknown or when writes overlay the table."""
        if self._overlay or self._gone:
            return 0
        if container.__class__ is dict:
            j = 2 * j + (0 if self._key else 1)
        elif self._key:
            return 0
        return self._rows.row_item(container, j)

    def get(self, path, default=None):
        v = self._find(path)
        return default if v is None else v

    def __getitem__(self, path):
        v = self._find(path)
        if v is None:
            raise KeyError(path)
        return v

    def __contains__(self, path) -> bool:
        return self._find(path) is not None

    def __setitem__(self, path, value) -> None:
        path = tuple(path)
        self._gone.discard(path)
        self._overlay[path] = value

    def __delitem__(self, path) -> None:
        path = tuple(path)
        if self._find(path) is None:
            raise KeyError(path)
        self._overlay.pop(path, None)
        self._gone.add(path)

    def __iter__(self):
        seen = set()
        for p in self._walk():
            if p not in self._gone and p not in self._overlay and p not in seen:
                seen.add(p)
                if self._find(p) is not None:
                    yield p
        yield from list(self._overlay)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _walk(self):
        rows = self._rows
        if not self._key and rows.root:
            yield ()
        todo = [((), rows.skeleton)] if rows.skeleton is not None else []
        while todo:
            path, cur = todo.pop()
            if cur.__class__ is dict:
                for k, v in cur.items():
                    yield path + (k,)
                    todo.append((path + (k,), v))
            elif cur.__class__ is list:
                for i, v in enumerate(cur):
                    if not self._key:
                        yield path + (i,)
                    todo.append((path + (i,), v))

    def __repr__(self) -> str:
        return f"<positions of {'keys' if self._key else 'values'}: {len(self)} entries>"


def _unpack(v: int) -> tuple[int, int]:
    return v >> _SHIFT, v & ((1 << _SHIFT) - 1)
