"""Optimizers: plain and momentum SGD, and Adam.

Both follow PyTorch's update rules and its ``zero_grad()`` / ``step()`` protocol.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from tinygrad_lr._checks import all_finite
from tinygrad_lr.tensor import Tensor

__all__ = ["SGD", "Adam", "Optimizer"]


def _check_number(
    where: str,
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Raise ValueError unless ``value`` is a finite real in the given interval."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(
        value, bool
    )
    if ok:
        value = float(value)
        ok = math.isfinite(value) and (value > low if low_open else value >= low)
        ok = ok and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(
            f"{where}: {name} must be a finite number in {interval}, got {value!r}"
        )
    return value


def _updated(param: Tensor, step: np.ndarray) -> np.ndarray:
    """``param.data - step`` as a new array of the parameter's own dtype (a
    float64 gradient must not turn a float32 parameter into float64)."""
    return np.asarray(param.data - step, dtype=param.data.dtype)


class Optimizer:
    """Holds the parameters to update and clears their gradients.

    Parameters
    ----------
    params : iterable of Tensor
        Leaf tensors that require grad, such as ``model.parameters()``.
    lr : float
        Learning rate, a finite number > 0.
    """

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        where = type(self).__name__
        if isinstance(params, Tensor) or not isinstance(params, Iterable):
            raise TypeError(
                f"{where}: params must be an iterable of Tensors, got"
                f" {type(params).__name__}; pass model.parameters() or [tensor]"
            )
        self.params: list[Tensor] = list(params)
        if not self.params:
            raise ValueError(f"{where}: got an empty parameter list")
        first: dict[int, int] = {}
        for index, param in enumerate(self.params):
            if id(param) in first:
                raise ValueError(
                    f"{where}: parameters {first[id(param)]} and {index} are the same"
                    " tensor; pass each parameter once"
                )
            first[id(param)] = index
            if not isinstance(param, Tensor):
                raise TypeError(
                    f"{where}: parameter {index} is a {type(param).__name__}, not a"
                    " Tensor"
                )
            if not param.requires_grad or not param.is_leaf:
                raise ValueError(
                    f"{where}: parameter {index} can't be optimized: it must be a leaf"
                    " tensor with requires_grad=True"
                )
        self.lr = _check_number(
            where, "lr", lr, 0.0, math.inf, low_open=True, high_open=True
        )

    def zero_grad(self) -> None:
        """Set every parameter's gradient to None."""
        for param in self.params:
            param.grad = None

    def _gradients(self) -> list[tuple[int, Tensor, np.ndarray]]:
        """The parameters that have a gradient; raise before any update if one of
        those gradients is not finite."""
        found = []
        for index, param in enumerate(self.params):
            if param.grad is None:
                continue
            if not all_finite(param.grad):
                raise FloatingPointError(
                    f"{type(self).__name__}.step: parameter {index} (shape"
                    f" {param.shape}) has a NaN or inf gradient; no parameter was"
                    " updated"
                )
            found.append((index, param, param.grad))
        return found

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and weight decay.

    With ``d = grad + weight_decay * p``, the update is ``p -= lr * d``, or with
    momentum μ ``v = μ v + d`` (``v = d`` on the first step) and ``p -= lr * v``.

    Examples
    --------
    >>> w = Tensor([1.0], requires_grad=True)
    >>> optimizer = SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> optimizer.step()
    >>> w.data
    array([0.8])
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _check_number(
            "SGD", "momentum", momentum, 0.0, 1.0, high_open=True
        )
        self.weight_decay = _check_number(
            "SGD", "weight_decay", weight_decay, 0.0, math.inf, high_open=True
        )
        self.velocity: dict[int, np.ndarray] = {}

    def step(self) -> None:
        """Update every parameter that has a gradient; skip those whose grad is None."""
        for index, param, grad in self._gradients():
            if self.weight_decay:
                grad = grad + self.weight_decay * param.data
            if self.momentum:
                previous = self.velocity.get(index)
                grad = grad if previous is None else self.momentum * previous + grad
                self.velocity[index] = grad
            # NOTE: a new array, not an in-place update, so graphs recorded before
            # the step keep the values they were computed with.
            param.data = _updated(param, self.lr * grad)


class Adam(Optimizer):
    """Adam with bias correction (Kingma and Ba, 2015) and L2 weight decay.

    With ``d = grad + weight_decay * p`` and t the number of updates this
    parameter has had (counted per parameter, as PyTorch does, so one whose grad
    was None at first still gets a bias-corrected first step):
    ``m = β1 m + (1-β1) d``, ``v = β2 v + (1-β2) d²``,
    ``p -= lr · (m / (1-β1ᵗ)) / (√(v / (1-β2ᵗ)) + eps)``.
    So the first step moves each element by ``lr·|g|/(|g|+eps)``, at most ``lr``.

    Notes
    -----
    ``eps`` must be > 0: with eps = 0 a zero gradient would give 0/0.
    d² overflows to inf where |d| exceeds about 1e154, and that element's step
    becomes 0; rescale such a loss rather than relying on Adam's normalisation.

    Examples
    --------
    >>> w = Tensor([1.0, -2.0], requires_grad=True)
    >>> optimizer = Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> optimizer.step()
    >>> w.data
    array([ 0.9, -1.9])
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(
                f"Adam: betas must be a pair (beta1, beta2), got {betas!r}"
            )
        self.betas = tuple(
            _check_number("Adam", f"betas[{i}]", beta, 0.0, 1.0, high_open=True)
            for i, beta in enumerate(betas)
        )
        self.eps = _check_number(
            "Adam", "eps", eps, 0.0, math.inf, low_open=True, high_open=True
        )
        self.weight_decay = _check_number(
            "Adam", "weight_decay", weight_decay, 0.0, math.inf, high_open=True
        )
        self.steps: dict[int, int] = {}  # parameter index -> its step count t
        self.m: dict[int, np.ndarray] = {}
        self.v: dict[int, np.ndarray] = {}

    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        # NOTE: gradients are checked before any state changes, so a step that
        # raises FloatingPointError leaves the parameters and m, v, t as they were.
        gradients = self._gradients()
        for index, param, grad in gradients:
            t = self.steps[index] = self.steps.get(index, 0) + 1
            correction1 = 1.0 - beta1**t
            correction2 = 1.0 - beta2**t
            if self.weight_decay:
                grad = grad + self.weight_decay * param.data
            if index not in self.m:
                self.m[index] = np.zeros_like(param.data)
                self.v[index] = np.zeros_like(param.data)
            m, v = self.m[index], self.v[index]
            # m and v belong to the optimizer, so they are updated in place.
            m *= beta1
            m += (1.0 - beta1) * grad
            v *= beta2
            v += (1.0 - beta2) * grad * grad
            denominator = np.sqrt(v / correction2)
            denominator += self.eps
            param.data = _updated(param, (self.lr / correction1) * m / denominator)
