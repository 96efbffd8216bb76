"""Activations and the logistic loss as functions of tensors, PyTorch style.

>>> import tinygrad_lr.functional as F
>>> from tinygrad_lr import Tensor
>>> z = Tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
>>> F.log_sigmoid(z).data.tolist()
[-1000.0, -0.6931471805599453, 0.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_lr import ops
from tinygrad_lr._checks import all_finite, in_unit_interval
from tinygrad_lr.tensor import ShapeError, Tensor

__all__ = [
    "binary_cross_entropy_with_logits",
    "log_sigmoid",
    "relu",
    "sigmoid",
    "softplus",
    "tanh",
]

REDUCTIONS = ("mean", "sum", "none")


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def sigmoid(x: Any) -> Tensor:
    """σ(x) = 1 / (1 + exp(-x)); never overflows, never warns for finite x."""
    return ops.Sigmoid.apply(_tensor(x))


def log_sigmoid(x: Any) -> Tensor:
    """log σ(x) = min(x, 0) - log1p(exp(-|x|)); finite for every finite x."""
    return ops.LogSigmoid.apply(_tensor(x))


def softplus(x: Any) -> Tensor:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))."""
    return ops.Softplus.apply(_tensor(x))


def relu(x: Any) -> Tensor:
    """max(x, 0), with gradient 0 at x = 0."""
    return ops.ReLU.apply(_tensor(x))


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return ops.Tanh.apply(_tensor(x))


def binary_cross_entropy_with_logits(
    logits: Any, targets: Any, reduction: str = "mean"
) -> Tensor:
    """The logistic (binary cross-entropy) loss, computed from logits.

    ``ℓ(z, y) = -y·log σ(z) - (1 - y)·log(1 - σ(z))``, evaluated as
    ``max(z, 0) - z·y + log1p(exp(-|z|))`` so that it is finite for every finite
    logit and never takes the log of a rounded probability. The mean is finite
    too; only where the logits are so large (about 1e308 / n) that the sum of the
    losses overflows does NumPy warn about that sum.

    Parameters
    ----------
    logits : Tensor or array-like of shape (n_samples,) or any shape
        Scores z = Xw + b before the sigmoid.
    targets : Tensor or array-like of the same shape as ``logits``
        Labels in [0, 1]; soft targets such as 0.3 are allowed.
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element losses are combined.

    Returns
    -------
    Tensor
        A 0-d tensor, or per-element losses of ``logits``' shape for "none".

    Raises
    ------
    ShapeError
        If the shapes differ (no broadcasting: (n, 1) against (n,) is an error).
    ValueError
        If a logit is NaN or inf, a target lies outside [0, 1], the batch is
        empty, or ``reduction`` is unknown.

    Examples
    --------
    >>> loss = binary_cross_entropy_with_logits([1000.0, -1000.0], [0.0, 0.0])
    >>> float(loss)
    500.0
    """
    z = _tensor(logits)
    y = targets if isinstance(targets, Tensor) else Tensor(targets, dtype=z.dtype)

    name = "binary_cross_entropy_with_logits"
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}"
        )
    z_data, y_data = z.data, y.data
    if z_data.shape != y_data.shape:
        raise ShapeError(
            f"{name}: logits shape {z.shape} != targets shape {y.shape}; reshape one"
            " of them (for example logits.reshape(-1))"
        )
    if z_data.size == 0 and reduction != "none":
        raise ValueError(f"{name}: empty batch (logits of shape {z.shape})")
    if not all_finite(z_data):
        bad = "NaN" if np.isnan(z_data).any() else "inf"
        raise ValueError(f"{name}: logits contain {bad}")
    if not in_unit_interval(y_data):
        observed = np.unique(y_data[~((y_data >= 0) & (y_data <= 1))])[:5]
        raise ValueError(
            f"{name}: targets must be in [0, 1]; got values such as"
            f" {observed.tolist()}; encode labels as 0 and 1"
        )

    return ops.BinaryCrossEntropyWithLogits.apply(z, y, reduction=reduction)
