"""What a gradient check finds: the comparison of two Jacobians, its report and its error.

An element passes when ``|autograd − numeric| <= atol + rtol·|numeric|``;
the *worst* element is the one furthest outside (or least inside) that
band, measured in multiples of the band's width. The relative error shown
is ``|a − n| / max(|a|, |n|, atol)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["GradcheckError", "GradcheckReport", "InputCheck", "format_table"]


@dataclass(frozen=True)
class InputCheck:
    """The comparison for one checked input (or one parameter of a module).

    ``analytic`` and ``numeric`` are the derivative of the checked output
    with respect to this input, of shape ``output_shape + input_shape``
    (``output_shape`` is ``()`` for a single-element output and for the
    random projection). ``worst_index`` is an index into the input,
    ``worst_output_index`` the output element it was differentiated from
    (``()`` for a scalar or projected output).
    """

    name: str
    shape: tuple[int, ...]
    analytic: np.ndarray
    numeric: np.ndarray
    atol: float
    rtol: float
    vectorized: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    worst_output_index: tuple[int, ...]
    worst_analytic: float
    worst_numeric: float
    num_failed: int
    passed: bool

    @property
    def size(self) -> int:
        """Number of elements of the checked input."""
        return int(np.prod(self.shape, dtype=np.int64))

    def __bool__(self) -> bool:
        return self.passed


def _compare(
    name: str,
    analytic: np.ndarray,
    numeric: np.ndarray,
    out_shape: tuple[int, ...],
    in_shape: tuple[int, ...],
    atol: float,
    rtol: float,
    vectorized: bool,
) -> InputCheck:
    """Element-wise comparison of two (outputs, input elements) matrices."""
    a = analytic.reshape(-1)
    n = numeric.reshape(-1)
    with np.errstate(all="ignore"):
        diff = a - n
        if atol > 0 and np.isfinite(diff).all():
            # The usual case (a and n finite, every denominator >= atol > 0): the
            # general formulas below give the same numbers with fewer passes.
            abs_err = np.abs(diff)
            abs_n = np.abs(n)
            rel_err = abs_err / np.maximum(np.maximum(np.abs(a), abs_n), atol)
            band = atol + rtol * abs_n
            ok = abs_err <= band
            badness = abs_err / band
        else:
            finite = np.isfinite(a) & np.isfinite(n)
            # Anything non-finite is a failure: a gradient check at such a point means nothing.
            abs_err = np.where(finite, np.abs(diff), np.inf)
            scale = np.where(finite, np.maximum(np.abs(a), np.abs(n)), 0.0)
            denom = np.maximum(scale, atol)
            rel_err = np.where(abs_err == 0, 0.0, abs_err / np.where(denom > 0, denom, 1.0))
            rel_err = np.where((denom == 0) & (abs_err > 0), np.inf, rel_err)
            band = atol + rtol * np.where(finite, np.abs(n), 0.0)
            ok = abs_err <= band
            badness = np.where(abs_err == 0, 0.0, abs_err / np.where(band > 0, band, 1.0))
            badness = np.where((band == 0) & (abs_err > 0), np.inf, badness)
    if a.size == 0:
        return InputCheck(name, in_shape, analytic, numeric, atol, rtol, vectorized,
                          0.0, 0.0, (), (), math.nan, math.nan, 0, True)  # fmt: skip
    worst = int(np.argmax(badness))
    n_in = max(int(np.prod(in_shape, dtype=np.int64)), 1)
    out_flat, in_flat = divmod(worst, n_in)
    return InputCheck(
        name=name,
        shape=in_shape,
        analytic=analytic.reshape(out_shape + in_shape),
        numeric=numeric.reshape(out_shape + in_shape),
        atol=atol,
        rtol=rtol,
        vectorized=vectorized,
        max_abs_error=float(np.max(abs_err)),
        max_rel_error=float(np.max(rel_err)),
        worst_index=tuple(int(i) for i in np.unravel_index(in_flat, in_shape)) if in_shape else (),
        worst_output_index=tuple(int(i) for i in np.unravel_index(out_flat, out_shape)) if out_shape else (),
        worst_analytic=float(a[worst]),
        worst_numeric=float(n[worst]),
        num_failed=int(np.count_nonzero(~ok)),
        passed=bool(ok.all()),
    )


class GradcheckReport:
    """Outcome of :func:`gradcheck` / :func:`gradcheck_module`: truthy when every element passed.

    Index it by position or by name (``report["0.weight"]``) to get an
    :class:`InputCheck`; ``str(report)`` is a small table.
    """

    def __init__(
        self,
        checks: Sequence[InputCheck],
        *,
        method: str,
        eps: float,
        atol: float,
        rtol: float,
        output_shape: tuple[int, ...],
        jacobian: str,
        entry: str = "input",
    ) -> None:
        self.checks = list(checks)
        self.entry = entry  # what the checks are of: "input" or "parameter"
        self.method = method
        self.eps = eps
        self.atol = atol
        self.rtol = rtol
        self.output_shape = output_shape
        self.jacobian = jacobian

    @property
    def passed(self) -> bool:
        """Whether every element of every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[InputCheck]:
        """The checks that failed, in order."""
        return [c for c in self.checks if not c.passed]

    @property
    def max_abs_error(self) -> float:
        """The largest absolute error over all checks (0 for none)."""
        return max((c.max_abs_error for c in self.checks), default=0.0)

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over all checks (0 for none)."""
        return max((c.max_rel_error for c in self.checks), default=0.0)

    def __bool__(self) -> bool:
        return self.passed

    def __len__(self) -> int:
        return len(self.checks)

    def __iter__(self) -> Iterator[InputCheck]:
        return iter(self.checks)

    def __getitem__(self, key: int | str) -> InputCheck:
        if isinstance(key, str):
            for c in self.checks:
                if c.name == key:
                    return c
            raise KeyError(f"gradcheck report: no input named {key!r} (have {[c.name for c in self.checks]})")
        return self.checks[key]

    def __repr__(self) -> str:
        state = "passed" if self.passed else f"FAILED ({len(self.failures)} of {len(self.checks)} inputs)"
        return f"<GradcheckReport {state}, max abs error {self.max_abs_error:.3g}>"

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        how = "full Jacobian" if self.jacobian == "full" else "random projection of the output"
        head = (
            f"gradcheck {verdict}: {self.method} differences, eps={self.eps:g}, "
            f"atol={self.atol:g}, rtol={self.rtol:g}; output shape {self.output_shape} ({how})"
        )
        rows = [
            [self.entry, "shape", "max abs err", "max rel err", "worst element", "autograd", "numeric", "ok"]
        ]
        for c in self.checks:
            where_ = str(c.worst_index) if c.worst_index else "()"
            if c.worst_output_index:
                where_ += f" of output {c.worst_output_index}"
            rows.append([
                c.name,
                str(c.shape),
                f"{c.max_abs_error:.2e}",
                f"{c.max_rel_error:.2e}",
                where_ if c.size else "-",
                f"{c.worst_analytic:.10g}",
                f"{c.worst_numeric:.10g}",
                "yes" if c.passed else f"NO ({c.num_failed} bad)",
            ])  # fmt: skip
        return head + "\n" + format_table(rows)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree; ``.report`` holds the details."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(str(report))
        self.report = report


def _finish(
    checks: list[InputCheck],
    method: str,
    eps: float,
    atol: float,
    rtol: float,
    out_shape: tuple[int, ...],
    jacobian: str,
    raise_exception: bool,
    entry: str = "input",
) -> GradcheckReport:
    """The report of ``checks``; raises :class:`GradcheckError` on a failure if ``raise_exception``."""
    report = GradcheckReport(
        checks,
        method=method,
        eps=eps,
        atol=atol,
        rtol=rtol,
        output_shape=out_shape,
        jacobian=jacobian,
        entry=entry,
    )
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report
