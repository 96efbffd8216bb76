"""Every op of tinygrad_lr, one :class:`Function` class each.

Each class states its forward and backward formulas in its docstring; ``g`` is the
gradient flowing into the op's output (``grad_output``). Binary ops broadcast by
NumPy's rules and sum their gradients back to each input's shape with
:func:`unbroadcast`. Importing this module attaches the ops to ``Tensor``.

To add an op: write one class here, decorate it with :func:`register`, and add one
reference row to ``tests/test_ops.py``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from tinygrad_lr.function import Context, Function, register, unbroadcast
from tinygrad_lr.tensor import ShapeError, Tensor

__all__ = ["stable_sigmoid"]


def stable_sigmoid(z: np.ndarray, e: np.ndarray | None = None) -> np.ndarray:
    """σ(z) = 1 / (1 + exp(-z)) without overflow for any finite z.

    ``exp`` only ever sees ``-|z|``, so it stays in (0, 1]: for z ≥ 0 the result is
    ``1 / (1 + e)`` and for z < 0 it is ``e / (1 + e)``, with ``e = exp(-|z|)``.
    Pass ``e`` when it is at hand (it is the same for z and -z).
    """
    if e is None:
        e = np.exp(-np.abs(z))
    # max(e, z >= 0) is 1 where z >= 0 (as e <= 1) and e where z < 0; it costs
    # less than np.where(z >= 0, 1.0, e).
    return np.maximum(e, z >= 0) / (1.0 + e)


# ---------------------------------------------------------------- binary ops


@register("add", methods=("__add__", "add"), reflected="__radd__", arity=2)
class Add(Function):
    """a + b.  ∂/∂a = g, ∂/∂b = g, each summed back to its input's shape."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple[Any, Any]:
        a_shape, b_shape = ctx.saved_tensors
        return unbroadcast(grad_output, a_shape), unbroadcast(grad_output, b_shape)


@register("sub", methods=("__sub__", "sub"), reflected="__rsub__", arity=2)
class Sub(Function):
    """a - b.  ∂/∂a = g, ∂/∂b = -g."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple[Any, Any]:
        a_shape, b_shape = ctx.saved_tensors
        grad_b = -unbroadcast(grad_output, b_shape) if ctx.needs_input_grad[1] else None
        return unbroadcast(grad_output, a_shape), grad_b


@register("mul", methods=("__mul__", "mul"), reflected="__rmul__", arity=2)
class Mul(Function):
    """a * b.  ∂/∂a = g·b, ∂/∂b = g·a."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        grad_a = (
            unbroadcast(grad_output * b, a.shape) if ctx.needs_input_grad[0] else None
        )
        grad_b = (
            unbroadcast(grad_output * a, b.shape) if ctx.needs_input_grad[1] else None
        )
        return grad_a, grad_b


@register("div", methods=("__truediv__", "div"), reflected="__rtruediv__", arity=2)
class Div(Function):
    """a / b.  ∂/∂a = g / b, ∂/∂b = -g·a / b² = -(g / b)·(a / b)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        g_over_b = grad_output / b
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(g_over_b, a.shape)
        if ctx.needs_input_grad[1]:
            # NOTE: (g / b)·(a / b), not g·a / b²: b² overflows for |b| > 1e154
            # and loses digits below 1e-154 whatever g and a are. The quotients
            # only overflow where g or a is itself far larger than b.
            grad_b = unbroadcast(-g_over_b * (a / b), b.shape)
        return grad_a, grad_b


@register("matmul", methods=("__matmul__", "matmul"), reflected="__rmatmul__", arity=2)
class MatMul(Function):
    """a @ b for 1-D and 2-D operands, as ``np.matmul``.

    For 2-D a (n, k) and b (k, m): ∂/∂a = g @ bᵀ, ∂/∂b = aᵀ @ g. A 1-D operand is
    a row (left) or a column (right) vector whose extra axis is dropped, which
    turns a product with g into an outer product: for b of shape (k,),
    ∂/∂a = outer(g, b) and ∂/∂b = aᵀ @ g.
    """

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(
                f"matmul: operands must be 1-D or 2-D, got shapes {a.shape} @"
                f" {b.shape}; multiply by a 0-d tensor with * instead"
            )
        if a.ndim > 2 or b.ndim > 2:
            raise NotImplementedError(
                f"matmul: batched matmul of shapes {a.shape} @ {b.shape} is not"
                " supported; operands must be 1-D or 2-D (reshape to 2-D first)"
            )
        if a.shape[-1] != b.shape[0]:
            raise ShapeError(
                f"matmul: inner dimensions differ: {a.shape} @ {b.shape}"
                f" ({a.shape[-1]} != {b.shape[0]})"
            )
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        g = grad_output
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:  # (k,) @ (k,) -> (): g is a number
            return (g * b if need_a else None), (g * a if need_b else None)
        if b.ndim == 1:  # (n, k) @ (k,) -> (n,)
            return (np.outer(g, b) if need_a else None), (a.T @ g if need_b else None)
        if a.ndim == 1:  # (k,) @ (k, m) -> (m,)
            return (b @ g if need_a else None), (np.outer(a, g) if need_b else None)
        # (n, k) @ (k, m) -> (n, m)
        return (g @ b.T if need_a else None), (a.T @ g if need_b else None)


# ---------------------------------------------------------------- unary ops


@register("neg", methods=("__neg__", "neg"))
class Neg(Function):
    """-a.  ∂/∂a = -g."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        return -a

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        return -grad_output


@register("pow", methods=("__pow__", "pow"), params=("exponent",))
class Pow(Function):
    """a ** p for a constant real p.  ∂/∂a = g·p·a^(p-1)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, exponent: Any) -> np.ndarray:
        if isinstance(exponent, Tensor):
            raise NotImplementedError(
                "pow: a tensor exponent is not supported; for x > 0 write"
                " (y * x.log()).exp()"
            )
        if not isinstance(exponent, numbers.Real):
            raise TypeError(
                f"pow: the exponent must be a real number, got"
                f" {type(exponent).__name__}; for a tensor exponent y write"
                " (y * x.log()).exp()"
            )
        ctx.save_for_backward(a, float(exponent))
        return a ** a.dtype.type(exponent)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        a, exponent = ctx.saved_tensors
        if exponent == 0.0:
            return np.zeros_like(a)
        return grad_output * exponent * a ** a.dtype.type(exponent - 1.0)


def _rpow(self: Tensor, base: Any) -> Tensor:
    """``base ** x`` for a constant base > 0, as the composition exp(x·log(base))."""
    if not isinstance(base, numbers.Real) or not float(base) > 0:
        raise NotImplementedError(
            f"pow: base ** tensor needs a real base > 0, got {base!r}"
        )
    return (self * math.log(base)).exp()


Tensor.__rpow__ = _rpow  # type: ignore[method-assign]


@register("exp", methods=("exp",))
class Exp(Function):
    """exp(a).  ∂/∂a = g·exp(a) (reuses the output)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad_output * out


@register("log", methods=("log",))
class Log(Function):
    """Natural log.  ∂/∂a = g / a.  log(0) = -inf and log(-1) = NaN, with NumPy's
    warning."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        return grad_output / a


@register("sigmoid", methods=("sigmoid",))
class Sigmoid(Function):
    """σ(a) = 1 / (1 + exp(-a)), computed by :func:`stable_sigmoid`.

    ∂/∂a = g·σ(a)·(1 - σ(a)) (reuses the output).
    """

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = stable_sigmoid(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad_output * out * (1.0 - out)


@register("log_sigmoid", methods=("log_sigmoid",))
class LogSigmoid(Function):
    """log σ(a) = min(a, 0) - log1p(exp(-|a|)).  ∂/∂a = g·σ(-a).

    NOTE: the naive ``log(sigmoid(a))`` is -inf once σ(a) rounds to 0 (a < -745);
    this form is exact there: log σ(-1000) = -1000.
    """

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(a))  # in (0, 1]: never overflows
        ctx.save_for_backward(a, e)
        return np.minimum(a, 0.0) - np.log1p(e)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        a, e = ctx.saved_tensors
        return grad_output * stable_sigmoid(-a, e)


@register("softplus", methods=("softplus",))
class Softplus(Function):
    """softplus(a) = log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|)).  ∂/∂a = g·σ(a)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(a))  # in (0, 1]: never overflows
        ctx.save_for_backward(a, e)
        return np.maximum(a, 0.0) + np.log1p(e)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        a, e = ctx.saved_tensors
        return grad_output * stable_sigmoid(a, e)


@register("tanh", methods=("tanh",))
class Tanh(Function):
    """tanh(a).  ∂/∂a = g·(1 - tanh(a)²) (reuses the output)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad_output * (1.0 - out * out)


@register("relu", methods=("relu",))
class ReLU(Function):
    """max(a, 0).  ∂/∂a = g where a > 0, 0 where a ≤ 0 (0 at the kink, as PyTorch);
    NaN where a is NaN."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.maximum(a, 0.0)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        # heaviside(a, 0) is 1 for a > 0, 0 for a <= 0 and NaN for NaN.
        return grad_output * np.heaviside(a, 0.0)


# ---------------------------------------------------------------- reductions


def _expand(grad_output: np.ndarray, shape: tuple, axis: Any, keepdims: bool) -> Any:
    """Broadcast a reduction's gradient back to the input's shape."""
    if axis is not None and not keepdims:
        grad_output = np.expand_dims(grad_output, axis)
    return np.broadcast_to(grad_output, shape)


@register("sum", methods=("sum",), params=("axis", "keepdims"))
class Sum(Function):
    """Σ a over ``axis`` (all axes when None).  ∂/∂a = g broadcast back to a's shape."""

    @staticmethod
    def forward(
        ctx: Context, a: np.ndarray, axis: Any = None, keepdims: bool = False
    ) -> np.ndarray:
        out = a.sum(axis=axis, keepdims=keepdims)
        ctx.save_for_backward(a.shape, axis, keepdims)
        return np.asarray(out)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        shape, axis, keepdims = ctx.saved_tensors
        return _expand(grad_output, shape, axis, keepdims)


@register("mean", methods=("mean",), params=("axis", "keepdims"))
class Mean(Function):
    """Mean of a over ``axis``.  ∂/∂a = g / n broadcast back, n the reduced count.

    An empty reduction raises ``ValueError`` instead of NumPy's NaN and warning.
    """

    @staticmethod
    def forward(
        ctx: Context, a: np.ndarray, axis: Any = None, keepdims: bool = False
    ) -> np.ndarray:
        out = a.sum(axis=axis, keepdims=keepdims)
        reduced = range(a.ndim) if axis is None else np.atleast_1d(axis)
        count = math.prod(a.shape[i] for i in reduced)
        if count == 0:
            raise ValueError(f"mean: empty tensor of shape {a.shape} (axis={axis})")
        ctx.save_for_backward(a.shape, axis, keepdims, count)
        return np.asarray(out / count)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        shape, axis, keepdims, count = ctx.saved_tensors
        return _expand(grad_output / count, shape, axis, keepdims)


# ---------------------------------------------------------------- shape ops


@register("getitem", methods=("__getitem__",), params=("key",))
class GetItem(Function):
    """a[key], for any NumPy index: integers, slices, None, ..., arrays, masks.

    ∂/∂a = g scattered into zeros of a's shape with ``np.add.at``, so an element
    picked several times (``a[[0, 0]]``) gets the sum of its gradients.
    """

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, key: Any) -> np.ndarray:
        if isinstance(key, Tensor) or (
            isinstance(key, tuple) and any(isinstance(k, Tensor) for k in key)
        ):
            raise TypeError(
                "getitem: index with ints, slices or NumPy arrays, not a Tensor"
                " (for example x[mask.data > 0])"
            )
        ctx.save_for_backward(a.shape, key)
        return np.asarray(a[key])

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        shape, key = ctx.saved_tensors
        grad = np.zeros(shape, dtype=grad_output.dtype)
        np.add.at(grad, key, grad_output)
        return grad


@register("reshape", methods=("reshape",), params=("*shape",))
class Reshape(Function):
    """a.reshape(shape).  ∂/∂a = g.reshape(a.shape)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, shape: Any) -> np.ndarray:
        ctx.save_for_backward(a.shape)
        try:
            return a.reshape(shape)
        except ValueError as error:  # NumPy's message gives the sizes
            raise ShapeError(f"reshape: {error} (input shape {a.shape})") from None

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        (shape,) = ctx.saved_tensors
        return grad_output.reshape(shape)


@register("transpose", methods=("transpose", "T"), params=("*axes",))
class Transpose(Function):
    """a.transpose(axes) (axes reversed when None).  ∂/∂a = g transposed back."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: Any = None) -> np.ndarray:
        if axes is not None:
            # NOTE: only negative axes are wrapped; NumPy rejects the invalid ones.
            axes = tuple(int(i) + a.ndim * (int(i) < 0) for i in np.atleast_1d(axes))
        ctx.save_for_backward(axes)
        try:
            return a.transpose(axes)
        except ValueError as error:
            if isinstance(error, IndexError):  # an axis out of range: apply names it
                raise
            message = f"transpose: axes {axes} do not match an array of shape {a.shape}"
            raise ShapeError(message) from None

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        (axes,) = ctx.saved_tensors
        return grad_output.transpose(None if axes is None else np.argsort(axes))


# ---------------------------------------------------------------- losses


@register("binary_cross_entropy_with_logits")
class BinaryCrossEntropyWithLogits(Function):
    """Logistic loss from logits z and targets y in [0, 1], fused in one op.

    ℓ = max(z, 0) - z·y + log1p(e), with e = exp(-|z|), reduced by ``reduction``.
    Where logits are so large that the sum of the losses overflows, the mean is
    taken again from the losses divided by their number (NumPy warns about the
    overflow of the sum).
    ∂ℓ/∂z = σ(z) - y, computed as ((p - y) - y·e) / (1 + e) with p = 1 for z ≥ 0
    and p = e for z < 0. That is the same number, but keeps its relative accuracy
    where σ(z) rounds to 1: for y = 1 and z = 40 it gives -e/(1 + e) = -4.2e-18,
    where ``sigmoid(z) - y`` gives 0. ∂ℓ/∂y = -z.

    Call it through :func:`tinygrad_lr.functional.binary_cross_entropy_with_logits`,
    which validates the inputs.
    """

    @staticmethod
    def forward(
        ctx: Context, z: np.ndarray, y: np.ndarray, reduction: str = "mean"
    ) -> np.ndarray:
        e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
        # NOTE: max(z, 0) - z·y first: for y = 1 it cancels exactly, and only then
        # can the tiny log1p(e) survive the addition.
        losses = np.maximum(z, 0.0)
        if y.dtype.itemsize > z.dtype.itemsize:  # float32 z, float64 y: promote
            losses = losses.astype(y.dtype)
        losses -= z * y
        losses += np.log1p(e)
        ctx.save_for_backward(z, y, e, reduction)
        if reduction == "none":
            return losses
        total = np.add.reduce(losses, axis=None)
        if reduction == "sum":
            return np.asarray(total)
        if math.isinf(total):
            # Huge logits: the sum overflowed (NumPy warns), but the mean may not.
            return np.asarray(np.add.reduce(losses / z.size, axis=None))
        return np.asarray(total / z.size)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple[Any, Any]:
        z, y, e, reduction = ctx.saved_tensors
        if reduction == "mean":
            # [()] takes the number out: scalar arithmetic, same dtype and rounding,
            # at a fraction of the cost of a 0-d array operation.
            grad_output = grad_output[()] / z.size
        grad_z = grad_y = None
        if ctx.needs_input_grad[0]:
            # NOTE: (p - y) - y·e, not p - y·(1 + e): the latter rounds 1 + e to 1
            # and loses e exactly where it is the whole answer.
            grad_z = np.maximum(e, z >= 0)  # p, as in stable_sigmoid
            grad_z -= y
            grad_z -= y * e
            grad_z /= 1.0 + e
            grad_z *= grad_output
        if ctx.needs_input_grad[1]:
            grad_y = -grad_output * z
        return grad_z, grad_y
