"""One way to turn a ``rng`` argument into a random generator."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def as_generator(rng: Any) -> np.random.Generator | np.random.RandomState:
    """Return a NumPy generator for ``rng``.

    None gives a fresh ``default_rng()``, an int seeds one, and a ``Generator`` or a
    legacy ``RandomState`` is used as it is (so ``np.random.RandomState(0)`` draws
    exactly what ``np.random.seed(0)`` followed by ``np.random.rand`` would).
    """
    if rng is None or isinstance(rng, numbers.Integral):
        return np.random.default_rng(None if rng is None else int(rng))
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    raise TypeError(
        f"rng must be None, an int, a numpy Generator or a RandomState, got"
        f" {type(rng).__name__}"
    )
