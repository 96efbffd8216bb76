"""The Tensor: an array, its gradient, and the record of how it was made.

A Tensor holds a NumPy array in ``data``. When it is the result of an op on tensors
that require grad, ``grad_fn`` holds the op's :class:`~tinygrad_lr.function.Context`:
the op, its input tensors (``parents``) and what forward saved for backward. The op
math itself lives in ``ops.py``; this module only walks the graph.
"""

from __future__ import annotations

import heapq
import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tinygrad_lr.function import Context

__all__ = [
    "DTypeError",
    "GraphError",
    "ShapeError",
    "Tensor",
    "detect_anomaly",
    "is_grad_enabled",
    "no_grad",
]


class ShapeError(ValueError):
    """An operand's shape does not fit the op."""


class DTypeError(TypeError):
    """Data of a dtype that tinygrad_lr does not compute with."""


class GraphError(RuntimeError):
    """A backward pass that cannot run as asked."""


# Per-thread (and per-asyncio-task) switches: is a graph recorded, are values checked.
GRAD_ENABLED: ContextVar[bool] = ContextVar("grad_enabled", default=True)
ANOMALY: ContextVar[bool] = ContextVar("anomaly", default=False)


def is_grad_enabled() -> bool:
    """Return True unless the calling thread is inside :func:`no_grad`."""
    return GRAD_ENABLED.get()


def no_grad(function: Callable[..., Any] | None = None) -> Any:
    """Record no graph: results of ops inside do not require grad.

    Works as a context manager and as a decorator, ``@no_grad()`` or ``@no_grad``,
    and only for the calling thread (or asyncio task).

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = x * 2
    >>> y.requires_grad, y.grad_fn is None
    (False, True)
    """
    if function is None:
        return _grad_disabled()
    if not callable(function):
        raise TypeError(
            f"no_grad: takes no arguments (or the function it decorates), got"
            f" {function!r}; write `with no_grad():`"
        )
    return _grad_disabled()(function)  # @no_grad, without parentheses


@contextmanager
def _grad_disabled() -> Iterator[None]:
    previous = GRAD_ENABLED.get()
    GRAD_ENABLED.set(False)
    try:
        yield
    finally:
        GRAD_ENABLED.set(previous)


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise ``FloatingPointError`` at the first op that makes a NaN or an inf.

    Inside the block every forward result and every gradient an op returns is
    checked; the error names the op and the shapes of its inputs.
    """
    previous = ANOMALY.get()
    ANOMALY.set(True)
    try:
        yield
    finally:
        ANOMALY.set(previous)


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert array-like ``data`` to a float32 or float64 array, or raise.

    Python numbers, lists, bools and integer arrays become float64; float32 and
    float64 arrays keep their dtype and are not copied. ``dtype`` forces one of the
    two.
    """
    array = data if type(data) is np.ndarray else np.asarray(data)
    if dtype is None:
        if array.dtype == np.float64 or array.dtype == np.float32:
            return array
        target = np.dtype(np.float64)
    else:
        target = np.dtype(dtype)
        if target != np.float64 and target != np.float32:
            raise DTypeError(f"Tensor: dtype must be float32 or float64, got {target}")

    kind = array.dtype.kind
    if kind == "f" and dtype is None:
        raise DTypeError(
            f"Tensor: dtype {array.dtype} is not supported; convert to float32 or"
            " float64 first, or pass dtype="
        )
    if kind == "O":
        bad = [v for v in array.flat if not isinstance(v, numbers.Real)][:1]
        if bad:
            raise DTypeError(
                f"Tensor: cannot convert object array to {target} (element"
                f" {bad[0]!r}); expected real numbers"
            )
    if kind not in "biufO":
        raise DTypeError(
            f"Tensor: cannot compute with data of dtype {array.dtype}; expected real"
            " numbers"
        )
    return array.astype(target, copy=False)


class Tensor:
    """An n-dimensional array that records the ops applied to it.

    Parameters
    ----------
    data : array-like
        Numbers, nested lists or an ndarray. float32 and float64 arrays keep their
        dtype; everything else numeric becomes float64.
    requires_grad : bool, default False
        Whether ``backward`` should compute a gradient for this tensor.
    dtype : {None, "float32", "float64"}, default None
        Convert to this dtype instead of inferring one.

    Examples
    --------
    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.])
    """

    __slots__ = ("__weakref__", "data", "grad", "grad_fn", "name", "requires_grad")

    # NOTE: lets NumPy hand `ndarray + Tensor` to Tensor.__radd__ instead of
    # broadcasting the Tensor as an object scalar.
    __array_ufunc__ = None

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        *,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data: np.ndarray = as_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.grad_fn: Context | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name

    @classmethod
    def _from_op(cls, data: np.ndarray, grad_fn: Context | None) -> Tensor:
        """Wrap an op's result without validating it again."""
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        out.grad_fn = grad_fn
        out.requires_grad = grad_fn is not None
        out.name = None
        return out

    shape = property(lambda self: self.data.shape, doc="Shape of ``data``.")
    dtype = property(lambda self: self.data.dtype, doc="dtype of ``data``.")
    ndim = property(lambda self: self.data.ndim, doc="Number of dimensions.")
    size = property(lambda self: self.data.size, doc="Number of elements.")

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op."""
        return self.grad_fn is None

    def numpy(self) -> np.ndarray:
        """Return ``data`` (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """Return the value of a one-element tensor as a Python float."""
        if self.data.size != 1:
            raise ValueError(
                f"item: only one-element tensors have an item; shape is {self.shape}"
            )
        return float(self.data.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # np.asarray(tensor) gives the data, so NumPy and scikit-learn accept tensors.
        if dtype is None and not copy:
            return self.data
        return self.data.astype(dtype or self.data.dtype, copy=bool(copy))

    def __float__(self) -> float:
        return self.item()

    def __bool__(self) -> bool:
        # NOTE: without this, truth would come from __len__: a tensor of zeros
        # would be true and an empty one false.
        if self.data.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor of shape {self.shape} is"
                " ambiguous; use (tensor.data).any() or .all()"
            )
        return bool(self.data.item())

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def detach(self) -> Tensor:
        """Return a tensor that shares ``data`` and has no history."""
        return Tensor._from_op(self.data, None)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (set ``grad`` to None)."""
        self.grad = None

    def __repr__(self) -> str:
        prefix = f"{type(self).__name__}("
        body = np.array2string(
            self.data, separator=", ", precision=4, threshold=20, prefix=prefix
        )
        extras = ""
        if self.grad_fn is not None:
            extras = f", grad_fn={self.grad_fn.function.name}"
        elif self.requires_grad:
            extras = ", requires_grad=True"
        if self.data.dtype != np.float64:
            extras += f", dtype={self.data.dtype}"
        return f"{prefix}{body}{extras})"

    if TYPE_CHECKING:  # attached by ops.py; declared here for type checkers
        T: Tensor

        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pow__(self, exponent: float) -> Tensor: ...
        def __rpow__(self, base: float) -> Tensor: ...
        def __getitem__(self, key: Any) -> Tensor: ...
        def __getattr__(self, op: str) -> Any: ...  # every other registered op

    def backward(self, grad: Any = None) -> None:
        """Compute the gradient of this tensor with respect to every tensor it uses.

        Leaf tensors that require grad **accumulate** into ``grad`` (call
        ``zero_grad`` to start afresh); every other tensor of the graph gets the
        gradient of this pass in ``grad``, for inspection. The graph is kept, so
        calling backward again adds one more gradient to the leaves.

        Parameters
        ----------
        grad : array-like, optional
            The gradient flowing into this tensor. Needed unless the tensor has
            exactly one element, in which case it defaults to 1.
        """
        if grad is None:
            if self.data.size != 1:
                raise GraphError(
                    f"backward: output has shape {self.shape}; call .sum() or .mean()"
                    f" first, or pass grad= of shape {self.shape}"
                )
            grad = np.empty(self.data.shape, self.data.dtype)
            grad.fill(1.0)  # NOTE: cheaper than np.ones for the usual single number
        else:
            grad = as_array(grad.data if isinstance(grad, Tensor) else grad)
            if grad.shape != self.data.shape:
                raise ShapeError(
                    f"backward: grad shape {grad.shape} does not match tensor shape"
                    f" {self.shape}"
                )
        if not self.requires_grad:
            raise GraphError(
                "backward: this tensor does not require grad and has no graph; create"
                " the inputs with requires_grad=True"
            )

        if self.grad_fn is None:  # backward on a leaf: its gradient is grad itself
            self._accumulate(grad)
            return

        # Gradients waiting to be passed on, keyed by id() of the tensor, and a
        # heap of the tensors they belong to, the most recently made first. An op's
        # result is made after its inputs, so by the time a tensor leaves the heap,
        # every tensor made from it has passed its gradient on.
        pending: dict[int, np.ndarray] = {id(self): grad}
        heap: list[tuple[int, Tensor]] = [(-self.grad_fn.order, self)]
        # A leaf's gradient of this pass is summed first and added to its grad
        # once, so that a second backward adds exactly the same gradient again.
        leaves: dict[int, tuple[Tensor, np.ndarray]] = {}
        while heap:
            tensor = heapq.heappop(heap)[1]
            grad_output = pending.pop(id(tensor))
            if type(grad_output) is not np.ndarray or (
                grad_output.dtype is not tensor.data.dtype
            ):
                # NumPy makes scalars of 0-d results; a float64 constant can
                # promote the gradient of a float32 tensor.
                grad_output = np.asarray(grad_output, tensor.data.dtype)
            tensor.grad = grad_output
            assert tensor.grad_fn is not None  # the heap holds results of ops only
            for parent, parent_grad in tensor.grad_fn.backward(grad_output):
                if not parent.requires_grad:
                    continue  # requires_grad was switched off after the forward pass
                key, ctx = id(parent), parent.grad_fn
                if ctx is None:
                    if key in leaves:
                        parent_grad = leaves[key][1] + parent_grad
                    leaves[key] = (parent, parent_grad)
                elif key in pending:
                    pending[key] = pending[key] + parent_grad
                else:
                    pending[key] = parent_grad
                    heapq.heappush(heap, (-ctx.order, parent))
        for leaf, leaf_grad in leaves.values():
            leaf._accumulate(leaf_grad)

    def _accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` to a leaf's ``grad``; the first one is copied, so that
        later in-place edits of it stay private to this tensor."""
        if self.grad is None:
            self.grad = np.array(grad, self.data.dtype)  # a copy, and an ndarray
        else:
            self.grad = np.asarray(self.grad + grad, self.data.dtype)
