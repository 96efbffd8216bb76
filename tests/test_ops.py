"""Every registered op against NumPy (forward) and central differences (backward).

The table ``ROWS`` holds one row per op in ``tinygrad_lr.function.OPS``: how to call
it, a NumPy reference, the values it is defined on and the parameters it takes.
Adding an op needs exactly one new row; ``test_every_registered_op_has_a_row``
fails until it is there.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import scipy.special
from hypothesis import find, settings
from hypothesis import strategies as st

from tinygrad_lr import Tensor, ops
from tinygrad_lr.function import OPS, Function
from tinygrad_lr.tensor import ShapeError
from tinygrad_lr.testing import (
    array_shapes,
    check_op,
    float_arrays,
    floats,
    matmul_shapes,
)

AWAY_FROM_ZERO = floats(0.5, 50.0) | floats(-50.0, -0.5)
BOTH_SIGNS_NOT_AT_ZERO = floats(-50.0, 50.0).filter(lambda v: abs(v) > 1e-5)
REDUCIBLE = 1e-11  # absolute slack for sums of up to 64 products of size 50²


# ---------------------------------------------------------------- parameters


def axis_params(shapes: tuple[tuple[int, ...], ...]) -> st.SearchStrategy[dict]:
    """axis=None, one axis (negative too) or a tuple of distinct axes; keepdims."""
    ndim = len(shapes[0])
    single = st.integers(-ndim, ndim - 1) if ndim else st.nothing()
    several = st.lists(
        st.integers(0, ndim - 1) if ndim else st.nothing(), unique=True, max_size=ndim
    ).map(tuple)
    return st.fixed_dictionaries(
        {"axis": st.none() | single | several, "keepdims": st.booleans()}
    )


def reshape_params(shapes: tuple[tuple[int, ...], ...]) -> st.SearchStrategy[dict]:
    """A target shape of the same size, passed as a tuple or as separate ints."""
    shape = shapes[0]
    targets = [(-1,), shape[::-1], (*shape, 1), (1, -1)]
    # NOTE: x.reshape(*()) is x.reshape() with no shape, an error as in NumPy.
    star = st.booleans() if shape else st.just(False)
    return st.fixed_dictionaries({"shape": st.sampled_from(targets), "star": star})


def transpose_params(shapes: tuple[tuple[int, ...], ...]) -> st.SearchStrategy[dict]:
    """No axes (spelt .T or .transpose()) or a permutation (tuple or separate ints,
    negative axes too)."""
    ndim = len(shapes[0])
    permutation = st.permutations(range(ndim)).map(tuple)
    with_negatives = permutation.flatmap(
        lambda axes: st.tuples(*[st.sampled_from([i, i - ndim]) for i in axes])
    )
    return st.one_of(
        st.fixed_dictionaries({"axes": st.none(), "spelling": st.sampled_from("Tm")}),
        st.fixed_dictionaries(
            {"axes": with_negatives, "spelling": st.sampled_from("ts")}
        ),
    )


def call_reshape(x: Tensor, shape: tuple[int, ...], star: bool) -> Tensor:
    return x.reshape(*shape) if star else x.reshape(shape)


def call_transpose(x: Tensor, axes: tuple[int, ...] | None, spelling: str) -> Tensor:
    if spelling == "T":
        return x.T
    if spelling == "m":
        return x.transpose()
    return x.transpose(*axes) if spelling == "s" else x.transpose(axes)


def bce_reference(z: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
    """-y·log σ(z) - (1 - y)·log σ(-z) by SciPy's log_expit, then reduced."""
    losses = -(y * scipy.special.log_expit(z) + (1 - y) * scipy.special.log_expit(-z))
    if reduction == "none":
        return losses
    return np.sum(losses) / (z.size if reduction == "mean" else 1)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Row:
    """How to call one op, and what it must agree with."""

    name: str
    fn: Callable[..., Tensor]
    reference: Callable[..., Any]
    arity: int = 1
    domain: Any = (-50.0, 50.0)
    shapes: Any = None
    params: Any = None
    atol: float = 1e-14
    # The Python operator of a binary op, for the reflected-operator tests.
    operator: Callable[[Any, Any], Any] | None = None

    def __str__(self) -> str:
        return self.name


ROWS = [
    Row("add", operator.add, np.add, arity=2, operator=operator.add),
    Row("sub", operator.sub, np.subtract, arity=2, operator=operator.sub),
    Row("mul", operator.mul, np.multiply, arity=2, operator=operator.mul),
    Row(
        "div",
        operator.truediv,
        np.divide,
        arity=2,
        domain=[(-50.0, 50.0), AWAY_FROM_ZERO],
        operator=operator.truediv,
    ),
    Row(
        "matmul",
        operator.matmul,
        np.matmul,
        arity=2,
        shapes=lambda min_side: matmul_shapes(min_side=min_side),
        atol=REDUCIBLE,
        operator=operator.matmul,
    ),
    Row("neg", operator.neg, np.negative),
    Row(
        "pow",
        lambda x, exponent: x**exponent,
        lambda x, exponent: np.power(x, exponent),
        domain=(0.1, 10.0),
        params=lambda shapes: st.fixed_dictionaries(
            {"exponent": st.sampled_from([-2, -1, -0.5, 0, 0.5, 1, 2, 3, 2.5])}
        ),
    ),
    Row("exp", lambda x: x.exp(), np.exp),
    Row("log", lambda x: x.log(), np.log, domain=(1e-3, 1e3)),
    Row("sigmoid", lambda x: x.sigmoid(), scipy.special.expit),
    Row("log_sigmoid", lambda x: x.log_sigmoid(), scipy.special.log_expit),
    Row("softplus", lambda x: x.softplus(), lambda x: np.logaddexp(0.0, x)),
    Row("tanh", lambda x: x.tanh(), np.tanh),
    Row(
        "relu",
        lambda x: x.relu(),
        lambda x: np.maximum(x, 0.0),
        domain=BOTH_SIGNS_NOT_AT_ZERO,
    ),
    Row(
        "sum",
        lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims),
        np.sum,
        params=axis_params,
        atol=REDUCIBLE,
    ),
    Row(
        "mean",
        lambda x, axis, keepdims: x.mean(axis, keepdims),
        np.mean,
        # NOTE: an empty reduction raises by design, so no empty shapes here.
        shapes=array_shapes(min_side=1).map(lambda shape: (shape,)),
        params=axis_params,
        atol=REDUCIBLE,
    ),
    Row(
        "reshape",
        call_reshape,
        lambda x, shape, star: np.reshape(x, shape),
        params=reshape_params,
    ),
    Row(
        "transpose",
        call_transpose,
        lambda x, axes, spelling: np.transpose(x, axes),
        params=transpose_params,
    ),
    Row(
        "getitem",
        lambda x, key: x[key],
        lambda x, key: np.asarray(x[key]),
        params=lambda shapes: st.fixed_dictionaries(
            {"key": hnp.basic_indices(shapes[0], min_dims=0, allow_newaxis=True)}
        ),
    ),
    Row(
        "binary_cross_entropy_with_logits",
        # The op itself: the public function's target validation would reject the
        # central-difference steps at y = 0 and y = 1 (it is tested on its own in
        # test_functional.py).
        lambda z, y, reduction: ops.BinaryCrossEntropyWithLogits.apply(
            z, y, reduction=reduction
        ),
        bce_reference,
        arity=2,
        domain=[(-50.0, 50.0), st.sampled_from([0.0, 1.0]) | floats(0.0, 1.0)],
        shapes=array_shapes(min_side=1).map(lambda shape: (shape, shape)),
        params=lambda shapes: st.fixed_dictionaries(
            {"reduction": st.sampled_from(["mean", "sum", "none"])}
        ),
        atol=REDUCIBLE,
    ),
]
BINARY_OPERATORS = [row for row in ROWS if row.operator is not None]


def test_every_registered_op_has_a_row() -> None:
    # Ops that a test or an example registers for itself are not the library's.
    library = {name for name, op in OPS.items() if op.__module__ == ops.__name__}
    rows = {row.name for row in ROWS}
    missing = sorted(library - rows)
    unknown = sorted(rows - library)
    assert not missing, f"ops without a row in ROWS: {missing}"
    assert not unknown, f"rows for ops that are not registered: {unknown}"
    assert len(rows) == len(ROWS), "an op has more than one row"


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_forward_matches_the_numpy_reference(row: Row) -> None:
    def fn(*tensors: Tensor, **kwargs: Any) -> Tensor:
        out = row.fn(*tensors, **kwargs)
        assert out.grad_fn is not None and out.grad_fn.function is OPS[row.name], (
            f"the row {row.name!r} does not call the op {row.name!r}"
        )
        return out

    check_op(
        fn,
        row.reference,
        arity=row.arity,
        domain=row.domain,
        shapes=row.shapes,
        params=row.params,
        atol=row.atol,
        backward=False,
    )


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_backward_matches_central_differences(row: Row) -> None:
    check_op(
        row.fn,
        row.reference,
        arity=row.arity,
        domain=row.domain,
        shapes=row.shapes,
        params=row.params,
        forward=False,
        # One example costs up to 2 forward passes per input element (the full
        # Jacobian-vector product), so half the profile's examples.
        max_examples=max(settings.default.max_examples // 2, 1),
    )


# ---------------------------------------------------------------- reflected operators


def _values(domain: Any) -> st.SearchStrategy[float]:
    return domain if isinstance(domain, st.SearchStrategy) else floats(*domain)


def _domains(row: Row) -> list[Any]:
    return list(row.domain) if isinstance(row.domain, list) else [row.domain] * 2


@pytest.mark.parametrize("tensor_side", ["left", "right"])
@pytest.mark.parametrize(
    "row", [r for r in BINARY_OPERATORS if r.name != "matmul"], ids=str
)
def test_binary_operator_with_a_python_scalar_on_either_side(
    row: Row, tensor_side: str
) -> None:
    tensor_domain, scalar_domain = _domains(row)
    if tensor_side == "right":
        scalar_domain, tensor_domain = tensor_domain, scalar_domain
    apply = row.operator
    assert apply is not None

    def fn(x: Tensor, scalar: float) -> Tensor:
        return apply(x, scalar) if tensor_side == "left" else apply(scalar, x)

    def reference(x: np.ndarray, scalar: float) -> np.ndarray:
        pair = (x, scalar) if tensor_side == "left" else (scalar, x)
        return row.reference(*pair)

    check_op(
        fn,
        reference,
        domain=tensor_domain,
        params=lambda shapes: st.fixed_dictionaries({"scalar": _values(scalar_domain)}),
        max_examples=25,
    )


@pytest.mark.parametrize("tensor_side", ["left", "right"])
@pytest.mark.parametrize("row", BINARY_OPERATORS, ids=str)
def test_binary_operator_with_an_ndarray_on_either_side(
    row: Row, tensor_side: str
) -> None:
    tensor_domain, array_domain = _domains(row)
    if tensor_side == "right":
        array_domain, tensor_domain = tensor_domain, array_domain
    apply = row.operator
    assert apply is not None

    def other_shape(shape: tuple[int, ...]) -> st.SearchStrategy[tuple[int, ...]]:
        if row.name == "matmul":
            k = shape[-1] if tensor_side == "left" else shape[0]
            other = [(k,), (2, k)] if tensor_side == "right" else [(k,), (k, 3)]
            return st.sampled_from(other)
        return hnp.broadcastable_shapes(shape, min_dims=0, max_dims=3, max_side=4)

    def params(shapes: tuple[tuple[int, ...], ...]) -> st.SearchStrategy[dict]:
        return (
            other_shape(shapes[0])
            .flatmap(lambda shape: float_arrays(shape, domain=array_domain))
            .map(lambda array: {"other": array})
        )

    def fn(x: Tensor, other: np.ndarray) -> Tensor:
        out = apply(x, other) if tensor_side == "left" else apply(other, x)
        assert isinstance(out, Tensor), f"{row.name} returned {type(out).__name__}"
        return out

    def reference(x: np.ndarray, other: np.ndarray) -> np.ndarray:
        pair = (x, other) if tensor_side == "left" else (other, x)
        return row.reference(*pair)

    shapes = (
        array_shapes(min_side=1).filter(lambda s: 1 <= len(s) <= 2).map(lambda s: (s,))
        if row.name == "matmul"
        else None
    )
    check_op(
        fn,
        reference,
        domain=tensor_domain,
        shapes=shapes,
        params=params,
        # The float64 array promotes a float32 tensor's result, as in NumPy.
        float32_tolerance=None,
        atol=row.atol,
        max_examples=25,
    )


# ---------------------------------------------------------------- single cases


def test_matmul_of_empty_inner_dimension_gives_zeros_and_empty_grads() -> None:
    a = Tensor(np.ones((2, 0)), requires_grad=True)
    b = Tensor(np.ones((0, 3)), requires_grad=True)

    out = a @ b
    out.sum().backward()

    np.testing.assert_array_equal(out.data, np.zeros((2, 3)))
    assert a.grad is not None and a.grad.shape == (2, 0)
    assert b.grad is not None and b.grad.shape == (0, 3)


def test_sum_of_an_empty_tensor_is_zero_with_an_empty_grad() -> None:
    x = Tensor([], requires_grad=True)

    out = x.sum()
    out.backward()

    assert out.item() == 0.0
    assert x.grad is not None and x.grad.shape == (0,)


def test_mean_of_an_empty_tensor_raises() -> None:
    with pytest.raises(ValueError, match=r"^mean: empty tensor of shape \(0, 3\)"):
        Tensor(np.ones((0, 3))).mean()


def test_mean_over_a_non_empty_axis_of_an_empty_tensor_is_empty() -> None:
    x = Tensor(np.ones((3, 0)), requires_grad=True)

    out = x.mean(axis=0)
    out.backward(np.ones(0))

    assert out.shape == (0,)
    assert x.grad is not None and x.grad.shape == (3, 0)


def test_relu_at_zero_has_value_zero_and_gradient_zero() -> None:
    x = Tensor([0.0, -0.0], requires_grad=True)

    out = x.relu()
    out.sum().backward()

    np.testing.assert_array_equal(out.data, [0.0, 0.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize("magnitude", [1e3, 1e300])
def test_tanh_saturates_to_plus_minus_one_with_zero_gradient(magnitude: float) -> None:
    x = Tensor([-magnitude, magnitude], requires_grad=True)

    with np.errstate(divide="raise", over="raise", invalid="raise"):
        out = x.tanh()
        out.sum().backward()

    np.testing.assert_array_equal(out.data, [-1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize(
    ("dtype", "value"), [(np.float64, 710.0), (np.float32, 89.0)], ids=["64", "32"]
)
def test_exp_overflow_gives_inf_with_numpys_warning(dtype: type, value: float) -> None:
    x = Tensor(np.array([value], dtype=dtype))

    with pytest.warns(RuntimeWarning, match="overflow encountered in exp"):
        out = x.exp()

    assert out.data[0] == np.inf and out.dtype == dtype


@pytest.mark.parametrize(
    ("value", "expected", "message"),
    [(0.0, -np.inf, "divide by zero"), (-1.0, np.nan, "invalid value")],
    ids=["zero", "negative"],
)
def test_log_outside_its_domain_warns(
    value: float, expected: float, message: str
) -> None:
    x = Tensor([value])

    with pytest.warns(RuntimeWarning, match=message):
        out = x.log()

    np.testing.assert_array_equal(out.data, [expected])


def test_pow_with_an_integer_exponent_works_for_negative_bases() -> None:
    x = Tensor([-2.0, -0.5, 3.0], requires_grad=True)

    out = x**3
    out.sum().backward()

    np.testing.assert_array_equal(out.data, [-8.0, -0.125, 27.0])
    np.testing.assert_array_equal(x.grad, [12.0, 0.75, 27.0])


def test_pow_with_a_tensor_exponent_raises_with_the_alternative() -> None:
    x = Tensor([1.0, 2.0])
    with pytest.raises(NotImplementedError, match=r"pow: .*\(y \* x.log\(\)\).exp"):
        x ** Tensor([2.0, 2.0])


def test_pow_with_a_non_number_exponent_raises() -> None:
    with pytest.raises(TypeError, match=r"pow: the exponent must be a real number"):
        Tensor([1.0]) ** "2"


def test_a_number_to_the_power_of_a_tensor_is_exp_of_x_log_base() -> None:
    x = Tensor([0.0, 1.0, 3.0], requires_grad=True)

    out = 2.0**x
    out.sum().backward()

    np.testing.assert_allclose(out.data, [1.0, 2.0, 8.0], rtol=1e-15)
    np.testing.assert_allclose(x.grad, np.log(2.0) * np.array([1.0, 2.0, 8.0]))


@pytest.mark.parametrize("base", [0.0, -2.0])
def test_a_base_that_is_not_positive_raises(base: float) -> None:
    with pytest.raises(NotImplementedError, match=r"pow: base \*\* tensor needs"):
        base ** Tensor([1.0])


def test_matmul_of_three_dimensional_operands_is_a_declared_gap() -> None:
    a = Tensor(np.ones((2, 2, 2)))
    with pytest.raises(NotImplementedError, match=r"matmul: batched matmul"):
        a @ a


def test_indexing_with_repeated_integers_sums_their_gradients() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)

    x[np.array([0, 0, 2])].sum().backward()

    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 1.0])


def test_indexing_with_a_boolean_mask_passes_gradients_to_the_picked_rows() -> None:
    x = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)

    picked = x[np.array([True, False, True])]
    (picked * picked).sum().backward()

    np.testing.assert_array_equal(picked.data, [[0.0, 1.0], [4.0, 5.0]])
    np.testing.assert_array_equal(x.grad, [[0.0, 2.0], [0.0, 0.0], [8.0, 10.0]])


def test_indexing_with_a_tensor_raises_with_a_hint() -> None:
    x = Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match=r"getitem: index with ints"):
        x[Tensor([0.0])]


def test_transpose_rejects_an_axis_out_of_range() -> None:
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"transpose: axis 5 is out of bounds"):
        x.transpose(5, 0)


@pytest.mark.parametrize("scale", [1e155, 1e-156])
def test_the_gradient_of_a_quotient_survives_where_the_square_of_b_does_not(
    scale: float,
) -> None:
    # b² overflows to inf for 1e155 and is subnormal, short of digits, for 1e-156.
    a = Tensor([3.0 * scale], requires_grad=True)
    b = Tensor([7.0 * scale], requires_grad=True)

    (a / b).sum().backward()

    assert b.grad is not None
    assert b.grad[0] == pytest.approx(-3.0 / 49.0 / scale, rel=1e-15)


def test_sum_rejects_an_axis_out_of_range() -> None:
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"sum: axis 2 is out of bounds"):
        x.sum(axis=2)


# ---------------------------------------------------------------- the kit itself


class _Square(Function):
    """x², the forward of the broken ops below."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return a * a


class _SquareWithWrongGradient(_Square):
    """x², but with backward 2.001·x·g (a 0.05% error)."""

    name = "square_with_wrong_gradient"

    @staticmethod
    def backward(ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        return grad_output * 2.001 * a


def test_check_op_catches_a_wrong_gradient() -> None:
    with pytest.raises(AssertionError, match=r"output of square_with_wrong_gradient"):
        check_op(_SquareWithWrongGradient.apply, np.square, max_examples=20)


def test_check_op_catches_a_wrong_forward() -> None:
    with pytest.raises(AssertionError, match=r"Not equal to tolerance"):
        check_op(lambda x: x * 1.000001, lambda x: x, max_examples=20)


def test_check_op_catches_a_float32_result_promoted_to_float64() -> None:
    with pytest.raises(AssertionError, match=r"dtype float64 from float32"):
        check_op(lambda x: x * Tensor(np.ones(x.shape)), lambda x: x, max_examples=20)


class _SquareWithFloat64Gradient(_Square):
    """x², with the right gradient 2·x·g, but always as float64."""

    name = "square_with_float64_gradient"

    @staticmethod
    def backward(ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        (a,) = ctx.saved_tensors
        return (grad_output * 2 * a).astype(np.float64)


def test_check_op_catches_a_float32_gradient_promoted_to_float64() -> None:
    # NOTE: backward casts each leaf's grad to the leaf's dtype, so only the
    # gradient the op itself returns can show the promotion.
    with pytest.raises(
        AssertionError,
        match=r"square_with_float64_gradient\.backward returned a float64 gradient"
        r" for input 0 of dtype float32",
    ):
        check_op(_SquareWithFloat64Gradient.apply, np.square, max_examples=20)


def test_check_op_catches_an_op_that_writes_into_its_input() -> None:
    def doubled_in_place(x: Tensor) -> Tensor:
        if x.data.flags.writeable:
            x.data[...] = 2.0 * x.data
            return x * 1.0
        return x * 2.0

    with pytest.raises(AssertionError, match=r"input 0 was changed in place"):
        check_op(doubled_in_place, lambda x: 2.0 * x, max_examples=50)


@pytest.mark.parametrize(
    "condition",
    [
        lambda x: not x.flags.c_contiguous and not x.flags.f_contiguous,
        lambda x: x.flags.f_contiguous and not x.flags.c_contiguous,
        lambda x: not x.flags.writeable,
    ],
    ids=["strided", "transposed", "read-only"],
)
def test_layout_option_draws_views_and_read_only_arrays(
    condition: Callable[[np.ndarray], bool],
) -> None:
    found = find(float_arrays((3, 4), layout=True), condition)

    assert found.shape == (3, 4)
    assert condition(found)


def test_check_op_rejects_a_domain_per_input_of_the_wrong_length() -> None:
    with pytest.raises(
        ValueError, match=r"^check_op: domain has 3 entries for arity 2"
    ):
        check_op(operator.add, np.add, arity=2, domain=[(0, 1), (0, 1), (0, 1)])


def test_check_op_rejects_shapes_that_do_not_fit_the_arity() -> None:
    shapes = array_shapes().map(lambda shape: (shape,))
    with pytest.raises(ValueError, match=r"^check_op: the shapes strategy gave 1"):
        check_op(operator.add, np.add, arity=2, shapes=shapes, max_examples=1)
