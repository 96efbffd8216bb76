"""Optimizers: plain and momentum SGD, and Adam.

Both follow PyTorch's update rules and its ``zero_grad()`` / ``step()`` protocol.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from tinygrad_lr._checks import all_finite
from tinygrad_lr.tensor import DTypeError, ShapeError, Tensor

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


def _minus(data: np.ndarray, step: np.ndarray) -> np.ndarray:
    """``data - step`` as a new array of ``data``'s dtype (a float64 gradient must
    not turn a float32 parameter into float64)."""
    new = data - step
    if type(new) is not np.ndarray or new.dtype is not data.dtype:
        new = np.asarray(new, dtype=data.dtype)  # a 0-d result is a NumPy scalar
    return new


# NOTE: laying the parameters end to end costs a concatenation of the gradients
# and the views back. With one or two parameters that outweighs the NumPy calls
# it saves: a step of the one-neuron model (w and b, plain SGD) runs about 4%
# more instructions flat. An MLP of 6 parameters steps Adam about 3x faster flat.
FLAT_MIN_PARAMETERS = 3

FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))  # what a step updates


class Optimizer:
    """Holds the parameters to update and clears their gradients.

    Subclasses define :meth:`_update`, the rule for one array. ``step`` applies it
    to every parameter that has a gradient. When there are three or more
    parameters and all of them take part in a step, at the same step count, with
    data and gradients of the one dtype the parameters had when the optimizer was
    made, the rule runs once on the parameters laid end to end in one flat array
    instead of once per parameter: the same arithmetic, element by element, in a
    fraction of the NumPy calls. (A step that skips a parameter leaves the step
    counts unequal, and from then on every step runs parameter by parameter.) The
    optimizer's state (``state``) is laid out the same way, so each parameter's
    entry is a view of the flat arrays: edit an entry in place, do not replace it.

    Parameters
    ----------
    params : iterable of Tensor
        Leaf tensors that require grad, such as ``model.parameters()``.
    lr : float
        Learning rate, a finite number > 0.

    Attributes
    ----------
    steps : dict of int to int
        For each parameter index, how many updates it has had.
    state : list of dict of str to ndarray
        Per parameter, the optimizer's running arrays by name (``"velocity"``,
        ``"m"``, ``"v"``), of the parameter's shape.
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
        self.steps: dict[int, int] = dict.fromkeys(range(len(self.params)), 0)
        self._shapes = [param.data.shape for param in self.params]
        ends = np.cumsum([param.data.size for param in self.params]).tolist()
        self._slices = [slice(a, b) for a, b in zip([0, *ends], ends, strict=False)]
        # After a flat step, the parameters' data are these views of one array,
        # which the next flat step reads instead of gathering them again.
        self._flat_data = np.empty(0)
        self._flat_views: list[Any] = [None] * len(self.params)
        self._flat_state: dict[str, np.ndarray] | None = None
        self._flat_dtype = np.dtype(np.float64)
        self.state: list[dict[str, np.ndarray]] = []
        self._start_state(())

    def _start_state(self, names: tuple[str, ...]) -> None:
        """Give every parameter running arrays ``names``, zeros, laid out flat if
        the parameters share a dtype."""
        dtypes = {param.data.dtype for param in self.params}
        if len(dtypes) > 1:
            self._flat_state = None
            self.state = [
                {name: np.zeros_like(param.data) for name in names}
                for param in self.params
            ]
            return
        dtype = self._flat_dtype = dtypes.pop()
        self._flat_state = {
            name: np.zeros(self._slices[-1].stop, dtype) for name in names
        }
        views = {name: self._split(flat) for name, flat in self._flat_state.items()}
        self.state = [
            {name: views[name][index] for name in names}
            for index in range(len(self.params))
        ]

    def _split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Views of ``flat``, one per parameter, of the parameters' shapes."""
        return [
            flat[part].reshape(shape)
            for part, shape in zip(self._slices, self._shapes, strict=True)
        ]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to None."""
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient; skip those whose grad is None.

        Raises
        ------
        FloatingPointError
            If a gradient holds a NaN or an inf. Nothing is updated then.
        ShapeError
            If a gradient, or a parameter, no longer has the parameter's shape.
        DTypeError
            If a parameter's data has been replaced by one of another dtype than
            float32 or float64 (integers, which an update would truncate).
        """
        grads: dict[int, np.ndarray] = {}  # parameter index -> its gradient
        dtype = self._flat_dtype
        one_dtype = True  # data and gradients all of the flat state's dtype
        for index, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            shape = self._shapes[index]
            if grad.shape != shape or param.data.shape != shape:
                raise ShapeError(
                    f"{type(self).__name__}.step: parameter {index} had shape {shape}"
                    f" when the optimizer was made; now its data has shape"
                    f" {param.data.shape} and its grad {grad.shape}"
                )
            grads[index] = grad
            one_dtype = one_dtype and param.data.dtype == dtype == grad.dtype
        steps = self.steps
        if (
            self._flat_state is not None
            and one_dtype
            and dtype in FLOAT_DTYPES
            and len(grads) == len(self.params) >= FLAT_MIN_PARAMETERS
            and len(set(steps.values())) == 1
        ):
            self._flat_step(list(grads.values()), steps[0] + 1)
            for index in steps:
                steps[index] += 1
            return
        for index, grad in grads.items():
            self._check_finite(index, grad)
            data = self.params[index].data
            if data.dtype not in FLOAT_DTYPES:  # replaced by integers, say
                raise DTypeError(
                    f"{type(self).__name__}.step: parameter {index} now has data of"
                    f" dtype {data.dtype}; only float32 and float64 can be updated"
                )
        for index, grad in grads.items():
            steps[index] += 1
            param = self.params[index]
            param.data = self._update(param.data, grad, self.state[index], steps[index])

    def _flat_step(self, grads: list[np.ndarray], t: int) -> None:
        """Update every parameter at once, on the parameters laid end to end."""
        assert self._flat_state is not None
        grad = np.concatenate(grads, axis=None)
        if not all_finite(grad):
            for index, one in enumerate(grads):
                self._check_finite(index, one)
        data = self._flat_data
        for param, view in zip(self.params, self._flat_views, strict=True):
            if param.data is not view:  # replaced since the last flat step
                data = np.concatenate([param.data for param in self.params], axis=None)
                break
        self._flat_data = self._update(data, grad, self._flat_state, t)
        self._flat_views = self._split(self._flat_data)
        for param, view in zip(self.params, self._flat_views, strict=True):
            param.data = view

    def _check_finite(self, index: int, grad: np.ndarray) -> None:
        if not all_finite(grad):
            raise FloatingPointError(
                f"{type(self).__name__}.step: parameter {index} (shape"
                f" {self.params[index].shape}) has a NaN or inf gradient; no"
                " parameter was updated"
            )

    def _update(
        self, data: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int
    ) -> np.ndarray:
        """The new value of ``data`` at update number ``t`` of these elements;
        updates ``state`` in place. A new array, not an in-place update, so
        graphs recorded before the step keep the values they were computed with."""
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
        if self.momentum:
            self._start_state(("velocity",))

    def _update(
        self, data: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int
    ) -> np.ndarray:
        if self.weight_decay:
            grad = grad + self.weight_decay * data
        if self.momentum:
            velocity = state["velocity"]
            if t == 1:
                velocity[...] = grad
            else:
                velocity *= self.momentum
                velocity += grad
            grad = velocity
        return _minus(data, self.lr * grad)


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
        self._start_state(("m", "v"))

    def _update(
        self, data: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int
    ) -> np.ndarray:
        beta1, beta2 = self.betas
        if self.weight_decay:
            grad = grad + self.weight_decay * data
        m, v = state["m"], state["v"]
        m *= beta1
        m += (1.0 - beta1) * grad
        v *= beta2
        v += (1.0 - beta2) * grad * grad
        denominator = np.sqrt(v / (1.0 - beta2**t))
        denominator += self.eps
        return _minus(data, (self.lr / (1.0 - beta1**t)) * m / denominator)
