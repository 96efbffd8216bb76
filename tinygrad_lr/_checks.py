"""Small argument checks shared by the modules above the engine."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def positive_int(value: Any, where: str, name: str) -> int:
    """Return ``value`` as an int, or raise ValueError unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def all_finite(array: np.ndarray) -> bool:
    """True when no element of ``array`` is NaN or inf."""
    # NOTE: the sum of squares is NaN or inf whenever an element is, and costs a
    # third of np.isfinite(array).all() on small arrays; only when it overflows
    # on huge but finite values is the exact check needed.
    if array.size == 1:  # a bias, a loss: cheaper as a Python float
        return math.isfinite(array.item())
    return math.isfinite(np.vdot(array, array)) or bool(np.isfinite(array).all())


def first_non_finite(values: np.ndarray) -> tuple[str, int, int] | None:
    """``("NaN" or "infinity", row, column)`` of the first bad element of the 2-D
    ``values``, or None when every element is finite."""
    finite = np.isfinite(values)
    if finite.all():
        return None
    row, column = np.argwhere(~finite)[0]
    kind = "NaN" if np.isnan(values[row, column]) else "infinity"
    return kind, int(row), int(column)


# The bits of 1.0, for each float dtype, as the unsigned integer of the same size.
_ONE_BITS = {
    np.dtype(np.float64): (np.uint64, np.float64(1.0).view(np.uint64)),
    np.dtype(np.float32): (np.uint32, np.float32(1.0).view(np.uint32)),
}


def in_unit_interval(array: np.ndarray) -> bool:
    """True when every element of the float ``array`` lies in [0, 1] (no NaN)."""
    if array.size == 0:
        return True
    # NOTE: read as unsigned integers, the bits of non-negative floats sort as the
    # floats do, and those of every negative float and every NaN sort above the
    # bits of 1.0 (the sign bit is the top bit). So one max over the bits decides,
    # at half the cost of min and max. Only -0.0, which is in [0, 1] but has the
    # sign bit, needs the exact check.
    unsigned, one = _ONE_BITS.get(array.dtype, (None, None))
    if unsigned is not None and np.maximum.reduce(array.view(unsigned), None) <= one:
        return True
    return bool(array.min() >= 0.0 and array.max() <= 1.0)
