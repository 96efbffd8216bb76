"""Property tests for ops: Hypothesis strategies and :func:`check_op`.

This module needs the test extra (``pip install tinygrad-lr[test]``), which brings
Hypothesis. It is what ``tests/test_ops.py`` uses, and what you use to test an op
of your own: give :func:`check_op` the op and a NumPy function that computes the
same thing, and it checks the forward values against NumPy and the gradients
against float64 central differences, over many shapes (0-d, empty, broadcast),
values and memory layouts.

>>> from tinygrad_lr.testing import check_op
>>> check_op(lambda x: x * x, np.square, max_examples=5)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_lr.gradcheck import _ops_in_order, gradcheck
from tinygrad_lr.tensor import Tensor

__all__ = [
    "array_shapes",
    "broadcastable_shapes",
    "check_op",
    "float_arrays",
    "floats",
    "gradient_shapes",
    "matmul_shapes",
]

Shape = tuple[int, ...]
Domain = tuple[float, float] | st.SearchStrategy[float]
ShapesArgument = st.SearchStrategy[tuple[Shape, ...]] | Callable[[int], Any]

MAX_DIMS = 3
MAX_SIDE = 4


# ---------------------------------------------------------------- shapes


def array_shapes(*, min_side: int = 0) -> st.SearchStrategy[Shape]:
    """Shapes of up to 3 axes of up to 4 elements, 0-d ``()`` and empty included.

    Parameters
    ----------
    min_side : int, default 0
        Smallest axis length. 0 lets shapes such as ``(2, 0)`` through; use 1 (or
        :func:`gradient_shapes`) where empty arrays make no sense.
    """
    return hnp.array_shapes(
        min_dims=0, max_dims=MAX_DIMS, min_side=min_side, max_side=MAX_SIDE
    )


def gradient_shapes() -> st.SearchStrategy[Shape]:
    """:func:`array_shapes` without empty axes, for gradient properties."""
    return array_shapes(min_side=1)


def broadcastable_shapes(
    num_shapes: int = 2, *, min_side: int = 0
) -> st.SearchStrategy[tuple[Shape, ...]]:
    """Tuples of ``num_shapes`` shapes that broadcast together by NumPy's rules,
    0-d and length-1 axes included."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes,
        min_dims=0,
        max_dims=MAX_DIMS,
        min_side=min_side,
        max_side=MAX_SIDE,
    ).map(lambda drawn: drawn.input_shapes)


def matmul_shapes(*, min_side: int = 0) -> st.SearchStrategy[tuple[Shape, ...]]:
    """Pairs of 1-D or 2-D shapes that ``a @ b`` accepts: all four combinations
    ``(k,) @ (k,)``, ``(n, k) @ (k,)``, ``(k,) @ (k, m)`` and ``(n, k) @ (k, m)``.
    """
    return hnp.mutually_broadcastable_shapes(
        signature="(n?,k),(k,m?)->(n?,m?)",
        max_dims=0,
        min_side=min_side,
        max_side=MAX_SIDE,
    ).map(lambda drawn: drawn.input_shapes)


# ---------------------------------------------------------------- values


def floats(low: float = -50.0, high: float = 50.0) -> st.SearchStrategy[float]:
    """Finite floats in ``[low, high]``: no NaN, no inf, no subnormals."""
    return st.floats(low, high, allow_nan=False, allow_subnormal=False)


def _elements(domain: Domain) -> st.SearchStrategy[float]:
    if isinstance(domain, st.SearchStrategy):
        return domain
    low, high = domain
    return floats(low, high)


def float_arrays(
    shape: Shape | st.SearchStrategy[Shape],
    *,
    domain: Domain = (-50.0, 50.0),
    dtype: Any = np.float64,
    layout: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Float arrays of ``shape`` with values from ``domain``.

    Parameters
    ----------
    shape : tuple of int, or a strategy of them
    domain : (low, high) or a strategy of floats, default (-50, 50)
        Where the values come from; a pair means finite floats in ``[low, high]``
        without subnormals.
    dtype : numpy dtype, default float64
    layout : bool, default False
        When True, some arrays are non-contiguous views (every other column of a
        wider array, or the transpose of an array drawn the other way round) and
        some are read-only, so an op that assumes a layout or writes into its
        input is caught.
    """
    if isinstance(shape, st.SearchStrategy):
        return shape.flatmap(
            lambda drawn: float_arrays(drawn, domain=domain, dtype=dtype, layout=layout)
        )
    return _array_strategy(tuple(shape), domain, np.dtype(dtype), layout)


@functools.lru_cache(maxsize=4096)
def _array_strategy(
    shape: Shape, domain: Domain, dtype: np.dtype, layout: bool
) -> st.SearchStrategy[np.ndarray]:
    # NOTE: cached because Hypothesis re-analyses every new strategy object, which
    # costs more than drawing a small array from it.
    elements = _elements(domain)
    if not layout:
        return hnp.arrays(dtype, shape, elements=elements)
    return _laid_out(shape, dtype, elements)


@st.composite
def _laid_out(
    draw: Callable[..., Any],
    shape: Shape,
    dtype: Any,
    elements: st.SearchStrategy[float],
) -> np.ndarray:
    """An array of ``shape``: contiguous, a strided view or a transposed view;
    sometimes read-only."""
    kinds = ["contiguous"]
    if len(shape) >= 1:
        kinds.append("strided")
    if len(shape) >= 2:
        kinds.append("transposed")
    kind = draw(st.sampled_from(kinds))
    if kind == "strided":
        wide = (*shape[:-1], 2 * shape[-1])
        array = draw(hnp.arrays(dtype, wide, elements=elements))[..., ::2]
    elif kind == "transposed":
        array = draw(hnp.arrays(dtype, shape[::-1], elements=elements)).T
    else:
        array = draw(hnp.arrays(dtype, shape, elements=elements))
    if draw(st.booleans()):
        array.flags.writeable = False
    return array


# ---------------------------------------------------------------- check_op


def _normwise_error(value: np.ndarray, expected: np.ndarray) -> float:
    """max|value - expected| / max(max|expected|, 1), NaN if anything is NaN."""
    if value.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(expected))), 1.0)
    return float(np.max(np.abs(value - expected))) / scale


def _check_gradient_dtypes(out: Tensor) -> None:
    """Assert that the backward of every op behind ``out`` returns gradients of its
    inputs' dtypes."""
    # NOTE: out.backward() and the leaves' grad cannot show this: backward casts
    # every gradient to its tensor's dtype. Each op's own backward is run instead.
    for node in _ops_in_order(out):
        ctx = node.grad_fn
        assert ctx is not None
        grad_output = np.ones(node.shape, node.dtype)
        inputs = [index for index, needs in enumerate(ctx.needs_input_grad) if needs]
        found = ctx.backward(grad_output)
        for index, (parent, grad) in zip(inputs, found, strict=True):
            assert grad.dtype == parent.dtype, (
                f"{ctx.function.name}.backward returned a {grad.dtype} gradient for"
                f" input {index} of dtype {parent.dtype}"
            )


def _shape_strategy(
    shapes: ShapesArgument | None, arity: int, min_side: int
) -> st.SearchStrategy[tuple[Shape, ...]]:
    if shapes is None:
        if arity == 1:
            return array_shapes(min_side=min_side).map(lambda shape: (shape,))
        return broadcastable_shapes(arity, min_side=min_side)
    if isinstance(shapes, st.SearchStrategy):
        return shapes
    return shapes(min_side)


def check_op(
    fn: Callable[..., Tensor],
    reference: Callable[..., Any],
    *,
    arity: int = 1,
    domain: Domain | Sequence[Domain] = (-50.0, 50.0),
    shapes: ShapesArgument | None = None,
    params: Callable[[tuple[Shape, ...]], st.SearchStrategy[Mapping[str, Any]]]
    | None = None,
    forward: bool = True,
    backward: bool = True,
    rtol: float = 1e-12,
    atol: float = 1e-14,
    float32_tolerance: float | None = 1e-5,
    grad_tolerance: float = 1e-6,
    max_examples: int | None = None,
) -> None:
    """Property-test an op against NumPy and its gradient against central differences.

    Two Hypothesis tests run, each over drawn shapes, parameters and values:

    * **forward**: ``fn(*tensors, **params)`` equals ``reference(*arrays, **params)``
      within ``rtol``/``atol``, with the same shape; inputs may be non-contiguous or
      read-only and must come back unchanged; float32 inputs give a float32 result
      within ``float32_tolerance`` of the float64 reference, normwise, and every
      op's backward returns gradients of its inputs' dtypes.
    * **backward**: the gradient of every input equals float64 central differences
      (eps 1e-6) normwise, ``max|g - g_fd| <= grad_tolerance * max(max|g_fd|, 1)``,
      by :func:`tinygrad_lr.gradcheck` (full Jacobian-vector product). Shapes have no
      empty axes here.

    Parameters
    ----------
    fn : callable
        Takes ``arity`` Tensors (and the keyword arguments drawn by ``params``) and
        returns a Tensor.
    reference : callable
        The same computation on ndarrays, returning an ndarray or a number.
    arity : int, default 1
        Number of tensor inputs.
    domain : (low, high), strategy of floats, or a sequence of those, default (-50, 50)
        Values of the inputs; a sequence gives one domain per input. Keep inputs
        away from points where the op is not differentiable (a kink, a pole): pass
        e.g. ``floats(0.5, 50) | floats(-50, -0.5)``.
    shapes : strategy of shape tuples, or callable ``min_side -> strategy``, optional
        Shapes of the inputs, one tuple per example. By default one shape from
        :func:`array_shapes` for unary ops and broadcasting tuples from
        :func:`broadcastable_shapes` otherwise. A callable receives 0 for forward
        (empty arrays allowed) and 1 for backward.
    params : callable ``shapes -> strategy of dict``, optional
        Keyword arguments for ``fn`` and ``reference`` (an axis, an exponent) that may
        depend on the drawn shapes.
    forward, backward : bool, default True
        Which of the two tests to run.
    rtol, atol : float, default 1e-12 and 1e-14
        Forward tolerance in float64, as in ``np.testing.assert_allclose``.
    float32_tolerance : float or None, default 1e-5
        Normwise forward tolerance of float32 inputs; None skips the float32 check.
    grad_tolerance : float, default 1e-6
        Normwise tolerance of the gradient check.
    max_examples : int, optional
        Examples per test; by default the active Hypothesis profile decides.

    Raises
    ------
    AssertionError
        With Hypothesis's smallest failing example, when a check fails.

    Notes
    -----
    Call it from a plain test function (``def test_cube(): check_op(...)``), not
    from inside a test that is itself decorated with ``@given``.

    Examples
    --------
    A new op, written as a :class:`~tinygrad_lr.function.Function` (add
    ``@register("cube", methods=("cube",))`` to make it ``Tensor.cube``), checked
    against NumPy's ``x ** 3``:

    >>> import numpy as np
    >>> from tinygrad_lr.function import Function
    >>> from tinygrad_lr.testing import check_op
    >>> class Cube(Function):
    ...     name = "cube"
    ...
    ...     @staticmethod
    ...     def forward(ctx, a):
    ...         ctx.save_for_backward(a)
    ...         return a**3
    ...
    ...     @staticmethod
    ...     def backward(ctx, grad_output):
    ...         (a,) = ctx.saved_tensors
    ...         return grad_output * 3 * a**2
    >>> check_op(Cube.apply, lambda x: x**3, max_examples=10)

    A wrong backward (say ``2 * a**2``) makes it raise with the smallest failing
    input and a table of the worst elements.

    A binary op, with the divisor kept away from zero:

    >>> from tinygrad_lr.testing import floats
    >>> away_from_zero = floats(0.5, 50) | floats(-50, -0.5)
    >>> check_op(
    ...     lambda a, b: a / b,
    ...     np.divide,
    ...     arity=2,
    ...     domain=[(-50, 50), away_from_zero],
    ...     max_examples=10,
    ... )
    """
    if isinstance(domain, Sequence) and not (
        len(domain) == 2 and all(isinstance(v, (int, float)) for v in domain)
    ):
        domains: list[Domain] = list(domain)  # type: ignore[arg-type]
        if len(domains) != arity:
            raise ValueError(
                f"check_op: domain has {len(domains)} entries for arity {arity}"
            )
    else:
        domains = [domain] * arity  # type: ignore[list-item]

    chosen = settings(suppress_health_check=[HealthCheck.too_slow])
    if max_examples is not None:
        chosen = settings(chosen, max_examples=max_examples)

    shape_strategies = {side: _shape_strategy(shapes, arity, side) for side in (0, 1)}
    # One params strategy per shape tuple: building strategies is what costs.
    params_for = functools.lru_cache(maxsize=None)(params) if params else None

    def draw_case(
        data: st.DataObject, min_side: int, layout: bool
    ) -> tuple[list[np.ndarray], dict[str, Any]]:
        drawn = data.draw(shape_strategies[min_side], "shapes")
        input_shapes = tuple(tuple(shape) for shape in drawn)
        if len(input_shapes) != arity:
            raise ValueError(
                f"check_op: the shapes strategy gave {len(input_shapes)} shapes for"
                f" arity {arity}"
            )
        kwargs = (
            dict(data.draw(params_for(input_shapes), "params")) if params_for else {}
        )
        arrays = [
            data.draw(float_arrays(shape, domain=dom, layout=layout), f"input {i}")
            for i, (shape, dom) in enumerate(zip(input_shapes, domains, strict=True))
        ]
        return arrays, kwargs

    @chosen
    @given(data=st.data())
    def forward_matches_reference(data: st.DataObject) -> None:
        arrays, kwargs = draw_case(data, 0, True)
        originals = [a.copy() for a in arrays]
        expected = np.asarray(reference(*originals, **kwargs), dtype=np.float64)

        tensors = [Tensor(a, requires_grad=True) for a in arrays]
        out = fn(*tensors, **kwargs)
        assert out.shape == expected.shape, (
            f"forward: shape {out.shape}, reference shape {expected.shape}"
        )
        assert out.dtype == np.float64, f"forward: dtype {out.dtype} from float64"
        np.testing.assert_allclose(out.data, expected, rtol=rtol, atol=atol)

        out.backward(np.ones(out.shape))
        for index, (tensor, array, original) in enumerate(
            zip(tensors, arrays, originals, strict=True)
        ):
            np.testing.assert_array_equal(
                array, original, err_msg=f"input {index} was changed in place"
            )
            assert tensor.grad is not None, f"input {index} got no gradient"
            assert tensor.grad.shape == array.shape

        if float32_tolerance is None:
            return
        singles = [Tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
        out32 = fn(*singles, **kwargs)
        assert out32.dtype == np.float32, f"forward: dtype {out32.dtype} from float32"
        error = _normwise_error(out32.data.astype(np.float64), expected)
        assert error <= float32_tolerance, f"float32 normwise error {error:.3g}"
        _check_gradient_dtypes(out32)

    @chosen
    @given(data=st.data())
    def backward_matches_central_differences(data: st.DataObject) -> None:
        arrays, kwargs = draw_case(data, 1, False)
        gradcheck(
            lambda *tensors: fn(*tensors, **kwargs),
            arrays,
            eps=1e-6,
            tolerance=grad_tolerance,
        )

    if forward:
        forward_matches_reference()
    if backward:
        backward_matches_central_differences()
