"""The hand-written NumPy side of the benchmarks: no autograd, gradients by hand.

Each function here is what a careful NumPy user would write for the same
computation as the engine side of a workload. They are the baselines, so they are
written to be fast but plain: vectorized, sharing intermediate arrays where the
formulas allow it, and nothing cleverer than that. The one exception is
:func:`train_logistic_per_sample`, the tutorial's per-sample Python loop, which is
slow on purpose: it shows what vectorization buys.

Notation: X is (n_samples, n_features), y is (n_samples,) of 0/1 labels, z are the
logits, p = σ(z). The mean logistic loss and its gradient with respect to z are

    ℓ = mean(max(z, 0) - z·y + log1p(exp(-|z|)))        ∂ℓ/∂z = (p - y) / n
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = [
    "Adam",
    "logistic_loss_and_residual",
    "minibatch_rows",
    "mlp_loss_and_gradients",
    "train_logistic",
    "train_logistic_minibatch",
    "train_logistic_per_sample",
    "train_mlp_adam",
]


def logistic_loss_and_residual(
    z: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean logistic loss of logits z and the residual σ(z) - y, both shape (n,).

    ``e = exp(-|z|)`` is computed once and serves both: the loss tail is
    ``log1p(e)`` and σ(z) is ``1 / (1 + e)`` for z ≥ 0, ``e / (1 + e)`` for z < 0.
    """
    e = np.exp(-np.abs(z))
    loss = float(np.mean(np.maximum(z, 0.0) - z * y + np.log1p(e)))
    p = np.where(z >= 0, 1.0, e) / (1.0 + e)
    return loss, p - y


def train_logistic(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, *, lr: float, steps: int
) -> tuple[np.ndarray, float, list[float]]:
    """Full-batch gradient descent on logistic regression, two passes over X a step.

    Returns the final w, b and the loss before each step.
    """
    w = np.array(w, dtype=np.float64)
    n_samples = len(y)
    losses = []
    for _ in range(steps):
        z = X @ w + b  # (n,): first read of X
        loss, residual = logistic_loss_and_residual(z, y)
        grad_w = X.T @ residual / n_samples  # (n_features,): second read of X
        grad_b = float(np.mean(residual))

        w = w - lr * grad_w
        b = b - lr * grad_b
        losses.append(loss)
    return w, b, losses


def train_logistic_per_sample(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, *, lr: float, steps: int
) -> tuple[np.ndarray, float, list[float]]:
    """The same descent, written as the from-scratch tutorial does: one sample at a
    time in a Python loop, accumulating the loss and the gradient.

    Deliberately unvectorized. The naive sigmoid and logs are fine on the moons
    data, whose logits stay small.
    """
    w = np.array(w, dtype=np.float64)
    n_samples = len(y)
    losses = []
    for _ in range(steps):
        grad_w = np.zeros_like(w)
        grad_b = 0.0
        total = 0.0
        for i in range(n_samples):
            z = np.dot(X[i], w) + b
            p = 1.0 / (1.0 + np.exp(-z))
            total += -(y[i] * np.log(p) + (1.0 - y[i]) * np.log(1.0 - p))
            grad_w += (p - y[i]) * X[i]
            grad_b += p - y[i]

        w = w - lr * grad_w / n_samples
        b = b - lr * grad_b / n_samples
        losses.append(float(total / n_samples))
    return w, b, losses


def minibatch_rows(
    n_samples: int, batch_size: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Shuffled row indices, one sorted array per batch (sorted rows keep memmap
    reads in file order)."""
    order = rng.permutation(n_samples)
    for start in range(0, n_samples, batch_size):
        yield np.sort(order[start : start + batch_size])


def train_logistic_minibatch(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    b: float,
    *,
    lr: float,
    batch_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float, list[float]]:
    """One epoch of mini-batch gradient descent; X may be an ``np.memmap``, of
    which only one batch is read into memory at a time."""
    w = np.array(w, dtype=np.float64)
    losses = []
    for rows in minibatch_rows(len(y), batch_size, rng):
        X_batch = np.asarray(X[rows])  # (batch, n_features), read from the file
        y_batch = y[rows]

        z = X_batch @ w + b
        loss, residual = logistic_loss_and_residual(z, y_batch)
        w = w - lr * (X_batch.T @ residual) / len(rows)
        b = b - lr * float(np.mean(residual))
        losses.append(loss)
    return w, b, losses


def mlp_loss_and_gradients(
    params: list[np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, list[np.ndarray]]:
    """Loss and gradients of the MLP ``tanh(X W1 + b1) → tanh(· W2 + b2) → · W3 + b3``.

    ``params`` is ``[W1, b1, W2, b2, W3, b3]`` with W of shape (in, out), as in
    ``nn.Linear``; the gradients come back in the same order.
    """
    W1, b1, W2, b2, W3, b3 = params
    n_samples = len(y)

    # Forward, keeping the activations that backprop needs.
    h1 = np.tanh(X @ W1 + b1)  # (n, 16)
    h2 = np.tanh(h1 @ W2 + b2)  # (n, 16)
    z = (h2 @ W3 + b3).reshape(-1)  # (n,)
    loss, residual = logistic_loss_and_residual(z, y)

    # Backward, layer by layer; tanh' = 1 - tanh².
    dz3 = (residual / n_samples)[:, np.newaxis]  # (n, 1)
    dz2 = (dz3 @ W3.T) * (1.0 - h2 * h2)  # (n, 16)
    dz1 = (dz2 @ W2.T) * (1.0 - h1 * h1)  # (n, 16)
    grads = [
        X.T @ dz1,
        dz1.sum(axis=0),
        h1.T @ dz2,
        dz2.sum(axis=0),
        h2.T @ dz3,
        dz3.sum(axis=0),
    ]
    return loss, grads


class Adam:
    """Adam with bias correction, updating a list of arrays in place.

    ``m = β1 m + (1-β1) g``, ``v = β2 v + (1-β2) g²``,
    ``p -= lr · (m / (1-β1ᵗ)) / (√(v / (1-β2ᵗ)) + eps)``, with m and v starting at 0.
    """

    def __init__(
        self,
        params: list[np.ndarray],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = params
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        correction1 = 1.0 - self.beta1**self.t
        correction2 = 1.0 - self.beta2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * (g * g)
            p -= self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)


def train_mlp_adam(
    params: list[np.ndarray], X: np.ndarray, y: np.ndarray, *, lr: float, steps: int
) -> tuple[list[np.ndarray], list[float]]:
    """Full-batch Adam on the MLP; returns the final parameters (copies of the
    inputs, updated) and the loss before each step."""
    params = [p.copy() for p in params]
    optimizer = Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        loss, grads = mlp_loss_and_gradients(params, X, y)
        optimizer.step(grads)
        losses.append(loss)
    return params, losses
