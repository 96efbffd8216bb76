"""Function and Context: the contract every op follows, and the op registry.

An op is a :class:`Function` subclass with two static methods::

    forward(ctx, *arrays, **params) -> ndarray
    backward(ctx, grad_output) -> one gradient per input (ndarray or None)

``backward`` returns a tuple (or list) of gradients, or a lone gradient for an op of
one input.

``forward`` sees plain NumPy arrays and may keep what backward needs with
``ctx.save_for_backward``. ``backward`` gets the gradient of the loss with respect to
the op's output and returns the gradient with respect to each input, of that input's
shape. :func:`register` files the op under its name and attaches it to ``Tensor``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np

from tinygrad_lr.tensor import (
    ANOMALY,
    GRAD_ENABLED,
    GraphError,
    ShapeError,
    Tensor,
    as_array,
)

__all__ = ["OPS", "Context", "Function", "as_tensor", "register", "unbroadcast"]

OPS: dict[str, type[Function]] = {}
"""Every registered op, by name."""

_ORDER = itertools.count()  # numbers the Contexts in the order they are made

Gradients = np.ndarray | None | tuple[np.ndarray | None, ...] | list[np.ndarray | None]


class Context:
    """What one application of an op remembers for its backward pass.

    Attributes
    ----------
    function : type[Function]
        The op that made the output.
    parents : tuple of Tensor
        The op's inputs, in order.
    params : dict
        The op's non-tensor arguments, such as ``axis`` (for graph views and
        gradcheck).
    needs_input_grad : tuple of bool
        For each input, whether backward must compute its gradient.
    order : int
        When the op ran, counted across all ops: a result always comes after its
        inputs, which is the order backward relies on.
    saved_tensors : tuple
        What forward passed to :meth:`save_for_backward`.
    """

    # NOTE: "__dict__" keeps ``ctx.anything = ...`` working for ops written by users.
    __slots__ = (
        "__dict__",
        "function",
        "needs_input_grad",
        "order",
        "params",
        "parents",
        "saved_tensors",
    )

    def __init__(
        self,
        function: type[Function],
        parents: tuple[Tensor, ...],
        params: dict,
        needs_input_grad: tuple[bool, ...] | None = None,
    ) -> None:
        self.function = function
        self.parents = parents
        self.params = params
        if needs_input_grad is None:
            needs_input_grad = tuple([parent.requires_grad for parent in parents])
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple[Any, ...] = ()
        self.order = next(_ORDER)

    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays (or other values) for backward."""
        self.saved_tensors = values

    def backward(self, grad_output: np.ndarray) -> list[tuple[Tensor, np.ndarray]]:
        """Run the op's backward; return ``(parent, gradient)`` for every input
        that needs a gradient, after checking each gradient's shape."""
        function = self.function
        if ANOMALY.get():
            grads = _checked(function, "backward", self, function.backward, grad_output)
        else:
            grads = function.backward(self, grad_output)
        if type(grads) is not tuple:
            grads = tuple(grads) if type(grads) is list else (grads,)
        if len(grads) != len(self.parents):
            raise RuntimeError(
                f"{function.name}.backward returned {len(grads)} gradients for"
                f" {len(self.parents)} inputs"
            )

        found = []
        for index, grad in enumerate(grads):
            if self.needs_input_grad[index]:
                parent = self.parents[index]
                if grad is None or grad.shape != parent.data.shape:
                    raise self._bad_gradient(grads)
                found.append((parent, grad))
        return found

    def _bad_gradient(self, grads: tuple) -> Exception:
        """The error for the first gradient that is missing or of the wrong shape."""
        name = self.function.name
        for index, (parent, grad) in enumerate(zip(self.parents, grads, strict=True)):
            if not self.needs_input_grad[index]:
                continue
            if grad is None:
                return GraphError(
                    f"{name}.backward returned None for input {index}, which requires"
                    " grad"
                )
            if grad.shape != parent.data.shape:
                return ShapeError(
                    f"{name}.backward returned a gradient of shape {grad.shape} for"
                    f" input {index} of shape {parent.data.shape}"
                )
        raise AssertionError("no bad gradient")  # pragma: no cover


class Function:
    """Base class of every op; see the module docstring for the contract."""

    name: ClassVar[str] = "function"
    # Each op defines both as static methods; see the module docstring.
    forward: ClassVar[Callable[..., np.ndarray]]
    backward: ClassVar[Callable[..., Gradients]]

    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Tensor:
        """Run forward on the inputs' data; record the op if a gradient is needed."""
        # NOTE: tuple displays for the one or two inputs of nearly every op. Two
        # list comprehensions cost a fifth of what recording an op costs.
        arrays: tuple[np.ndarray, ...]
        needs: tuple[bool, ...]
        if len(inputs) == 2:
            a, b = inputs
            arrays, needs = (a.data, b.data), (a.requires_grad, b.requires_grad)
        elif len(inputs) == 1:
            arrays, needs = (inputs[0].data,), (inputs[0].requires_grad,)
        else:
            arrays = tuple([tensor.data for tensor in inputs])
            needs = tuple([tensor.requires_grad for tensor in inputs])
        ctx = Context(cls, inputs, params, needs)
        try:
            if ANOMALY.get():
                data = _checked(cls, "forward", ctx, cls.forward, *arrays, **params)
            else:
                data = cls.forward(ctx, *arrays, **params)
        except ValueError as error:
            # NumPy's two shape errors that any op may meet, operands that do not
            # broadcast and an axis out of range (an AxisError, which is also an
            # IndexError), become a ShapeError naming the op and the shapes. Every
            # other error is the op's own and passes on as it is.
            if isinstance(error, ShapeError):
                raise
            shapes = " and ".join(str(array.shape) for array in arrays)
            if "could not be broadcast" in str(error):
                message = f"{cls.name}: shapes {shapes} cannot be broadcast"
                raise ShapeError(message) from None
            if isinstance(error, IndexError):
                message = f"{cls.name}: {error} (input shapes {shapes})"
                raise ShapeError(message) from error
            raise

        if type(data) is not np.ndarray:
            data = np.asarray(data)  # NumPy returns scalars for 0-d results
        if True in needs and GRAD_ENABLED.get():
            return Tensor._from_op(data, ctx)
        return Tensor._from_op(data, None)


def _checked(
    cls: type[Function], step: str, ctx: Context, run: Callable, *args: Any, **kw: Any
) -> Any:
    """Run ``forward`` or ``backward`` under detect_anomaly: a floating-point error
    or a NaN or inf in the result raises FloatingPointError naming the op."""
    shapes = ", ".join(str(parent.data.shape) for parent in ctx.parents)
    where = f"{cls.name}: {step} on inputs of shapes {shapes}"
    try:
        with np.errstate(divide="raise", over="raise", invalid="raise"):
            result = run(ctx, *args, **kw)
    except FloatingPointError as error:
        raise FloatingPointError(f"{where}: {error}") from None
    results = result if type(result) in (tuple, list) else (result,)
    if not all(r is None or np.isfinite(r).all() for r in results):
        raise FloatingPointError(f"{where} produced a NaN or inf")
    return result


def as_tensor(value: Any, like: Tensor) -> Tensor:
    """Turn an operand into a Tensor; Python numbers take ``like``'s dtype."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float)):
        return Tensor._from_op(np.asarray(value, dtype=like.data.dtype), None)
    return Tensor._from_op(as_array(value), None)


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added to an input of ``shape``.

    Parameters
    ----------
    grad : ndarray
        The gradient with respect to a broadcast result.
    shape : tuple of int
        The input's shape; broadcasting it gave ``grad.shape``.

    Returns
    -------
    ndarray of shape ``shape``
        ``grad`` summed over the leading axes broadcasting added and over the axes
        where the input had size 1.

    >>> unbroadcast(np.ones((4, 2, 3)), (2, 1)).tolist()
    [[12.0], [12.0]]
    """
    if grad.shape == shape:
        return grad
    if not shape:  # a 0-d input, such as the bias of one neuron: sum it all
        return np.add.reduce(grad, axis=None, keepdims=True).reshape(())
    if grad.ndim == 2 and shape == grad.shape[1:]:
        # NOTE: a layer's bias gradient, summed over the batch: the product with a
        # vector of ones runs about four times faster than grad.sum(axis=0).
        ones = np.empty(len(grad), grad.dtype)
        ones.fill(1.0)  # cheaper than np.ones, which is written in Python
        return ones @ grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i
        for i, size in enumerate(shape)
        if size == 1 and grad.shape[extra + i] != 1
    )
    # keepdims: an array even when every axis is summed (NumPy gives a scalar).
    # np.add.reduce is grad.sum without the Python layer of ndarray.sum.
    return np.add.reduce(grad, axis=axes, keepdims=True).reshape(shape)


OpClass = TypeVar("OpClass", bound=type[Function])


def register(
    name: str,
    *,
    methods: tuple[str, ...] = (),
    reflected: str | None = None,
    arity: int = 1,
    params: tuple[str, ...] = (),
) -> Callable[[OpClass], OpClass]:
    """Class decorator: file an op in :data:`OPS` and attach it to ``Tensor``.

    Parameters
    ----------
    name : str
        The op's name, used in error messages and graph views.
    methods : tuple of str
        Tensor attributes that call the op with the tensor as first input. A name
        that is not a dunder and takes no arguments may be a property (``"T"``).
    reflected : str, optional
        The reflected operator (``"__radd__"``): the tensor is the second input.
    arity : int
        Number of tensor inputs; further positional arguments of a method bind to
        ``params`` in order. A param written ``"*shape"`` takes all the rest.
    """

    def decorate(cls: OpClass) -> OpClass:
        if name in OPS:
            raise ValueError(
                f"register: an op named {name!r} exists already"
                f" ({OPS[name].__qualname__}); choose another name"
            )
        cls.name = name
        OPS[name] = cls
        for method in methods:
            setattr(Tensor, method, _make_method(cls, arity, params, method))
        if reflected is not None:

            def reflected_method(self: Tensor, other: Any) -> Tensor:
                return cls.apply(as_tensor(other, self), self)

            setattr(Tensor, reflected, reflected_method)
        return cls

    return decorate


def _make_method(
    cls: type[Function], arity: int, params: tuple[str, ...], attr: str
) -> Any:
    """The Tensor attribute ``attr``: applies ``cls`` with the tensor first."""
    if arity == 2 and not params:

        def binary(self: Tensor, other: Any) -> Tensor:
            return cls.apply(self, as_tensor(other, self))

        binary.__doc__ = cls.__doc__
        return binary
    if attr == "T":
        return property(lambda self: cls.apply(self), doc=cls.__doc__)
    names = [param.lstrip("*") for param in params]
    gathers_rest = bool(params) and params[-1].startswith("*")

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if arity == 1:
            operands, values = [self], list(args)
        else:
            operands = [self, *(as_tensor(a, self) for a in args[: arity - 1])]
            values = list(args[arity - 1 :])
        # NOTE: a last param "*shape" gathers the remaining positional arguments,
        # so that x.reshape(2, 3) means x.reshape((2, 3)).
        if gathers_rest and len(values) > len(names):
            values[len(names) - 1 :] = [tuple(values[len(names) - 1 :])]
        if len(values) > len(names):
            raise TypeError(
                f"{attr}: expected at most {len(names)} argument(s) {names}, got"
                f" {len(values)}"
            )
        unknown = sorted(set(kwargs) - set(names)) if kwargs else []
        if unknown:
            raise TypeError(
                f"{attr}: unexpected keyword argument {unknown[0]!r}; expected one"
                f" of {names}"
            )
        kwargs.update(zip(names, values, strict=False))
        return cls.apply(*operands, **kwargs)

    method.__name__ = attr
    method.__doc__ = cls.__doc__
    return method
