"""Ready-made models: logistic regression as one neuron, and a multilayer perceptron.

Both map X of shape (n_samples, n_features) to logits of shape (n_samples,) and
share ``predict_proba`` and ``predict``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinygrad_lr import functional as F
from tinygrad_lr._checks import first_non_finite, positive_int
from tinygrad_lr._random import as_generator
from tinygrad_lr.nn.layers import Linear, ReLU, Tanh
from tinygrad_lr.nn.module import Module, Parameter
from tinygrad_lr.tensor import Tensor, no_grad

__all__ = ["MLP", "LogisticRegression"]

ACTIVATIONS = {"tanh": Tanh, "relu": ReLU}


class _BinaryClassifier(Module):
    """Shared input checks and predictions of models that output one logit per row."""

    n_features: int

    def _check_X(self, X: Any, where: str) -> Tensor:
        X = X if isinstance(X, Tensor) else Tensor(X)
        shape = X.data.shape
        if len(shape) != 2:
            hint = "; use X.reshape(-1, 1) for a single feature" if X.ndim == 1 else ""
            raise ValueError(
                f"{type(self).__name__}.{where}: expected 2-D X of shape (n_samples,"
                f" n_features), got shape {shape}{hint}"
            )
        if shape[1] != self.n_features:
            raise ValueError(
                f"{type(self).__name__}.{where}: X has {shape[1]} features, but the"
                f" model has {self.n_features}"
            )
        return X

    def _logits(self, X: Any, where: str) -> np.ndarray:
        X = self._check_X(X, where)
        bad = first_non_finite(X.data)
        if bad is not None:
            kind, row, column = bad
            raise ValueError(
                f"{type(self).__name__}.{where}: X contains {kind} (first at row"
                f" {row}, column {column})"
            )
        with no_grad():
            return self(X).data

    def predict_proba(self, X: Any) -> np.ndarray:
        """σ(logits): the probability of class 1, an array of shape (n_samples,)."""
        return F.sigmoid(self._logits(X, "predict_proba")).data

    def predict(self, X: Any, threshold: float = 0.5) -> np.ndarray:
        """Class labels 0 or 1, of shape (n_samples,): 1 where the probability
        exceeds ``threshold`` in (0, 1).

        Compares the logit with log(t / (1 - t)) rather than the rounded
        probability, so a logit of 1e-17 is class 1, as in scikit-learn.
        """
        if not 0.0 < threshold < 1.0:
            raise ValueError(
                f"{type(self).__name__}.predict: threshold must be in (0, 1), got"
                f" {threshold!r}"
            )
        cut = np.log(threshold) - np.log1p(-threshold)
        return (self._logits(X, "predict") > cut).astype(np.int64)


class LogisticRegression(_BinaryClassifier):
    """Logistic regression written as one neuron: ``z = X @ w + b``, ``ŷ = σ(z)``.

    Parameters
    ----------
    n_features : int
        Number of input features.
    rng : None, int, Generator or RandomState
        Source of the initial weights, drawn from U[0, 1) as the classic
        from-scratch tutorial does with ``np.random.rand``; the bias starts at 0.
        ``rng=np.random.RandomState(0)`` gives exactly the tutorial's start.

    Attributes
    ----------
    weight : Parameter of shape (n_features,)
    bias : Parameter of shape ()

    Examples
    --------
    >>> model = LogisticRegression(2, rng=np.random.RandomState(0))
    >>> model.weight
    Parameter([0.5488, 0.7152], requires_grad=True)
    >>> model(np.array([[1.0, 0.0], [0.0, 1.0]])).shape
    (2,)
    """

    def __init__(self, n_features: int, *, rng: Any = None) -> None:
        self.n_features = positive_int(n_features, "LogisticRegression", "n_features")
        self.weight = Parameter(as_generator(rng).uniform(0.0, 1.0, self.n_features))
        self.bias = Parameter(0.0)

    def forward(self, X: Any) -> Tensor:
        """Logits z = X @ w + b, of shape (n_samples,)."""
        X = self._check_X(X, "forward")
        return X @ self.weight + self.bias

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}"


class MLP(_BinaryClassifier):
    """A multilayer perceptron: Linear layers with an activation between them.

    Parameters
    ----------
    layer_sizes : sequence of int
        Input size, hidden sizes, output size; ``[2, 16, 16, 1]`` has two hidden
        layers of 16 units. With an output size of 1 the model returns one logit
        per row, shape (n_samples,).
    activation : {"tanh", "relu"}, default "tanh"
    rng : None, int, Generator or RandomState
        Source of the initial weights of every layer.

    Examples
    --------
    >>> model = MLP([2, 16, 16, 1], rng=0)
    >>> model(np.zeros((5, 2))).shape
    (5,)
    """

    def __init__(
        self, layer_sizes: Sequence[int], activation: str = "tanh", *, rng: Any = None
    ) -> None:
        sizes = list(layer_sizes)
        if len(sizes) < 2:
            raise ValueError(
                "MLP: layer_sizes needs at least an input and an output size, got"
                f" {sizes}"
            )
        for size in sizes:
            positive_int(size, "MLP", "every layer size")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"MLP: activation must be one of {sorted(ACTIVATIONS)}, got"
                f" {activation!r}"
            )
        self.layer_sizes = sizes
        self.activation = activation
        self.n_features = sizes[0]

        generator = as_generator(rng)
        layers: list[Module] = []
        for in_features, out_features in itertools.pairwise(sizes):
            layers += [
                Linear(in_features, out_features, rng=generator),
                ACTIVATIONS[activation](),
            ]
        self.layers = layers[:-1]

    def forward(self, X: Any) -> Tensor:
        """Logits of shape (n_samples,) when the output size is 1, else
        (n_samples, output size)."""
        out = self._check_X(X, "forward")
        for layer in self.layers:
            out = layer(out)
        return out.reshape(-1) if self.layer_sizes[-1] == 1 else out

    def _logits(self, X: Any, where: str) -> np.ndarray:
        if self.layer_sizes[-1] != 1:
            raise ValueError(
                f"MLP.{where}: only models with one output (layer_sizes[-1] == 1)"
                f" predict probabilities; this one has {self.layer_sizes[-1]}"
            )
        return super()._logits(X, where)

    def extra_repr(self) -> str:
        return f"layer_sizes={self.layer_sizes}, activation={self.activation!r}"
