"""Safe arithmetic expressions for spec values: a tokenizer, a Pratt parser and an evaluator.

A spec value that is a string starting with `$` is an expression::

    filters: $filters * 4           strides: $2 if i == 0 else 1
    filters: $in.channels // 2      units: $make_divisible(1280 * width)

No Python `eval`: only numbers, strings, booleans, names bound by the caller (block parameters,
top-level parameters, the repeat index `i`, the shapes `in` and `prev`), arithmetic, comparisons,
`and`/`or`/`not`, `a if cond else b`, indexing, attribute access on shapes and a fixed set of functions.
Errors carry the character offset so diagnostics point inside the YAML scalar.

>>> evaluate("filters * 4", {"filters": 16})
64
>>> evaluate("2 if i == 0 else 1", {"i": 3})
1
>>> evaluate("make_divisible(32 * 0.35)", {})
16
"""
from __future__ import annotations

import math
import re

from ..fast.dataclasses_lite import Record


class Budget:
    """What the expressions of one spec may cost: `size` bounds every intermediate value (the bits of an
    integer, the characters of a string, the items of a list, nested lists counted in full) and `work`
    the total number of tokens evaluated, over all the spec's expressions. Both are `--limit`s
    (max_expr_size, max_expr_work); crossing one is the `expr-limit` error at the expression."""

    __slots__ = ("size", "left", "work", "spent")

    def __init__(self, size: int = 4096, work: int = 2_000_000):
        self.size, self.work, self.left = size, work, work
        self.spent = False                   # the work limit was reported once; later expressions are skipped


def _size_error(what: str, pos: int, lim: Budget) -> "ExprError":
    return ExprError(f"{what}; expressions keep every value within {lim.size:,} bits, characters or items",
                     pos, "expr-limit", hint="raise it with --limit max_expr_size=N if the value is meant")


class ExprError(Exception):
    def __init__(self, message: str, offset: int = 0, kind: str = "expr-value", hint: str | None = None,
                 subject: str | None = None, suggestion: str | None = None):
        super().__init__(message)
        self.message, self.offset, self.kind, self.hint = message, offset, kind, hint
        self.subject, self.suggestion = subject, suggestion      # the name at fault and the likely one (data)


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\*\*|//|==|!=|<=|>=|[-+*/%()\[\],.<>])
""", re.VERBOSE)

KEYWORDS = {"and", "or", "not", "if", "else", "true", "false", "null", "True", "False", "None"}


def tokenize(text: str):
    pos, out = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"unexpected character '{text[pos]}'", pos, "expr-syntax")
        kind = m.lastgroup
        if kind != "ws":
            out.append((kind, m.group(), pos))
        pos = m.end()
    out.append(("end", "", len(text)))
    return out


# binding powers for infix operators
_INFIX = {"if": 1, "or": 2, "and": 3, "==": 5, "!=": 5, "<": 5, "<=": 5, ">": 5, ">=": 5,
          "+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7, "**": 9, "(": 11, "[": 11, ".": 11}


class _Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, value: str | None = None):
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            got = "the end" if tok[0] == "end" else f"'{tok[1]}'"
            raise ExprError(f"expected '{value}' but found {got}", tok[2], "expr-syntax")
        self.i += 1
        return tok

    def parse(self):
        node = self.expr(0)
        tok = self.peek()
        if tok[0] != "end":
            raise ExprError(f"unexpected '{tok[1]}'", tok[2], "expr-syntax")
        return node

    def expr(self, rbp: int):
        left = self.prefix()
        while True:
            kind, val, pos = self.peek()
            op = val if kind in ("op", "name") else None
            bp = _INFIX.get(op, 0) if op else 0
            if bp <= rbp:
                return left
            self.take()
            if op == "if":
                cond = self.expr(1)
                self.take("else")
                other = self.expr(0)
                left = ("ifelse", pos, cond, left, other)
            elif op == "(":
                args = []
                if self.peek()[1] != ")":
                    args.append(self.expr(0))
                    while self.peek()[1] == ",":
                        self.take()
                        args.append(self.expr(0))
                self.take(")")
                left = ("call", pos, left, args)
            elif op == "[":
                idx = self.expr(0)
                self.take("]")
                left = ("index", pos, left, idx)
            elif op == ".":
                name = self.take()
                if name[0] != "name":
                    raise ExprError("expected a name after '.'", name[2], "expr-syntax")
                left = ("attr", name[2], left, name[1])
            elif op == "**":
                left = ("bin", pos, op, left, self.expr(bp - 1))  # right-associative
            else:
                left = ("bin", pos, op, left, self.expr(bp))

    def prefix(self):
        kind, val, pos = self.take()
        if kind == "num":
            if any(c in val for c in ".eE"):
                return ("lit", pos, float(val))
            if len(val) > 1200:                # past 4,000 bits, and before Python's digit limit
                raise ExprError(f"the number has {len(val):,} digits; expressions read integers of up to 1,200",
                                pos, "expr-limit")
            return ("lit", pos, int(val))
        if kind == "str":
            return ("lit", pos, val[1:-1])
        if kind == "name":
            if val in ("true", "True"):
                return ("lit", pos, True)
            if val in ("false", "False"):
                return ("lit", pos, False)
            if val in ("null", "None"):
                return ("lit", pos, None)
            if val == "not":
                return ("not", pos, self.expr(4))
            if val in KEYWORDS:
                raise ExprError(f"unexpected '{val}'", pos, "expr-syntax")
            return ("name", pos, val)
        if val == "-":
            return ("neg", pos, self.expr(8))
        if val == "+":
            return self.expr(8)
        if val == "(":
            inner = self.expr(0)
            if self.peek()[1] == ",":
                items = [inner]
                while self.peek()[1] == ",":
                    self.take()
                    items.append(self.expr(0))
                self.take(")")
                return ("tuple", pos, items)
            self.take(")")
            return inner
        if val == "[":
            items = []
            if self.peek()[1] != "]":
                items.append(self.expr(0))
                while self.peek()[1] == ",":
                    self.take()
                    items.append(self.expr(0))
            self.take("]")
            return ("tuple", pos, items)
        if kind == "end":
            raise ExprError("the expression ends too early", pos, "expr-syntax")
        raise ExprError(f"unexpected '{val}'", pos, "expr-syntax")


def make_divisible(value, divisor: int = 8, min_value: int | None = None) -> int:
    """MobileNet's channel rounding: nearest multiple of `divisor`, never below 90% of `value`."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _int(x):
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"cannot convert {x} to an integer")
    return int(x)


FUNCTIONS = {
    "int": _int, "float": float, "round": round, "min": min, "max": max, "abs": abs,
    "ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "len": len, "str": str,
    "make_divisible": make_divisible,
}


class Unknown(Exception):
    """Raised when an expression reads the shape of a tensor that could not be inferred
    (an earlier mistake); the caller skips the entry silently."""


UNKNOWN = object()   # the value of a name whose definition failed (reported already): uses are skipped


class UnknownShape:
    """Stands for the shape of a tensor whose inference failed."""


class ShapeView(Record):
    """A tensor shape as expressions see it (`in.channels`, `in.height`, `in.shape[0]`). Slotted: one is
    made for every entry (`prev`)."""

    __slots__ = _fields = ("shape",)

    def __init__(self, shape: tuple):
        self.shape = shape

    def __hash__(self):
        return hash(self.shape)

    @property
    def channels(self):
        return self.shape[-1]

    @property
    def height(self):
        return self.shape[0] if len(self.shape) >= 3 else None

    @property
    def width(self):
        return self.shape[1] if len(self.shape) >= 3 else None

    @property
    def rank(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)


_SHAPE_ATTRS = ("channels", "height", "width", "rank", "size", "shape")


def _check_num(x, pos):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ExprError(f"expected a number, got {_describe(x)}", pos)
    return x


def _truth(x, pos):
    """A value tested for truth (`not x`, `x and y`, `a if x else b`): a boolean, a number or null.
    Text, lists and shapes are refused: `not 'false'` is false in Python, never what a spec means."""
    if isinstance(x, UnknownShape):
        raise Unknown()
    if isinstance(x, (str, list, tuple, ShapeView)):
        hint = (f"compare it to a value, e.g. `... == '{x}'`" if isinstance(x, str) else "compare it, e.g. `len(x) > 0`")
        raise ExprError(f"a condition should be a boolean; got {_describe(x)}", pos, hint=hint)
    return x


def _describe(x) -> str:
    if x is None:
        return "null"
    if isinstance(x, ShapeView):
        return f"a shape {x.shape}"
    if isinstance(x, UnknownShape):
        return "a shape"
    if isinstance(x, bool):
        return f"the boolean {str(x).lower()}"
    if isinstance(x, str):                  # a message quotes a long value's start, not all of it
        return f"the string '{x}'" if len(x) <= 80 else f"the string '{x[:40]}…' ({len(x):,} characters)"
    if isinstance(x, (tuple, list)):
        text = str(list(x))
        return f"the list {text}" if len(text) <= 80 else f"a list of {len(x):,} items, {text[:40]}…"
    text = f"{type(x).__name__} {x}"
    return text if len(text) <= 120 else text[:80] + "…"


def _fit(v, pos, lim):
    """`v` if it is within the size budget, else the expr-limit error (ints, strings, lists)."""
    c = v.__class__
    if c is int:
        if v.bit_length() > lim.size:
            raise _size_error(f"the result has {v.bit_length():,} bits", pos, lim)
    elif c is str:
        if len(v) > lim.size:
            raise _size_error(f"the result has {len(v):,} characters", pos, lim)
    elif c is tuple:
        if _items(v, lim.size) > lim.size:
            raise _size_error("the list is too large", pos, lim)
    elif c is complex:
        raise ExprError("the result is not a real number (a fractional power of a negative number?)", pos)
    return v


def _items(v, cap: int) -> int:
    """Items of a (nested) tuple, counted until `cap` is passed (nested lists may share parts)."""
    n = len(v)
    for x in v:
        if n > cap:
            break
        if x.__class__ is tuple:
            n += _items(x, cap - n)
    return n


def _pow(a, b, pos, lim):
    if b.__class__ is int and a.__class__ is int and b > 0 and abs(a) > 1 and \
            (a.bit_length() - 1) * b > lim.size:
        raise _size_error(f"the power has more than {lim.size:,} bits", pos, lim)
    if abs(b) > lim.size and not (a == 0 or abs(a) == 1):
        raise _size_error("the exponent is too large", pos, lim)
    return a ** b


def _round(lim, pos, x, ndigits=None):
    if ndigits.__class__ is int and abs(ndigits) > 1000:
        raise ExprError(f"round(...) with {ndigits} digits; expressions round to at most 1,000 digits either way",
                        pos, "expr-limit")
    return round(x, ndigits)


def _eval(node, env, lim):
    kind, pos = node[0], node[1]
    if kind == "lit":
        return node[2]
    if kind == "name":
        name = node[2]
        if name in env:
            if env[name] is UNKNOWN:
                raise Unknown()
            return env[name]
        if name in FUNCTIONS:
            return FUNCTIONS[name]
        from ..errors import closest, hint_for

        guess = closest(name, [k for k in env if not k.startswith("_")])
        raise ExprError(f"'{name}' is not defined here", pos, "expr-name", hint_for(guess) or
                        f"names available: {', '.join(sorted(k for k in env if not k.startswith('_'))) or 'none'}",
                        subject=name, suggestion=guess)
    if kind == "tuple":
        return _fit(tuple(_eval(n, env, lim) for n in node[2]), pos, lim)
    if kind == "neg":
        return -_check_num(_eval(node[2], env, lim), pos)
    if kind == "not":
        return not _truth(_eval(node[2], env, lim), node[2][1])
    if kind == "ifelse":
        return _eval(node[3], env, lim) if _truth(_eval(node[2], env, lim), node[2][1]) else _eval(node[4], env, lim)
    if kind == "attr":
        obj = _eval(node[2], env, lim)
        if isinstance(obj, UnknownShape) and node[3] in _SHAPE_ATTRS:
            raise Unknown()
        if isinstance(obj, ShapeView) and node[3] in _SHAPE_ATTRS:
            value = getattr(obj, node[3])
            if value is None:
                raise ExprError(f"a tensor of shape {obj.shape} has no {node[3]}", pos)
            return value
        hint = None
        if isinstance(obj, (ShapeView, UnknownShape)):
            from ..errors import did_you_mean

            hint = did_you_mean(node[3], _SHAPE_ATTRS) or "shapes have: " + ", ".join(_SHAPE_ATTRS)
        raise ExprError(f"{_describe(obj)} has no attribute '{node[3]}'", pos, hint=hint)
    if kind == "index":
        obj, idx = _eval(node[2], env, lim), _eval(node[3], env, lim)
        if isinstance(obj, UnknownShape):
            raise Unknown()
        if isinstance(obj, ShapeView):
            obj = obj.shape
        if not isinstance(obj, (tuple, list, str)) or not isinstance(idx, int) or isinstance(idx, bool):
            raise ExprError(f"cannot index {_describe(obj)} with {_describe(idx)}", pos)
        try:
            return obj[idx]
        except IndexError:
            raise ExprError(f"index {idx} is out of range for {_describe(obj)}", pos) from None
    if kind == "call":
        fn = _eval(node[2], env, lim)
        if not callable(fn) or fn not in FUNCTIONS.values():
            raise ExprError(f"{_describe(fn)} is not a function", pos)
        args = [_eval(a, env, lim) for a in node[3]]
        try:
            if fn is round:
                return _fit(_round(lim, pos, *args), pos, lim)
            return _fit(fn(*args), pos, lim)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise ExprError(f"{node[2][2]}(...) failed: {exc}", pos) from None
    if kind == "bin":
        op = node[2]
        if op == "and":
            return _truth(_eval(node[3], env, lim), node[3][1]) and _eval(node[4], env, lim)
        if op == "or":
            return _truth(_eval(node[3], env, lim), node[3][1]) or _eval(node[4], env, lim)
        a, b = _eval(node[3], env, lim), _eval(node[4], env, lim)
        if op in ("==", "!="):
            return (a == b) == (op == "==")
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return _fit(a + b, pos, lim)
        _check_num(a, node[3][1])
        _check_num(b, node[4][1])
        try:
            if op == "+": return _fit(a + b, pos, lim)
            if op == "-": return _fit(a - b, pos, lim)
            if op == "*": return _fit(a * b, pos, lim)
            if op == "/": return a / b
            if op == "//": return a // b
            if op == "%": return a % b
            if op == "**":
                return _fit(_pow(a, b, pos, lim), pos, lim)
            if op == "<": return a < b
            if op == "<=": return a <= b
            if op == ">": return a > b
            if op == ">=": return a >= b
        except ZeroDivisionError:
            raise ExprError("division by zero", pos, hint="check the divisor's value") from None
        except OverflowError:
            raise ExprError("the result is too large", pos) from None
    raise ExprError("cannot evaluate this expression", pos)  # pragma: no cover


_CACHE: dict[str, tuple] = {}


_COST: dict[str, int] = {}
DEFAULT_BUDGET_SIZE, DEFAULT_BUDGET_WORK = 4096, 2_000_000


def compile_expr(text: str):
    tree = _CACHE.get(text)
    if tree is None:
        parser = _Parser(text)
        tree = parser.parse()
        if len(_CACHE) < 10_000:
            _CACHE[text] = tree
            _COST[text] = len(parser.toks)
    return tree


def evaluate(text: str, env: dict, budget: Budget | None = None):
    """Evaluate expression `text` (without the leading `$`) with names from `env`, within `budget` (one
    per spec: its work is spent across calls; a fresh default one when None)."""
    tree = compile_expr(text)
    lim = budget if budget is not None else Budget(DEFAULT_BUDGET_SIZE, DEFAULT_BUDGET_WORK)
    lim.left -= _COST.get(text) or len(text)
    if lim.left < 0:
        if lim.spent:
            raise Unknown()                 # reported once, at the expression that crossed it
        lim.spent = True
        raise ExprError(f"the spec's expressions take more than {lim.work:,} steps to evaluate", 0, "expr-limit",
                        hint="raise it with --limit max_expr_work=N if the spec is genuine")
    value = _eval(tree, env, lim)
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError(f"the result is {value}", 0)
    return value


def names_in(text: str) -> set[str]:
    """Free names referenced by an expression (for static checks)."""
    out: set[str] = set()

    def walk(n):
        if n[0] == "name":
            out.add(n[2])
        for part in n[2:]:
            if isinstance(part, tuple) and part and isinstance(part[0], str):
                walk(part)
            elif isinstance(part, list):
                for p in part:
                    walk(p)

    walk(compile_expr(text))
    return out
