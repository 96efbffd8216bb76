"""fit(): the training loop, full-batch or mini-batch.

>>> import numpy as np
>>> from tinygrad_lr import nn, optim
>>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
>>> y = np.array([1.0, 0.0, 1.0, 0.0])
>>> model = nn.LogisticRegression(2, rng=0)
>>> history = fit(model, X, y, optimizer=optim.SGD(model.parameters(), lr=0.5),
...               epochs=50)
>>> len(history.loss), history.loss[-1] < history.loss[0]
(50, True)
"""

from __future__ import annotations

import logging
import math
import numbers
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygrad_lr import functional as F
from tinygrad_lr._checks import first_non_finite, positive_int
from tinygrad_lr._random import as_generator
from tinygrad_lr.data import batches
from tinygrad_lr.nn.module import Module
from tinygrad_lr.optim import Optimizer
from tinygrad_lr.tensor import DTypeError, Tensor, no_grad

__all__ = ["History", "fit"]

logger = logging.getLogger(__name__)

LossFunction = Callable[[Tensor, Tensor], Tensor]

# fit warns, once, when an epoch's loss exceeds DIVERGED times the loss of the
# first step, or times CHANCE (the loss of predicting 0.5 for every sample) if
# that is larger.
DIVERGED = 100.0
CHANCE = math.log(2.0)


@dataclass
class History:
    """What happened during :func:`fit`, one entry per epoch.

    Attributes
    ----------
    loss : list of float
        Mean training loss of the epoch's batches, each computed before its step.
    val_loss, val_accuracy : list of float
        Loss and accuracy on ``validation_data`` after each epoch (empty without it).
    seconds : float
        Wall-clock time of the whole fit.
    """

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _real(array: Any, name: str, where: str, hint: str = "") -> Any:
    """``array`` if it holds bools, ints, float32 or float64; an object array of
    real numbers as float64; a DTypeError naming the dtype for anything else."""
    kind = array.dtype.kind
    if kind in "biu" or array.dtype in (np.float32, np.float64):
        return array
    if kind == "O":
        bad = [value for value in array.flat if not isinstance(value, numbers.Real)]
        if not bad:
            return array.astype(np.float64)
        raise DTypeError(
            f"{where}: cannot convert {name} of dtype object to float64 (element"
            f" {bad[0]!r}){hint}"
        )
    if kind == "f":
        raise DTypeError(
            f"{where}: {name} has dtype {array.dtype}; convert it to float32 or float64"
        )
    if kind == "c":
        raise DTypeError(
            f"{where}: {name} has dtype {array.dtype}; complex data not supported"
        )
    raise DTypeError(
        f"{where}: {name} has dtype {array.dtype}; expected real numbers{hint}"
    )


def _check_data(X: Any, y: Any, where: str) -> tuple[Any, np.ndarray]:
    """Validate shapes and labels once; X may be a memmap and is not copied."""
    if isinstance(X, Tensor):
        X = X.data
    elif not hasattr(X, "shape") or not hasattr(X, "__getitem__"):
        X = np.asarray(X)
    if hasattr(X, "dtype"):  # without one, each chunk is checked as it is read
        X = _real(X, "X", where)
    labels = (
        "; encode labels as 0 and 1, or use an estimator, which takes any two labels"
    )
    y = np.asarray(_real(np.asarray(y), "y", where, labels), dtype=np.float64)
    if len(X.shape) != 2:
        hint = (
            "; use X.reshape(-1, 1) for a single feature" if len(X.shape) == 1 else ""
        )
        raise ValueError(
            f"{where}: expected 2-D X of shape (n_samples, n_features), got shape"
            f" {tuple(X.shape)}{hint}"
        )
    if y.ndim != 1:
        raise ValueError(
            f"{where}: expected 1-D y of shape (n_samples,), got {y.shape}"
        )
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{where}: X has {X.shape[0]} samples but y has {y.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError(
            f"{where}: X has 0 samples (shape {tuple(X.shape)}); at least 1 required"
        )
    if not np.isfinite(y).all():
        raise ValueError(f"{where}: y contains NaN or infinity")
    return X, y


def _check_finite(X: Any, where: str, chunk_rows: int) -> None:
    """Raise ValueError naming the first NaN or inf in X.

    X is read ``chunk_rows`` rows at a time, so that a memmap is checked without
    holding more of it in memory than one batch.
    """
    for start in range(0, X.shape[0], chunk_rows):
        values = _real(np.asarray(X[start : start + chunk_rows]), "X", where)
        bad = first_non_finite(values)
        if bad is not None:
            kind, row, column = bad
            raise ValueError(
                f"{where}: X contains {kind} (first at row {start + row}, column"
                f" {column})"
            )


class _Progress:
    """A one-line progress bar on stderr, drawn at most ten times a second."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() and total >= 20
        self.total, self.enabled, self.last = total, enabled, 0.0

    def update(self, epoch: int, loss: float) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self.last < 0.1 and epoch < self.total):
            return
        self.last = now
        filled = 30 * epoch // self.total
        bar = "#" * filled + "-" * (30 - filled)
        sys.stderr.write(f"\r[{bar}] epoch {epoch}/{self.total} loss {loss:.4f}")
        if epoch == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def fit(
    model: Module,
    X: Any,
    y: Any,
    *,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int | None = None,
    loss_fn: LossFunction = F.binary_cross_entropy_with_logits,
    rng: Any = None,
    validation_data: tuple[Any, Any] | None = None,
    callbacks: Iterable[Callable[[int, History], Any]] = (),
    progress: bool | None = None,
) -> History:
    """Train ``model`` on (X, y) with ``optimizer`` and return a :class:`History`.

    Parameters
    ----------
    model : Module
        Maps X to logits of shape (n_samples,).
    X : array-like of shape (n_samples, n_features)
        Anything that slices, an ``np.memmap`` included: mini-batches are read one
        at a time, so X need not fit in memory.
    y : array-like of shape (n_samples,)
        Targets in [0, 1], as ``loss_fn`` accepts them: soft targets and a single
        class are allowed here. The estimators in :mod:`tinygrad_lr.estimators`
        are the place for class labels; they check them as scikit-learn does.
    optimizer : Optimizer
        Updates the model's parameters after each batch.
    epochs : int
        Passes over the data; with ``batch_size=None`` each epoch is one
        full-batch gradient step.
    batch_size : int, optional
        Rows per mini-batch, shuffled each epoch with ``rng``; None for full batch.
    loss_fn : callable, default binary_cross_entropy_with_logits
        ``loss_fn(logits, targets)`` returning a 0-d Tensor.
    rng : None, int, Generator or RandomState
        Source of the shuffling.
    validation_data : (X_val, y_val), optional
        Evaluated after every epoch into ``val_loss`` and ``val_accuracy``.
    callbacks : iterable of callables
        Called as ``callback(epoch, history)`` after every epoch; returning True
        stops training.
    progress : bool, optional
        Draw a progress bar on stderr; by default only when stderr is a terminal.

    Raises
    ------
    ValueError
        For X or y of the wrong shape, or a NaN or inf in X, y or
        ``validation_data`` (for X, naming the first bad row and column). Every
        row is checked before the first step.
    DTypeError
        For X or y that do not hold real numbers (strings, complex numbers, or
        float16), naming the dtype.
    FloatingPointError
        When the model's output, the loss or a gradient becomes NaN or inf,
        naming the epoch and the step. The parameters are left as they were at
        that moment: a step whose gradient is not finite is never applied.

    Warns
    -----
    RuntimeWarning
        Once, when an epoch's loss exceeds 100 times the loss of the first step
        (or 100 times log 2, the loss of guessing 0.5, if that is larger):
        training is diverging, though its numbers may stay finite. Training goes
        on; a callback can stop it.
    """
    X, y = _check_data(X, y, "fit")
    epochs = positive_int(epochs, "fit", "epochs")
    if batch_size is not None:
        batch_size = positive_int(batch_size, "fit", "batch_size")
        if batch_size > X.shape[0]:
            raise ValueError(
                f"fit: batch_size must be <= n_samples ({X.shape[0]}), got {batch_size}"
            )
    # Every row is checked before the first step, so that a bad row is reported
    # with its index in X and the model is left untouched.
    chunk_rows = X.shape[0] if batch_size is None else max(batch_size, 1024)
    _check_finite(X, "fit", chunk_rows)
    if validation_data is not None:
        X_val, y_val = _check_data(*validation_data, "fit (validation_data)")
        _check_finite(X_val, "fit (validation_data)", X_val.shape[0])
    generator = as_generator(rng)
    bar = _Progress(epochs, progress)
    history = History()
    callbacks = list(callbacks)
    start = time.perf_counter()
    full_X = Tensor(np.asarray(X)) if batch_size is None else None
    full_y = Tensor(y) if batch_size is None else None

    step, diverged, first_loss = 0, False, 0.0
    for epoch in range(1, epochs + 1):
        if full_X is not None and full_y is not None:
            epoch_batches: Iterable[tuple[Any, Any]] = [(full_X, full_y)]
        else:
            epoch_batches = batches(X, y, batch_size or 1, rng=generator)
        total, count = 0.0, 0
        for X_batch, y_batch in epoch_batches:
            step += 1
            optimizer.zero_grad()
            logits = model(X_batch)
            # NOTE: checked before the loss, which itself refuses non-finite logits
            # with a ValueError that would not say at which epoch training broke.
            if not np.isfinite(logits.data).all():
                raise FloatingPointError(
                    f"fit: the model's output became NaN or inf at epoch {epoch},"
                    f" step {step}; try a smaller learning rate"
                )
            loss = loss_fn(logits, Tensor(y_batch))
            value = float(loss.data)
            if not np.isfinite(value):
                raise FloatingPointError(
                    f"fit: loss became non-finite ({value}) at epoch {epoch}, step"
                    f" {step}; try a smaller learning rate"
                )
            loss.backward()
            try:
                optimizer.step()
            except FloatingPointError as error:
                raise FloatingPointError(
                    f"fit: epoch {epoch}, step {step}: {error}; try a smaller"
                    " learning rate"
                ) from error
            if step == 1:
                first_loss = value
            total += value * len(y_batch)
            count += len(y_batch)
        history.loss.append(total / count)
        if not diverged and history.loss[-1] > DIVERGED * max(first_loss, CHANCE):
            diverged = True
            warnings.warn(
                f"fit: the loss grew from {first_loss:.4g} at the first step to"
                f" {history.loss[-1]:.4g} in epoch {epoch}; training is diverging,"
                " try a smaller learning rate",
                RuntimeWarning,
                stacklevel=2,
            )

        if validation_data is not None:
            with no_grad():
                logits = model(Tensor(np.asarray(X_val)))
                history.val_loss.append(float(loss_fn(logits, Tensor(y_val)).data))
            history.val_accuracy.append(
                float(np.mean((logits.data > 0) == (y_val > 0.5)))
            )
        logger.debug("epoch %d: loss %.6g", epoch, history.loss[-1])
        bar.update(epoch, history.loss[-1])
        if any([callback(epoch, history) is True for callback in callbacks]):
            logger.info("fit: a callback stopped training after epoch %d", epoch)
            break

    history.seconds = time.perf_counter() - start
    return history
