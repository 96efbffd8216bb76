"""Engine semantics: dtypes, graph shapes, backward, no_grad, detach, anomalies."""

from __future__ import annotations

import contextlib
import gc
import threading
import weakref
from typing import Any

import numpy as np
import pytest
from hypothesis import given

import tinygrad_lr.functional as F
from tinygrad_lr import (
    DTypeError,
    GradcheckError,
    GraphError,
    ShapeError,
    Tensor,
    detect_anomaly,
    gradcheck,
    is_grad_enabled,
    no_grad,
)
from tinygrad_lr.function import Function
from tinygrad_lr.testing import float_arrays, gradient_shapes

# ---------------------------------------------------------------- dtype policy


@pytest.mark.parametrize(
    "data",
    [3, 2.5, True, [1, 2, 3], [[True, False]], (1, 2.0), np.arange(3), [np.int8(4)]],
    ids=["int", "float", "bool", "int-list", "bool-list", "tuple", "int64", "int8"],
)
def test_numbers_lists_ints_and_bools_become_float64(data: object) -> None:
    tensor = Tensor(data)

    assert tensor.dtype == np.float64
    np.testing.assert_array_equal(tensor.data, np.asarray(data, dtype=np.float64))


def test_object_array_of_numbers_becomes_float64() -> None:
    tensor = Tensor(np.array([1, 2.5, np.float32(3)], dtype=object))

    assert tensor.dtype == np.float64
    np.testing.assert_array_equal(tensor.data, [1.0, 2.5, 3.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_arrays_keep_their_dtype_without_a_copy(
    dtype: type,
) -> None:
    array = np.arange(4, dtype=dtype)

    tensor = Tensor(array)

    assert tensor.dtype == dtype
    assert tensor.data is array


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.array([1 + 2j]), r"^Tensor: cannot compute with data of dtype complex128"),
        ([1j, 2.0], r"^Tensor: cannot compute with data of dtype complex128"),
        (np.array([["a", "b"]]), r"^Tensor: cannot compute with data of dtype <U1"),
        (
            np.array([{"foo": "bar"}, 1], dtype=object),
            r"^Tensor: cannot convert object array to float64 \(element \{'foo'",
        ),
        ([1.0, None], r"^Tensor: cannot convert object array .* \(element None\)"),
    ],
    ids=["complex", "complex-list", "str", "object-dict", "object-none"],
)
def test_non_real_data_raises_type_error_naming_the_dtype(
    data: object, match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        Tensor(data)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_other_float_dtypes_raise_dtype_error_with_the_fix(dtype: type) -> None:
    name = np.dtype(dtype).name
    with pytest.raises(DTypeError, match=rf"^Tensor: dtype {name} is not supported;"):
        Tensor(np.ones(2, dtype=dtype))


def test_float16_data_converts_when_a_dtype_is_asked_for() -> None:
    tensor = Tensor(np.ones(2, dtype=np.float16), dtype="float32")

    assert tensor.dtype == np.float32


def test_asking_for_an_unsupported_dtype_raises() -> None:
    with pytest.raises(DTypeError, match=r"^Tensor: dtype must be float32 or float64"):
        Tensor([1.0], dtype=np.int64)


# ---------------------------------------------------------------- graph shapes


def test_reused_tensor_gets_the_sum_of_both_uses() -> None:
    x = Tensor([3.0, -2.0], requires_grad=True)
    y = Tensor([3.0, -2.0], requires_grad=True)
    z = Tensor([3.0, -2.0], requires_grad=True)

    (x * x).sum().backward()
    (y + y).sum().backward()
    ((z * z) * z).sum().backward()

    np.testing.assert_array_equal(x.grad, [6.0, -4.0])  # 2x
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])  # 2
    np.testing.assert_array_equal(z.grad, [27.0, 12.0])  # 3x²


@given(x0=float_arrays(gradient_shapes()))
def test_aliased_and_copied_arguments_give_the_same_result(x0: np.ndarray) -> None:
    x = Tensor(x0, requires_grad=True)
    a = Tensor(x0.copy(), requires_grad=True)
    b = Tensor(x0.copy(), requires_grad=True)

    aliased = x * x
    copied = a * b
    aliased.backward(np.ones(x0.shape))
    copied.backward(np.ones(x0.shape))

    np.testing.assert_array_equal(aliased.data, copied.data)
    np.testing.assert_array_equal(x.grad, a.grad + b.grad)


def test_diamond_sums_the_gradient_over_both_paths() -> None:
    a = Tensor(2.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0

    x = Tensor(3.0, requires_grad=True)
    left = x.exp()
    right = x * 2.0
    (left * right).backward()
    # d/dx (e^x · 2x) = 2e^x (1 + x)
    assert x.grad == pytest.approx(2.0 * np.exp(3.0) * 4.0, rel=1e-15)


def test_wide_fan_out_adds_every_use() -> None:
    x = Tensor(1.5, requires_grad=True)
    coefficients = np.linspace(-1.0, 2.0, 10_000)

    total = x * coefficients[0]
    for c in coefficients[1:]:
        total = total + x * c
    total.backward()

    assert x.grad == pytest.approx(coefficients.sum(), rel=1e-12)


def test_leaf_not_reached_by_backward_keeps_grad_none() -> None:
    used = Tensor(1.0, requires_grad=True)
    unused = Tensor(2.0, requires_grad=True)

    (used * 3.0).backward()

    assert used.grad == 3.0
    assert unused.grad is None


# ---------------------------------------------------------------- backward


def test_backward_twice_adds_exactly_one_more_gradient() -> None:
    # y = x·x·x at x = 2: dy/dx = 12. micrograd's second backward gives 36 here,
    # and 24 after zeroing the leaf, because it accumulates into inner nodes too.
    x = Tensor(2.0, requires_grad=True)
    square = x * x
    y = square * x

    y.backward()
    assert x.grad == 12.0
    y.backward()
    assert x.grad == 24.0

    x.zero_grad()
    y.backward()
    assert x.grad == 12.0


def test_non_leaf_tensors_carry_the_gradient_of_the_latest_backward() -> None:
    x = Tensor(2.0, requires_grad=True)
    square = x * x
    y = square * x

    y.backward()
    y.backward()

    assert square.grad == 2.0  # dy/d(square) = x, not accumulated
    assert y.grad == 1.0
    assert x.grad == 24.0


def test_backward_is_linear_in_the_upstream_gradient() -> None:
    g = np.array([0.5, -1.0, 2.0])
    grads = []
    for scale in (0.0, 1.0, 2.0):
        x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
        (x.exp() * x).backward(scale * g)
        grads.append(x.grad)

    np.testing.assert_array_equal(grads[0], np.zeros(3))
    np.testing.assert_array_equal(grads[2], 2.0 * grads[1])


@given(x0=float_arrays(gradient_shapes()))
def test_two_fresh_passes_give_bitwise_identical_gradients(x0: np.ndarray) -> None:
    grads = []
    for _ in range(2):
        x = Tensor(x0, requires_grad=True)
        hidden = (x * 0.5).tanh()
        (hidden * x).sigmoid().sum().backward()
        grads.append(x.grad)

    np.testing.assert_array_equal(grads[0], grads[1])


def test_a_chain_of_100_000_ops_backpropagates_without_recursion() -> None:
    depth = 100_000
    x = Tensor(1.0, requires_grad=True)
    y = x * 1.0001
    first = weakref.ref(y)
    for _ in range(depth - 1):
        y = y * 1.0001

    y.backward()

    assert x.grad == pytest.approx(1.0001**depth, rel=1e-9)
    del y  # freeing the chain must not recurse either
    gc.collect()
    assert first() is None


def test_graph_is_freed_by_reference_counting_alone() -> None:
    gc.disable()
    try:
        x = Tensor([1.0, 2.0], requires_grad=True)
        hidden = x.tanh()
        loss = (hidden * x).sum()
        loss.backward()
        node = weakref.ref(hidden)
        del hidden, loss
        assert node() is None
    finally:
        gc.enable()
    assert x.grad is not None


def test_backward_of_a_non_scalar_without_grad_raises() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(
        GraphError,
        match=r"^backward: output has shape \(3,\); call \.sum\(\) or \.mean\(\)"
        r" first, or pass grad= of shape \(3,\)",
    ):
        (x * 2.0).backward()


def test_backward_with_a_grad_of_the_wrong_shape_raises() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(
        ShapeError,
        match=r"^backward: grad shape \(2,\) does not match tensor shape \(3,\)",
    ):
        (x * 2.0).backward(np.ones(2))


def test_backward_of_a_tensor_without_graph_raises() -> None:
    with pytest.raises(GraphError, match=r"^backward: this tensor does not require"):
        Tensor(1.0).backward()


def test_backward_of_a_leaf_gives_it_gradient_one() -> None:
    x = Tensor(5.0, requires_grad=True)

    x.backward()

    assert x.grad == 1.0


def test_non_finite_upstream_gradients_propagate() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)

    (x * 2.0).backward(np.array([np.nan, np.inf]))

    assert np.isnan(x.grad[0]) and x.grad[1] == np.inf


# ---------------------------------------------------------------- no_grad, detach


def test_no_grad_context_manager_records_no_graph_and_restores_the_mode() -> None:
    x = Tensor([1.0], requires_grad=True)

    with no_grad():
        assert not is_grad_enabled()
        y = x * 2.0
    z = x * 2.0

    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None and z.requires_grad
    assert is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception() -> None:
    with pytest.raises(KeyError), no_grad():
        raise KeyError("inside")

    assert is_grad_enabled()


def test_no_grad_works_as_a_decorator() -> None:
    @no_grad()
    def double(t: Tensor) -> Tensor:
        return t * 2.0

    x = Tensor([1.0], requires_grad=True)

    assert double(x).grad_fn is None
    assert (x * 2.0).grad_fn is not None


def test_no_grad_works_as_a_decorator_without_parentheses() -> None:
    x = Tensor([1.0], requires_grad=True)

    @no_grad
    def double(t: Tensor) -> Tensor:
        return t * 2.0

    assert not double(x).requires_grad
    assert double.__name__ == "double"
    assert is_grad_enabled()


def test_no_grad_given_something_other_than_a_function_says_how_to_call_it() -> None:
    with pytest.raises(TypeError, match=r"no_grad: takes no arguments .* got True"):
        no_grad(True)


@pytest.mark.parametrize(
    ("data", "truth"), [([0.0], False), ([2.0], True), (-0.0, False), (np.nan, True)]
)
def test_the_truth_of_a_one_element_tensor_is_that_of_its_value(data, truth) -> None:
    assert bool(Tensor(data)) is truth


@pytest.mark.parametrize("shape", [(0,), (2,), (1, 2)])
def test_the_truth_of_other_tensors_is_ambiguous(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"truth value of a tensor of shape"):
        bool(Tensor(np.zeros(shape)))


def test_no_grad_in_another_thread_does_not_affect_this_thread() -> None:
    entered = threading.Event()
    main_done = threading.Event()
    seen_in_thread: list[bool] = []

    def worker() -> None:
        with no_grad():
            entered.set()
            main_done.wait(timeout=10)
            seen_in_thread.append((Tensor(1.0, requires_grad=True) * 2.0).requires_grad)

    thread = threading.Thread(target=worker)
    thread.start()
    assert entered.wait(timeout=10)
    in_main = (Tensor(1.0, requires_grad=True) * 2.0).requires_grad
    main_done.set()
    thread.join(timeout=10)

    assert in_main is True
    assert seen_in_thread == [False]


def test_detach_shares_data_and_has_no_history() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0

    detached = y.detach()
    (detached * x).sum().backward()

    assert detached.data is y.data
    assert detached.grad_fn is None and not detached.requires_grad
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])  # only the direct path


# ---------------------------------------------------------------- detect_anomaly


def test_detect_anomaly_names_log_of_a_negative_number() -> None:
    x = Tensor([-1.0, 2.0], requires_grad=True)
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"^log: .*invalid"):
        x.log()


def test_detect_anomaly_names_exp_overflow_and_the_input_shapes() -> None:
    x = Tensor([710.0, 1.0], requires_grad=True)
    with (
        detect_anomaly(),
        pytest.raises(
            FloatingPointError,
            match=r"^exp: forward on inputs of shapes \(2,\): overflow",
        ),
    ):
        x.exp()


def test_detect_anomaly_names_the_op_whose_backward_is_not_finite() -> None:
    x = Tensor([0.0, 4.0], requires_grad=True)
    y = x**0.5  # finite forward; the gradient 0.5 / sqrt(x) is inf at 0

    with (
        detect_anomaly(),
        pytest.raises(
            FloatingPointError,
            match=r"^pow: backward on inputs of shapes \(2,\): divide by zero",
        ),
    ):
        y.sum().backward()


def test_detect_anomaly_catches_a_non_finite_upstream_gradient() -> None:
    x = Tensor([1.0], requires_grad=True)
    y = x * 2.0
    with (
        detect_anomaly(),
        pytest.raises(
            FloatingPointError,
            match=r"^mul: backward on inputs of shapes \(1,\), \(\) produced a NaN",
        ),
    ):
        y.backward(np.array([np.inf]))


def test_without_detect_anomaly_non_finite_values_pass_through() -> None:
    x = Tensor([np.nan, 1.0], requires_grad=True)

    y = x * x
    y.backward(np.ones(2))

    assert np.isnan(y.data[0]) and y.data[1] == 1.0
    assert np.isnan(x.grad[0]) and x.grad[1] == 2.0


# ---------------------------------------------------------------- shape errors


def test_add_of_shapes_that_do_not_broadcast_raises_in_forward() -> None:
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones((4, 5)))
    with pytest.raises(
        ShapeError, match=r"^add: shapes \(2, 3\) and \(4, 5\) cannot be broadcast$"
    ):
        a + b


def test_mul_of_shapes_that_do_not_broadcast_raises_in_forward() -> None:
    with pytest.raises(ShapeError, match=r"^mul: shapes \(3,\) and \(2,\) cannot be"):
        Tensor(np.ones(3)) * np.ones(2)


def test_matmul_with_different_inner_dimensions_raises() -> None:
    a = Tensor(np.ones((2, 3)))
    b = Tensor(np.ones((4, 5)))
    with pytest.raises(
        ShapeError, match=r"^matmul: inner dimensions differ: \(2, 3\) @ \(4, 5\)"
    ):
        a @ b


# ---------------------------------------------------------------- mixed dtypes


def test_grad_of_a_float32_parameter_is_float32_with_float64_data() -> None:
    weight = Tensor(np.array([0.5, -0.25], dtype=np.float32), requires_grad=True)
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    y = np.array([0.0, 1.0, 1.0])

    logits = Tensor(X) @ weight
    F.binary_cross_entropy_with_logits(logits, y).backward()

    assert logits.dtype == np.float64  # NumPy's promotion
    assert weight.grad is not None and weight.grad.dtype == np.float32


@pytest.mark.parametrize(
    "expression",
    [
        lambda t: t * 2.0,
        lambda t: 2.0 * t,
        lambda t: t + 1,
        lambda t: 1 - t,
        lambda t: t / 3.0,
        lambda t: 3.0 / t,
        lambda t: t**2,
        lambda t: -t,
    ],
    ids=["mul", "rmul", "add-int", "rsub-int", "div", "rdiv", "pow", "neg"],
)
def test_python_scalars_keep_a_float32_tensor_float32(expression: object) -> None:
    t = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)

    out = expression(t)  # type: ignore[operator]
    out.sum().backward()

    assert out.dtype == np.float32
    assert t.grad is not None and t.grad.dtype == np.float32


class _MulReturningAList(Function):
    """a * b, whose backward returns its two gradients as a list."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Any, grad_output: np.ndarray) -> Any:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return [
            grad_output * b if need_a else None,
            grad_output * a if need_b else None,
        ]


@pytest.mark.parametrize("anomaly", [False, True])
def test_a_backward_may_return_its_gradients_as_a_list(anomaly: bool) -> None:
    a = Tensor([2.0, 3.0], requires_grad=True)
    b = Tensor([5.0, 7.0], requires_grad=True)

    c = Tensor([1.0, 10.0])  # needs no gradient: its entry in the list is None

    with detect_anomaly() if anomaly else contextlib.nullcontext():
        _MulReturningAList.apply(_MulReturningAList.apply(a, b), c).sum().backward()

    assert a.grad is not None and a.grad.tolist() == [5.0, 70.0]
    assert b.grad is not None and b.grad.tolist() == [2.0, 30.0]


class _WrongMulReturningAList(_MulReturningAList):
    """a * b, whose backward returns a list with twice the gradient of b."""

    name = "wrong_mul_returning_a_list"

    @staticmethod
    def backward(ctx: Any, grad_output: np.ndarray) -> Any:
        a, b = ctx.saved_tensors
        return [grad_output * b, 2.0 * grad_output * a]


def test_gradcheck_names_an_op_whose_list_of_gradients_is_wrong() -> None:
    def product(a: Tensor, b: Tensor) -> Tensor:
        return _WrongMulReturningAList.apply(a, b).sum()

    with pytest.raises(GradcheckError, match=r"backward .* is wrong_mul_returning_a"):
        gradcheck(product, [np.array([2.0, 3.0]), np.array([5.0, 7.0])])
