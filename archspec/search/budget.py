"""Cost budgets: `params<=5M,macs<=600M,train_memory<=2GiB`, checked on a priced spec before anything
is built. Each metric is a registry entry (name, unit, how to read it off a loaded spec), so a new
estimate (e.g. training time) is one `register` call; nothing else parses metric names.

>>> b = parse_budget("params<=5M, macs<600M")
>>> [(c.metric.name, c.op, c.limit) for c in b]
[('params', '<=', 5000000.0), ('macs', '<', 600000000.0)]
>>> b.violations({"params": 4_000_000, "macs": 750_000_000})
{'params<=5M': -0.2, 'macs<600M': 0.25}
>>> parse_budget("memory<=1.5GiB")[0].limit
1610612736.0
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..errors import did_you_mean


class BudgetError(ValueError):
    """The --budget text is wrong (a usage error: exit status 2)."""


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str                           # "count" (K, M, G, T suffixes) or "bytes" (KB…, KiB…)
    doc: str
    field: str | None = None            # read off an archspec.Price (pricing.py) …
    read: Callable | None = None        # … or computed from the full Spec: (spec, device) -> number
    needs_device: bool = False          # a time on a device (--device)

    def measure(self, price, device=None) -> float:
        return getattr(price, self.field) if self.field else self.read(price.spec, device)


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.name in METRICS:
        raise ValueError(f"budget metric '{metric.name}' is registered twice")
    METRICS[metric.name] = metric
    return metric


def _train_batch(spec) -> int:
    b = spec.training.get("batch_size", 32)
    return b if isinstance(b, int) and b > 0 else 32


register(Metric("params", "count", "parameters, trainable and non-trainable", "params"))
register(Metric("trainable", "count", "trainable parameters", "trainable"))
register(Metric("macs", "count", "multiply-accumulates per example", "macs"))
register(Metric("flops", "count", "FLOPs per example (TensorFlow profiler's count)", "flops"))
register(Metric("layers", "count", "layers in the expanded graph", "layers"))
register(Metric("memory", "bytes", "peak activation memory of inference, batch 1, float32", "peak_bytes"))
def _estimate(spec, device=None):
    """The training estimate of one step (passes/training.py) at the spec's batch size, optimizer and
    precision; one the estimate does not know counts as Adam / float32."""
    t = spec.training
    opt = t.get("optimizer", "adam")
    opt = opt.get("name", "adam") if isinstance(opt, dict) else opt
    precision = t.get("precision", "float32")
    try:
        return spec.training_estimate(_train_batch(spec), opt if isinstance(opt, str) else "adam",
                                      precision if isinstance(precision, str) else "float32", device)
    except ValueError:
        return spec.training_estimate(_train_batch(spec), device=device)


register(Metric("train_memory", "bytes", "peak training memory of one step at the spec's batch size, optimizer and "
                "precision: weights, gradients, optimizer slots, live activations and their gradients",
                read=lambda s, device: _estimate(s).peak_bytes))
register(Metric("step_time", "seconds", "estimated time of one training step on --device (roofline of every layer's "
                "forward and backward work and the optimizer update)",
                read=lambda s, device: _estimate(s, device).step_time_s, needs_device=True))

_COUNT = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BYTES = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
          "KIB": 2 ** 10, "MIB": 2 ** 20, "GIB": 2 ** 30, "TIB": 2 ** 40}
_SECONDS = {"": 1, "S": 1, "MS": 1e-3, "US": 1e-6, "MIN": 60}
_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>|≤|≥)\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class Bound:
    metric: Metric
    op: str                             # <=, <, >=, >
    limit: float
    text: str

    def violation(self, value: float) -> float:
        """Relative distance past the bound: ≤ 0 inside it, > 0 outside (Optuna's constraint sign)."""
        scale = max(abs(self.limit), 1.0)
        if self.op in ("<=", "<"):
            v = (value - self.limit) / scale
            return v if v != 0 or self.op == "<=" else 1e-12
        v = (self.limit - value) / scale
        return v if v != 0 or self.op == ">=" else 1e-12


class Budget(list):
    """The bounds of one --budget, in the order written."""

    @property
    def text(self) -> str:
        return ",".join(b.text for b in self)

    device = None                       # a devices.Device, for the time metrics

    def measure(self, price) -> dict:
        """The metrics the budget uses, read off a candidate's archspec.Price."""
        return {b.metric.name: b.metric.measure(price, self.device) for b in self}

    def violations(self, values: dict) -> dict:
        return {b.text: round(b.violation(values[b.metric.name]), 12) for b in self}

    def over(self, values: dict) -> list[str]:
        """The bounds a candidate breaks, as text: `macs 1.2G > 600M`."""
        return [f"{b.metric.name} {_human(values[b.metric.name], b.metric.unit)} breaks {b.text}"
                for b in self if b.violation(values[b.metric.name]) > 0]


def parse_budget(text: str, device: str | None = None) -> Budget:
    """`device`: a device name (devices.py) for the time metrics."""
    out = Budget()
    if not text or not text.strip():
        raise BudgetError("the budget is empty; write e.g. \"params<=5M,macs<=600M\"")
    for item in text.split(","):
        m = _ITEM.match(item)
        if not m:
            raise BudgetError(f"cannot read '{item.strip()}'; a bound is METRIC<=NUMBER[SUFFIX], e.g. macs<=600M "
                              f"(metrics: {', '.join(METRICS)})")
        name, op, number, suffix = m.groups()
        op = {"≤": "<=", "≥": ">="}.get(op, op)
        metric = METRICS.get(name)
        if metric is None:
            hint = did_you_mean(name, METRICS)
            raise BudgetError(f"unknown metric '{name}'{'; ' + hint if hint else ''} (metrics: {', '.join(METRICS)})")
        scale = {"count": _COUNT, "bytes": _BYTES, "seconds": _SECONDS}[metric.unit].get(suffix.upper())
        if scale is None:
            units = {"count": "K, M, G, T", "bytes": "KB, MB, GB, KiB, MiB, GiB", "seconds": "s, ms, us, min"}
            kind = {"count": "count", "bytes": "size in bytes", "seconds": "time"}[metric.unit]
            raise BudgetError(f"'{suffix}' is not a unit for {name} (a {kind}; use {units[metric.unit]})")
        if metric.needs_device and device is None:
            raise BudgetError(f"{name} is a time on a device: pass --device (e.g. --device a100; see archspec report "
                              "--train --device)")
        if any(b.metric is metric and (b.op[0] == op[0]) for b in out):
            raise BudgetError(f"{name} has two {'upper' if op[0] == '<' else 'lower'} bounds")
        out.append(Bound(metric, op, float(number) * scale, item.strip().replace(" ", "")))
    if device is not None and any(b.metric.needs_device for b in out):
        from ..devices import get_device

        try:
            out.device = get_device(device)
        except ValueError as exc:
            raise BudgetError(str(exc)) from None
    return out


def _human(v: float, unit: str) -> str:
    if unit == "seconds":
        return f"{v:.3g}s" if v >= 1 else f"{v * 1e3:.3g}ms" if v >= 1e-3 else f"{v * 1e6:.3g}us"
    if unit == "bytes":
        for s, f in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
            if v >= f:
                return f"{v / f:.3g}{s}"
        return f"{v:.0f}B"
    for s, f in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= f:
            return f"{v / f:.3g}{s}"
    return f"{v:g}"
