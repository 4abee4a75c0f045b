"""What every command shares: the program's name, the usage error, and the argument types.

Each argument type raises ``argparse.ArgumentTypeError`` with a message
naming the value, which argparse reports as a one-line usage error.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["PROG", "UsageError", "layer_sizes", "nonnegative_float", "positive_float"]

PROG = "tinygrad-nn" if os.path.basename(sys.argv[0]).startswith("tinygrad-nn") else "python -m tinygrad_nn"
"""The name errors and ``--help`` use: how the user ran us."""

Subcommands = Any  # argparse's _SubParsersAction, which is private


class UsageError(Exception):
    """Bad command-line arguments: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def layer_sizes(text: str) -> list[int]:
    """``"4,10,3"`` -> [4, 10, 3]: at least two positive ints (input size, ..., output size)."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"invalid layer sizes {text!r}: expected comma-separated positive integers such as 4,10,3"
        )
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(
            f"invalid layer sizes {text!r}: need at least an input and an output size, such as 4,3"
        )
    return [int(p) for p in parts]


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _int_at_least(low: int) -> Callable[[str], int]:
    """The argument type of an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse
