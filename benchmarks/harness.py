"""Timing, statistics, targets and tables for the benchmark suite.

Every figure is a time per call. A *block* runs a function ``number`` times
back to back between two ``time.perf_counter()`` readings; a measurement is
``repeats`` blocks, summarized by their median and their min-max spread.
Functions measured together are interleaved block by block (A B C A B C ...),
so a drift of the machine (clock frequency, another process) hits each of
them alike and the ratios between them stay fair. Ratios are taken between
medians; the spread shown with a ratio is the min-max of the per-repeat ratios
of paired blocks.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stats:
    """Per-call times (seconds) of ``repeats`` blocks of ``number`` calls each."""

    times: tuple[float, ...]
    number: int

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def max(self) -> float:
        return max(self.times)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median,
            "min_s": self.min,
            "max_s": self.max,
            "repeats": len(self.times),
            "number": self.number,
        }


def calibrate(fn: Callable[[], Any], block_s: float, max_number: int = 1_000_000) -> int:
    """How many back-to-back calls of ``fn`` take about ``block_s`` seconds (at least 1).

    Calls ``fn`` at least once, so it doubles as a warm-up.
    """
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= 0.2 * block_s or n >= max_number:
            return max(1, min(max_number, math.ceil(n * block_s / max(dt, 1e-9))))
        n *= 10


def measure(
    fns: Mapping[str, Callable[[], Any]],
    repeats: int,
    block_s: float,
    *,
    numbers: Mapping[str, int] | None = None,
    warmup: int = 1,
    gc_off: Collection[str] = (),
) -> dict[str, Stats]:
    """Time every function of ``fns``, interleaved, and return its :class:`Stats` by name.

    ``numbers`` fixes the calls per block for some functions (the others are
    calibrated to ``block_s``, which also warms them up); those get
    ``warmup`` untimed calls first. Functions named in ``gc_off`` run with
    the cyclic garbage collector disabled; all others run with it on, as
    users run them. After every block, outside the timed region, a full
    collection clears the garbage the block left, so no function pays for
    another's cycles.
    """
    numbers = dict(numbers or {})
    for name, fn in fns.items():
        if name in numbers:
            for _ in range(warmup):
                _run_block(fn, 1, name in gc_off)
        else:
            numbers[name] = calibrate(fn, block_s)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            n = numbers[name]
            times[name].append(_run_block(fn, n, name in gc_off) / n)
    return {name: Stats(tuple(ts), numbers[name]) for name, ts in times.items()}


def _run_block(fn: Callable[[], Any], n: int, gc_disabled: bool) -> float:
    was_enabled = gc.isenabled()
    if gc_disabled:
        gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - t0
    finally:
        if gc_disabled and was_enabled:
            gc.enable()
        gc.collect()


def ratio(a: Stats, b: Stats) -> dict[str, float]:
    """median(a) / median(b), with the min-max of the paired per-repeat ratios.

    ``of_mins`` = min(a) / min(b), the best case of each: interference from
    other processes only ever adds time, so on a busy machine it is the
    steadier estimate of the intrinsic ratio.
    """
    pairs = [x / y for x, y in zip(a.times, b.times, strict=True)]
    return {"median": a.median / b.median, "min": min(pairs), "max": max(pairs), "of_mins": a.min / b.min}


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------


@dataclass
class Target:
    """One of the issue's targets: ``value <= limit`` (or ``>=``); value None means not measured.

    ``value`` is the median-based figure the target is judged on; ``best``,
    for timed targets, the same figure from the fastest repeats (shown
    beside it, never judged).
    """

    section: str
    name: str
    value: float | None
    limit: float
    direction: str  # "<=" or ">="
    unit: str
    note: str = ""
    best: float | None = None

    @property
    def met(self) -> bool | None:
        if self.value is None or math.isnan(self.value):
            return None
        return self.value <= self.limit if self.direction == "<=" else self.value >= self.limit

    @property
    def status(self) -> str:
        return {True: "MET", False: "MISSED", None: "n/a"}[self.met]

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "value": self.value,
            "limit": self.limit,
            "direction": self.direction,
            "unit": self.unit,
            "met": self.met,
            "status": self.status,
            "note": self.note,
            "best": self.best,
        }

    def describe_limit(self) -> str:
        return f"{self.direction} {fmt_value(self.limit, self.unit)}"

    def describe_value(self) -> str:
        return "-" if self.value is None else fmt_value(self.value, self.unit)

    def describe_best(self) -> str:
        return "" if self.best is None else fmt_value(self.best, self.unit)


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------

_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns"))


def _time_unit(seconds: float) -> tuple[float, str]:
    for scale, name in _TIME_UNITS:
        if abs(seconds) >= scale:
            return scale, name
    return _TIME_UNITS[-1]


def _sig(x: float) -> str:
    """Three significant figures, without exponent notation for ordinary magnitudes."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    digits = max(0, 2 - math.floor(math.log10(abs(x))))
    return f"{x:.{digits}f}"


def fmt_time(seconds: float) -> str:
    scale, unit = _time_unit(seconds)
    return f"{_sig(seconds / scale)} {unit}"


def fmt_stats(st: Stats | None) -> str:
    """``median [min-max] unit`` with one unit for all three."""
    if st is None:
        return "-"
    scale, unit = _time_unit(st.median)
    return f"{_sig(st.median / scale)} [{_sig(st.min / scale)}-{_sig(st.max / scale)}] {unit}"


def fmt_ratio(r: Mapping[str, float] | None) -> str:
    if r is None:
        return "-"
    return f"{r['median']:.2f}x [{r['min']:.2f}-{r['max']:.2f}]"


def fmt_bytes(n: float) -> str:
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if abs(n) >= scale:
            return f"{_sig(n / scale)} {unit}"
    return f"{n:.0f} B"


def fmt_value(x: float, unit: str) -> str:
    if unit == "x":
        return f"{x:.2f}x"
    if unit == "s":
        return fmt_time(x)
    if unit == "B":
        return fmt_bytes(x)
    return f"{_sig(x)} {unit}".rstrip()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: columns padded to their widest cell."""
    cells = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
