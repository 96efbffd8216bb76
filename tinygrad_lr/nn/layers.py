"""Layers: Linear, the activation modules and Sequential."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_lr import functional as F
from tinygrad_lr._checks import positive_int
from tinygrad_lr._random import as_generator
from tinygrad_lr.nn.module import Module, Parameter
from tinygrad_lr.tensor import Tensor

__all__ = ["Linear", "ReLU", "Sequential", "Sigmoid", "Tanh"]


class Linear(Module):
    """An affine layer: ``X @ weight + bias``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of each input row and each output row.
    bias : bool, default True
        Whether to add a learned bias.
    rng : None, int, Generator or RandomState
        Source of the initial weights, drawn like PyTorch's from
        U(-1/√in_features, 1/√in_features).

    Attributes
    ----------
    weight : Parameter of shape (in_features, out_features)
        Stored so that the forward pass reads as the formula ``X @ W + b``
        (PyTorch stores the transpose).
    bias : Parameter of shape (out_features,) or None

    Examples
    --------
    >>> layer = Linear(2, 3, rng=0)
    >>> layer(Tensor(np.ones((5, 2)))).shape
    (5, 3)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, rng: Any = None
    ) -> None:
        self.in_features = positive_int(in_features, "Linear", "in_features")
        self.out_features = positive_int(out_features, "Linear", "out_features")
        generator = as_generator(rng)
        bound = 1.0 / np.sqrt(self.in_features)
        self.weight = Parameter(
            generator.uniform(-bound, bound, (self.in_features, self.out_features))
        )
        self.bias = (
            Parameter(generator.uniform(-bound, bound, self.out_features))
            if bias
            else None
        )

    def forward(self, X: Tensor) -> Tensor:
        out = X @ self.weight
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features},"
            f" bias={self.bias is not None}"
        )


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    """σ(x), elementwise and stable for every finite x."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Sequential(Module):
    """Modules applied one after another.

    >>> model = Sequential(Linear(2, 4, rng=0), Tanh(), Linear(4, 1, rng=1))
    >>> [name for name, _ in model.named_parameters()]
    ['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias']
    """

    def __init__(self, *layers: Module) -> None:
        for index, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential: argument {index} must be a Module, got"
                    f" {type(layer).__name__}"
                )
        self.layers = list(layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]
