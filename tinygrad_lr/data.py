"""Data: scikit-learn's two moons, split into independent train and test draws."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from tinygrad_lr._checks import positive_int
from tinygrad_lr._random import as_generator

__all__ = ["Dataset", "batches", "moons"]


class Dataset(NamedTuple):
    """A train/test split; X arrays have shape (n, 2), y arrays shape (n,)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def moons(
    n_train: int = 500, n_test: int = 1000, noise: float = 0.1, seed: int = 0
) -> Dataset:
    """Two interleaved half circles from ``sklearn.datasets.make_moons``.

    The training and the test set are two independent draws from one
    ``np.random.RandomState(seed)``, the training set first.

    >>> data = moons(seed=0)
    >>> data.X_train.shape, data.X_test.shape
    ((500, 2), (1000, 2))
    """
    from sklearn.datasets import make_moons  # imported here: it is slow to import

    positive_int(n_train, "moons", "n_train")
    positive_int(n_test, "moons", "n_test")
    if not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
        raise ValueError(f"moons: noise must be a finite number >= 0, got {noise!r}")

    state = np.random.RandomState(seed)
    X_train, y_train = make_moons(n_train, noise=noise, random_state=state)
    X_test, y_test = make_moons(n_test, noise=noise, random_state=state)
    return Dataset(
        X_train, y_train.astype(np.float64), X_test, y_test.astype(np.float64)
    )


def batches(
    X: Any, y: Any, batch_size: int, *, shuffle: bool = True, rng: Any = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` pairs that cover every row once.

    ``X`` may be any array-like that slices, such as an ``np.memmap``: only one
    batch is read into memory at a time. Shuffled batches keep their rows in file
    order, which keeps reads from a memmap sequential. Shuffling holds one
    permutation of the row indices, 8 bytes per row, for the epoch.
    """
    n_samples = len(X)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batches: batch_size must be an int, got {batch_size!r}")
    if not batch_size >= 1:
        raise ValueError(f"batches: batch_size must be >= 1, got {batch_size}")

    order = as_generator(rng).permutation(n_samples) if shuffle else None
    for start in range(0, n_samples, batch_size):
        if order is None:
            rows: Any = slice(start, start + batch_size)
        else:
            rows = np.sort(order[start : start + batch_size])
        yield np.asarray(X[rows]), np.asarray(y[rows])
