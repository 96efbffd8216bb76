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
    return math.isfinite(np.vdot(array, array)) or bool(np.isfinite(array).all())
