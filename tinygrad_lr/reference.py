"""The from-scratch tutorial's logistic regression, by hand, in vectorized NumPy.

No autograd here: the gradients are the hand-derived formulas

    ∇w = Xᵀ(σ(Xw + b) - y) / n        ∇b = mean(σ(Xw + b) - y)

This module is the oracle that the autograd engine is tested against, and a
side-by-side for learners. It is written independently of ``ops.py``: the
sigmoid and the loss go through ``np.logaddexp``, which is stable on its own.

>>> X = np.array([[0.0, 1.0], [1.0, 0.0]]); y = np.array([1.0, 0.0])
>>> w, b, losses = train(X, y, np.zeros(2), 0.0, lr=0.1, steps=3)
>>> bool(losses[-1] < losses[0])
True
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "accuracy",
    "gradients",
    "log_sigmoid",
    "loss",
    "model",
    "predict",
    "sigmoid",
    "train",
]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = exp(-log(1 + exp(-z))); no overflow for any finite z."""
    return np.exp(-np.logaddexp(0.0, -z))


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """log σ(z) = -log(1 + exp(-z))."""
    return -np.logaddexp(0.0, -z)


def model(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """The logits z = Xw + b, of shape (n_samples,)."""
    return X @ w + b


def loss(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """Mean cross-entropy -mean(y log ŷ + (1 - y) log(1 - ŷ)) with ŷ = σ(Xw + b).

    Uses -log σ(z) = log(1 + e^-z) and -log(1 - σ(z)) = log(1 + e^z), so the
    per-sample loss is log(1 + e^z) - y·z: no probability is ever rounded to 0.
    """
    z = model(X, w, b)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def gradients(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float
) -> tuple[np.ndarray, float]:
    """(∇w, ∇b) = (Xᵀ(σ(Xw + b) - y) / n, mean(σ(Xw + b) - y))."""
    residual = sigmoid(model(X, w, b)) - y  # (n_samples,)
    return X.T @ residual / len(y), float(np.mean(residual))


def train(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    b: float,
    *,
    lr: float = 0.1,
    steps: int = 200,
) -> tuple[np.ndarray, float, list[float]]:
    """Full-batch gradient descent; returns the final w, b and the loss before
    each step followed by the final loss (``steps + 1`` values)."""
    w = np.array(w, dtype=np.float64)
    b = float(b)
    losses = []
    for _ in range(steps):
        losses.append(loss(X, y, w, b))
        grad_w, grad_b = gradients(X, y, w, b)
        w = w - lr * grad_w
        b = b - lr * grad_b
    losses.append(loss(X, y, w, b))
    return w, b, losses


def predict(
    X: np.ndarray, w: np.ndarray, b: float, threshold: float = 0.5
) -> np.ndarray:
    """Labels 0 or 1: 1 where σ(Xw + b) > threshold."""
    return (sigmoid(model(X, w, b)) > threshold).astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of labels predicted correctly."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
