"""Numbers for people: counts in K/M/G/T, bytes in KiB/MiB/GiB, and integers too large for a float as
powers of two. A leaf: reports, diagrams, diffs and the compile stage's memory check all print with it.

>>> human(387_609_600), human(780.9e6, "FLOPs"), human(640), human_bytes(3 * 2 ** 20), human(2 ** 1240)
('387.61 M', '780.90 MFLOPs', '640', '3.0 MiB', '~2**1240')
"""
from __future__ import annotations


def past_float(n) -> str | None:
    """An integer too large for a float (a hostile 2**1240-element tensor) as a power of two, else None."""
    if n.__class__ is int and abs(n) >= 2 ** 1000:
        return f"{'-' if n < 0 else ''}~2**{abs(n).bit_length() - 1}"
    return None


def human(n: float, unit: str = "") -> str:
    big = past_float(n)
    if big:
        return f"{big} {unit}".rstrip()
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}".rstrip() if unit else f"{n:,.0f}"


def human_bytes(n: float) -> str:
    for div, suffix in ((2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB")):
        if n >= div:
            if past_float(n):
                return f"{past_float(n)} B"
            return f"{n / div:.1f} {suffix}"
    return f"{n:.0f} B"
