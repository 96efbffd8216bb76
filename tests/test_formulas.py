"""Autograd against gradients derived by hand, written out in each test.

Both sides are the same mathematics in float64, so only rounding separates them:
``rtol=1e-12, atol=1e-14``. Where a gradient is a sum, the tolerance is relative to
the sum of the absolute values of its terms (the error bound of a floating-point
sum), not to the possibly cancelled result.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit

import tinygrad_lr.functional as F
from tinygrad_lr import Tensor
from tinygrad_lr.function import unbroadcast
from tinygrad_lr.testing import (
    broadcastable_shapes,
    float_arrays,
    floats,
    gradient_shapes,
    matmul_shapes,
)

RTOL = 1e-12
ATOL = 1e-14


def assert_close(value: np.ndarray, expected: np.ndarray, scale: np.ndarray) -> None:
    """|value - expected| <= ATOL + RTOL * scale, elementwise.

    ``scale`` is ``|expected|`` for a single rounded value and the sum of the
    absolute terms for a sum.
    """
    assert value is not None
    assert value.shape == expected.shape, (value.shape, expected.shape)
    error = np.abs(value - expected)
    bound = ATOL + RTOL * np.abs(scale)
    worst = (
        np.unravel_index(np.argmax(error - bound), error.shape) if error.size else ()
    )
    assert np.all(error <= bound), (
        f"at {worst}: got {value[worst]!r}, expected {expected[worst]!r}"
    )


# ---------------------------------------------------------------- logistic regression


@st.composite
def logistic_problems(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """X (n, d), y in {0, 1} (n,), w (d,) and b, with logits Xw + b up to ±1e3."""
    n_samples = draw(st.integers(1, 8))
    n_features = draw(st.integers(1, 3))
    X = draw(float_arrays((n_samples, n_features), domain=(-10.0, 10.0)))
    y = draw(hnp.arrays(np.float64, n_samples, elements=st.sampled_from([0.0, 1.0])))
    w = draw(float_arrays((n_features,), domain=(-30.0, 30.0)))
    b = draw(floats(-100.0, 100.0))
    return X, y, w, np.float64(b)


@given(problem=logistic_problems())
def test_logistic_loss_gradient_is_the_hand_derived_formula(
    problem: tuple[np.ndarray, ...],
) -> None:
    X, y, w0, b0 = problem
    n_samples = len(y)
    w = Tensor(w0, requires_grad=True)
    b = Tensor(b0, requires_grad=True)

    loss = F.binary_cross_entropy_with_logits(Tensor(X) @ w + b, y)
    loss.backward()

    # ∇w = Xᵀ(σ(Xw + b) - y) / n and ∇b = mean(σ(Xw + b) - y)
    residual = expit(X @ w0 + b0) - y
    expected_w = X.T @ residual / n_samples
    expected_b = np.mean(residual)
    assert_close(w.grad, expected_w, np.abs(X).T @ np.abs(residual) / n_samples)
    assert_close(b.grad, np.asarray(expected_b), np.mean(np.abs(residual)))


# ---------------------------------------------------------------- scalar functions


@given(
    z=float_arrays(gradient_shapes(), domain=(-1e3, 1e3)),
    data=st.data(),
)
def test_bce_gradient_with_respect_to_logits_is_sigmoid_minus_target(
    z: np.ndarray, data: st.DataObject
) -> None:
    y = data.draw(
        float_arrays(z.shape, domain=st.sampled_from([0.0, 1.0]) | floats(0.0, 1.0))
    )
    logits = Tensor(z, requires_grad=True)

    F.binary_cross_entropy_with_logits(logits, y, reduction="sum").backward()

    # dBCE/dz = σ(z) - y
    assert_close(logits.grad, expit(z) - y, np.abs(expit(z)) + np.abs(y))


@given(z=float_arrays(gradient_shapes(), domain=(-1e3, 1e3)))
def test_log_sigmoid_gradient_is_sigmoid_of_minus_z(z: np.ndarray) -> None:
    x = Tensor(z, requires_grad=True)

    x.log_sigmoid().backward(np.ones(z.shape))

    # d logσ(z)/dz = σ(-z)
    assert_close(x.grad, expit(-z), expit(-z))


@given(z=float_arrays(gradient_shapes(), domain=(-1e3, 1e3)))
def test_sigmoid_gradient_is_sigmoid_times_one_minus_sigmoid(z: np.ndarray) -> None:
    x = Tensor(z, requires_grad=True)

    x.sigmoid().backward(np.ones(z.shape))

    # σ'(z) = σ(z)(1 - σ(z))
    expected = expit(z) * (1.0 - expit(z))
    assert_close(x.grad, expected, expected)


# ---------------------------------------------------------------- matmul


@given(shapes=matmul_shapes(min_side=1), data=st.data())
def test_matmul_gradients_are_g_times_b_transpose_and_a_transpose_times_g(
    shapes: tuple[tuple[int, ...], ...], data: st.DataObject
) -> None:
    a0 = data.draw(float_arrays(shapes[0]), "A")
    b0 = data.draw(float_arrays(shapes[1]), "B")
    g = data.draw(float_arrays(np.matmul(a0, b0).shape), "G")
    a = Tensor(a0, requires_grad=True)
    b = Tensor(b0, requires_grad=True)

    (a @ b).backward(g)

    # ∇A = G @ Bᵀ and ∇B = Aᵀ @ G, written out for each combination of 1-D and 2-D
    if a0.ndim == 1 and b0.ndim == 1:  # (k,) @ (k,) -> (): G is a number
        expected_a, expected_b = g * b0, g * a0
        scale_a, scale_b = np.abs(g * b0), np.abs(g * a0)
    elif b0.ndim == 1:  # (n, k) @ (k,) -> (n,)
        expected_a, expected_b = np.outer(g, b0), a0.T @ g
        scale_a, scale_b = np.abs(np.outer(g, b0)), np.abs(a0).T @ np.abs(g)
    elif a0.ndim == 1:  # (k,) @ (k, m) -> (m,)
        expected_a, expected_b = b0 @ g, np.outer(a0, g)
        scale_a, scale_b = np.abs(b0) @ np.abs(g), np.abs(np.outer(a0, g))
    else:  # (n, k) @ (k, m) -> (n, m)
        expected_a, expected_b = g @ b0.T, a0.T @ g
        scale_a, scale_b = np.abs(g) @ np.abs(b0).T, np.abs(a0).T @ np.abs(g)
    assert_close(a.grad, expected_a, scale_a)
    assert_close(b.grad, expected_b, scale_b)


# ---------------------------------------------------------------- reductions


@st.composite
def reductions(draw: st.DrawFn) -> tuple[np.ndarray, object, bool]:
    x = draw(float_arrays(gradient_shapes()))
    axis = draw(
        st.none() | st.lists(st.integers(0, x.ndim - 1), unique=True).map(tuple)
        if x.ndim
        else st.none()
    )
    return x, axis, draw(st.booleans())


@given(case=reductions())
def test_sum_gradient_is_one_everywhere(case: tuple[np.ndarray, object, bool]) -> None:
    x0, axis, keepdims = case
    x = Tensor(x0, requires_grad=True)

    out = x.sum(axis=axis, keepdims=keepdims)
    out.backward(np.ones(out.shape))

    np.testing.assert_array_equal(x.grad, np.ones(x0.shape))


@given(case=reductions())
def test_mean_gradient_is_one_over_the_reduced_count_everywhere(
    case: tuple[np.ndarray, object, bool],
) -> None:
    x0, axis, keepdims = case
    x = Tensor(x0, requires_grad=True)

    out = x.mean(axis=axis, keepdims=keepdims)
    out.backward(np.ones(out.shape))

    reduced = range(x0.ndim) if axis is None else axis
    count = int(np.prod([x0.shape[i] for i in reduced]))
    np.testing.assert_allclose(
        x.grad, np.full(x0.shape, 1.0 / count), rtol=RTOL, atol=ATOL
    )


# ---------------------------------------------------------------- broadcasting


def summed_back(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of an input of ``shape`` broadcast to ``grad.shape``, by the
    definition: each input element collects every output element it was copied to.
    """
    result = np.zeros(shape)
    offset = grad.ndim - len(shape)
    for index in itertools.product(*(range(n) for n in grad.shape)):
        source = tuple(
            0 if size == 1 else index[offset + axis] for axis, size in enumerate(shape)
        )
        result[source] += grad[index]
    return result


@given(shapes=broadcastable_shapes(), data=st.data())
def test_unbroadcast_sums_over_the_broadcast_axes(
    shapes: tuple[tuple[int, ...], ...], data: st.DataObject
) -> None:
    out_shape = np.broadcast_shapes(*shapes)
    g = data.draw(float_arrays(out_shape), "G")

    for shape in shapes:
        scale = summed_back(np.abs(g), shape)
        assert_close(unbroadcast(g, shape), summed_back(g, shape), scale)


@given(shapes=broadcastable_shapes(), data=st.data())
def test_broadcast_add_and_mul_send_each_input_its_summed_gradient(
    shapes: tuple[tuple[int, ...], ...], data: st.DataObject
) -> None:
    a0 = data.draw(float_arrays(shapes[0]), "a")
    b0 = data.draw(float_arrays(shapes[1]), "b")
    g = data.draw(float_arrays(np.broadcast_shapes(*shapes)), "G")
    a = Tensor(a0, requires_grad=True)
    b = Tensor(b0, requires_grad=True)
    c = Tensor(a0, requires_grad=True)
    d = Tensor(b0, requires_grad=True)

    (a + b).backward(g)
    (c * d).backward(g)

    # d(a + b) = (Σ g, Σ g) and d(a * b) = (Σ g·b, Σ g·a), summed over copies
    assert_close(a.grad, summed_back(g, a0.shape), summed_back(np.abs(g), a0.shape))
    assert_close(b.grad, summed_back(g, b0.shape), summed_back(np.abs(g), b0.shape))
    gb, ga = g * b0, g * a0
    assert_close(c.grad, summed_back(gb, a0.shape), summed_back(np.abs(gb), a0.shape))
    assert_close(d.grad, summed_back(ga, b0.shape), summed_back(np.abs(ga), b0.shape))
