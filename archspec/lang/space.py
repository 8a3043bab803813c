"""Search spaces: top-level parameters that range over several values.

A declaration in `params:` may name a set of values instead of one::

    params:
      width: {choice: [16, 32, 48, 64], default: 32}   # one of a list
      depth: {range: [1, 4]}                            # an integer range (step 1)
      units: {range: [32, 256], step: 32}               # … with a step
      lr:    {range: [1.0e-4, 1.0e-2], log: true}       # a float range, sampled on a log scale
      stem:  {one_of: [conv_stem, pool_stem]}           # a block choice: `- $stem: {...}` calls it

The spec then describes a family of networks; its *default point* (each parameter's `default`, else the
first choice / the low end of the range) is what `check`, `report` and `draw` see. A point is applied
like `--set` overrides, so every other stage is unchanged. `suggest(trial)` asks an Optuna trial (or
:class:`RandomTrial`, the same interface without Optuna) for one point.
"""
from __future__ import annotations

import json
import math

from ..errors import did_you_mean
from ..fast.dataclasses_lite import Record

KINDS = ("choice", "range", "one_of")
FIELDS = ("choice", "range", "one_of", "step", "log", "default", "doc", "type")


class Dim(Record):
    """One searched parameter: kind "choice" | "int" | "float" | "block"; values — the choices or block
    names; low, high, step, log — a range; default; path — where it is declared (not compared)."""

    __slots__ = _fields = ("name", "kind", "values", "low", "high", "step", "log", "default", "path")
    _compare = ("name", "kind", "values", "low", "high", "step", "log", "default")

    def __init__(self, name: str, kind: str, values: tuple = (), low: float = 0, high: float = 0,
                 step: float | None = None, log: bool = False, default: object = None, path: tuple = ()):
        for f, v in zip(self._fields, (name, kind, values, low, high, step, log, default, path)):
            object.__setattr__(self, f, v)

    def __setattr__(self, name, value):
        raise AttributeError(f"Dim is frozen: cannot assign {name}")

    def __hash__(self):
        return hash(tuple(getattr(self, f) for f in self._compare))

    @property
    def size(self) -> int | None:
        """Number of points, None for a continuous range."""
        if self.kind in ("choice", "block"):
            return len(self.values)
        if self.kind == "int":
            return (int(self.high) - int(self.low)) // int(self.step or 1) + 1
        if self.step:
            return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return None

    @property
    def ptype(self) -> str:
        """The parameter type the rest of the language checks values against."""
        if self.kind == "int":
            return "int"
        if self.kind == "float":
            return "number"
        if self.kind == "block":
            return "str"
        return "any"

    def problem(self, v) -> str | None:
        """Why `v` is not a point of this dimension (None if it is)."""
        if self.kind in ("choice", "block"):
            return None if any(_same(v, c) for c in self.values) else f"expected one of {self.describe()}, got {_text(v)}"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"expected a number in {self.describe()}, got {_text(v)}"
        if self.kind == "int" and not float(v).is_integer():
            return f"expected a whole number in {self.describe()}, got {_text(v)}"
        if not self.low <= v <= self.high:
            return f"{_text(v)} is outside {self.describe()}"
        if self.step and not _on_grid(v - self.low, self.step):
            return f"{_text(v)} is not on the grid {self.describe()}"
        return None

    def describe(self) -> str:
        if self.kind in ("choice", "block"):
            return " | ".join(_text(v) for v in self.values)
        text = f"{_text(self.low)}..{_text(self.high)}"
        if self.step and not (self.kind == "int" and self.step == 1):
            text += f" step {_text(self.step)}"
        return text + (" log" if self.log else "")

    def grid(self) -> list | None:
        """Every value, as `suggest` asks for them (None for a continuous range)."""
        if self.size is None:
            return None
        if self.kind in ("choice", "block"):
            if all(v is None or isinstance(v, (bool, int, float, str)) for v in self.values):
                return list(self.values)
            return [json.dumps(v) for v in self.values]
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        return [float(f"{self.low + k * self.step:.12g}") for k in range(self.size)]

    def suggest(self, trial):
        """Ask an Optuna trial (or a RandomTrial) for a value."""
        if self.kind == "block":
            return trial.suggest_categorical(self.name, list(self.values))
        if self.kind == "choice":
            if all(v is None or isinstance(v, (bool, int, float, str)) for v in self.values):
                return trial.suggest_categorical(self.name, list(self.values))
            labels = [json.dumps(v) for v in self.values]          # Optuna stores scalars only
            return json.loads(trial.suggest_categorical(self.name, labels))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)


class SearchSpace(dict):
    """name -> Dim, in declaration order."""

    @property
    def size(self) -> int | None:
        n = 1
        for d in self.values():
            if d.size is None:
                return None
            n *= d.size
        return n

    def suggest(self, trial) -> dict:
        return {name: d.suggest(trial) for name, d in self.items()}

    def summary(self) -> str:
        """`3 parameters, 48 points (width: 16 | 32 | 48 | 64; depth: 1..3; …)`."""
        size = self.size
        n = len(self)
        points = f"{size:,} point{'s' * (size != 1)}" if size is not None else "continuous"
        dims = "; ".join(f"{k}: {d.describe()}" for k, d in self.items())
        return f"{n} parameter{'s' * (n != 1)}, {points} ({dims})"


class RandomTrial:
    """Optuna's suggest_* interface over Python's `random`, for `archspec sample` (no Optuna needed).
    Uniform over choices and grids; log ranges uniform in the logarithm."""

    def __init__(self, seed: int | None):
        import random

        self.rng = random.Random(seed)
        self.params: dict = {}

    def suggest_categorical(self, name, choices):
        self.params[name] = v = self.rng.choice(list(choices))
        return v

    def suggest_int(self, name, low, high, step=1, log=False):
        if log:
            v = int(round(math.exp(self.rng.uniform(math.log(low), math.log(high + 1)) ) - 0.5))
            v = min(max(v, low), high)
        else:
            v = self.rng.randrange(low, high + 1, step)
        self.params[name] = v
        return v

    def suggest_float(self, name, low, high, step=None, log=False):
        if log:
            v = math.exp(self.rng.uniform(math.log(low), math.log(high)))
        elif step:
            v = low + step * self.rng.randrange(int(math.floor((high - low) / step + 1e-9)) + 1)
            v = float(f"{v:.12g}")
        else:
            v = self.rng.uniform(low, high)
        self.params[name] = v
        return v


def is_space(decl) -> bool:
    return isinstance(decl, dict) and any(k in decl for k in KINDS)


def parse_dim(name: str, decl: dict, path: tuple, names: list, error) -> Dim | None:
    """Validate one declaration; report each mistake with `error(message, path, hint, key=False)`.
    `names` are the block and op names a `one_of` may pick from."""
    ok = True
    for key in decl:
        if key not in FIELDS:
            error(f"unknown field '{key}' in the search space of '{name}'", path + (key,),
                  did_you_mean(str(key), FIELDS) or "a searched parameter has choice | range | one_of, step, log, "
                  "default, doc", True)
            ok = False
    kinds = [k for k in KINDS if k in decl]
    if len(kinds) > 1:
        error(f"'{name}' declares both {kinds[0]} and {kinds[1]}; a parameter is one kind of search space",
              path + (kinds[1],), "keep one of choice, range, one_of", True)
        return None
    kind = kinds[0]
    raw = decl[kind]
    extra = [k for k in ("step", "log") if k in decl and kind != "range"]
    for k in extra:
        error(f"'{k}' applies to a range, not to {kind}", path + (k,), None, True)
        ok = False
    if "type" in decl and decl["type"] not in ("int", "float", "number"):
        error(f"a searched parameter's type follows its values; got type {_text(decl['type'])}", path + ("type",),
              "leave out `type`, or write int / float for a range", False)
        ok = False
    if kind in ("choice", "one_of"):
        if not isinstance(raw, list) or not raw:
            error(f"'{kind}' is a non-empty list of values; got {_text(raw)}", path + (kind,),
                  f"write e.g. `{kind}: {'[32, 48, 64]' if kind == 'choice' else '[block_a, block_b]'}`", False)
            return None
        for i, v in enumerate(raw):
            if any(_same(v, w) for w in raw[:i]):
                error(f"the value {_text(v)} appears twice in '{name}'", path + (kind, i), None, False)
                ok = False
        if kind == "one_of":
            for i, v in enumerate(raw):
                if not isinstance(v, str) or v not in names:
                    error(f"one_of names blocks (or ops); {_text(v)} is neither", path + (kind, i),
                          (did_you_mean(v, names) if isinstance(v, str) else None) or "list block names defined "
                          "under `blocks:` (or included)", False)
                    ok = False
        if not ok:
            return None
        dim = Dim(name, "block" if kind == "one_of" else "choice", tuple(raw), path=path)
        dim = _with_default(dim, decl, raw[0], path, error)
        return dim
    # a range
    nums = isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                          for v in raw)
    if not nums:
        error(f"'range' is [low, high], two numbers; got {_text(raw)}", path + ("range",),
              "write e.g. `range: [1, 4]` or `range: [1.0e-4, 1.0e-2], log: true`", False)
        return None
    low, high = raw
    if not low < high:
        error(f"a range needs low < high; got [{_text(low)}, {_text(high)}]", path + ("range",), None, False)
        return None
    step, log = decl.get("step"), decl.get("log", False)
    if not isinstance(log, bool):
        error(f"'log' is true or false; got {_text(log)}", path + ("log",), None, False)
        return None
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
        error(f"'step' is a positive number; got {_text(step)}", path + ("step",), None, False)
        return None
    want = decl.get("type")
    is_int = want == "int" or (want is None and isinstance(low, int) and isinstance(high, int)
                               and (step is None or isinstance(step, int)))
    if is_int and not all(float(v).is_integer() for v in (low, high, step or 1)):
        error(f"an int range needs whole numbers; got [{_text(low)}, {_text(high)}]"
              + (f" step {_text(step)}" if step else ""), path + ("range",), None, False)
        return None
    if log and low <= 0:
        error(f"a log range needs low > 0; got {_text(low)}", path + ("range", 0), None, False)
        return None
    if log and step is not None and not (is_int and step == 1):
        error("'log' and 'step' cannot be combined (Optuna samples a log range continuously)", path + ("step",),
              "drop the step, or drop log", True)
        return None
    if step is not None and step > high - low:
        error(f"the step {_text(step)} is larger than the range [{_text(low)}, {_text(high)}]", path + ("step",), None,
              False)
        return None
    if is_int:
        dim = Dim(name, "int", low=int(low), high=int(high), step=int(step or 1), log=log, path=path)
        if step and (int(high) - int(low)) % int(step):
            dim = Dim(name, "int", low=int(low), high=int(low) + (int(high) - int(low)) // int(step) * int(step),
                      step=int(step), log=log, path=path)
    else:
        dim = Dim(name, "float", low=float(low), high=float(high), step=float(step) if step else None, log=log, path=path)
    if not ok:
        return None
    return _with_default(dim, decl, dim.low, path, error)


def _with_default(dim: Dim, decl: dict, first, path, error) -> Dim | None:
    default = decl.get("default", first)
    problem = dim.problem(default)
    if problem:
        error(f"the default of '{dim.name}' is not in its search space: {problem}", path + ("default",), None, False)
        return None
    if dim.kind == "int":
        default = int(default)
    return Dim(dim.name, dim.kind, dim.values, dim.low, dim.high, dim.step, dim.log, default, dim.path)


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                             and not isinstance(a, bool) and not isinstance(b, bool) and a == b)


def _on_grid(offset: float, step: float) -> bool:
    k = offset / step
    return abs(k - round(k)) < 1e-9 * max(1.0, abs(k))


def _text(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return f"{v:g}"
    return json.dumps(v)
