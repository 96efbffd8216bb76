"""The hand-derived NumPy reference: against formulas, autograd and scikit-learn.

Also pins the reproduction of the tutorial's numbers: moons, ``w`` from
``np.random.RandomState(0).rand(2)``, ``b = 0``, 200 full-batch steps at lr 0.1.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit, log_expit
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

import tinygrad_lr.functional as F
from tinygrad_lr import Tensor, data, nn, optim, reference
from tinygrad_lr.testing import float_arrays, floats

RTOL = 1e-12
ATOL = 1e-14


@st.composite
def datasets(draw: st.DrawFn, max_samples: int = 10) -> tuple[np.ndarray, ...]:
    """X (n, d) in [-5, 5], labels y in {0, 1}, w (d,) and b."""
    n_samples = draw(st.integers(2, max_samples))
    n_features = draw(st.integers(1, 3))
    X = draw(float_arrays((n_samples, n_features), domain=(-5.0, 5.0)))
    y = draw(hnp.arrays(np.float64, n_samples, elements=st.sampled_from([0.0, 1.0])))
    w = draw(float_arrays((n_features,), domain=(-5.0, 5.0)))
    b = draw(floats(-5.0, 5.0))
    return X, y, w, np.float64(b)


def augmented(X: np.ndarray) -> np.ndarray:
    """[X, 1]: the bias as one more feature."""
    return np.column_stack([X, np.ones(len(X))])


# ---------------------------------------------------------------- formulas


@given(z=float_arrays((6,), domain=(-700.0, 700.0)))
def test_reference_sigmoid_and_log_sigmoid_match_scipy(z: np.ndarray) -> None:
    # exp(-log(1 + e^-z)) loses about |z| ulps, hence 1e-12 rather than 1e-15
    np.testing.assert_allclose(reference.sigmoid(z), expit(z), rtol=RTOL, atol=0)
    np.testing.assert_allclose(reference.log_sigmoid(z), log_expit(z), rtol=RTOL)


@given(problem=datasets())
def test_reference_loss_is_the_mean_cross_entropy(
    problem: tuple[np.ndarray, ...],
) -> None:
    X, y, w, b = problem

    z = X @ w + b
    # -mean(y log σ(z) + (1 - y) log(1 - σ(z))), with 1 - σ(z) = σ(-z)
    expected = -np.mean(y * log_expit(z) + (1.0 - y) * log_expit(-z))
    assert reference.loss(X, y, w, b) == pytest.approx(expected, rel=RTOL, abs=ATOL)


@given(problem=datasets())
def test_reference_gradients_are_the_hand_derived_formulas(
    problem: tuple[np.ndarray, ...],
) -> None:
    X, y, w, b = problem
    n_samples = len(y)

    grad_w, grad_b = reference.gradients(X, y, w, b)

    residual = expit(X @ w + b) - y
    scale = np.abs(X).T @ np.abs(residual) / n_samples + ATOL / RTOL
    assert np.all(np.abs(grad_w - X.T @ residual / n_samples) <= RTOL * scale)
    assert grad_b == pytest.approx(np.mean(residual), rel=RTOL, abs=ATOL)


@given(problem=datasets())
def test_reference_loss_and_gradients_agree_with_autograd(
    problem: tuple[np.ndarray, ...],
) -> None:
    X, y, w0, b0 = problem
    w = Tensor(w0, requires_grad=True)
    b = Tensor(b0, requires_grad=True)

    loss = F.binary_cross_entropy_with_logits(Tensor(X) @ w + b, y)
    loss.backward()

    grad_w, grad_b = reference.gradients(X, y, w0, b0)
    residual = np.abs(expit(X @ w0 + b0) - y)
    scale = np.abs(X).T @ residual / len(y) + ATOL / RTOL
    assert loss.item() == pytest.approx(reference.loss(X, y, w0, b0), rel=RTOL)
    assert w.grad is not None and np.all(np.abs(w.grad - grad_w) <= RTOL * scale)
    assert b.grad == pytest.approx(grad_b, rel=RTOL, abs=ATOL)


def test_reference_predict_and_accuracy_on_a_hand_example() -> None:
    X = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 0.0], [0.0, 3.0]])
    w = np.array([1.0, -1.0])

    labels = reference.predict(X, w, 0.0)

    # logits 2, -2, 0, -3: only σ(2) > 0.5 (σ(0) = 0.5 is not above it)
    np.testing.assert_array_equal(labels, [1, 0, 0, 0])
    assert labels.dtype == np.int64
    assert reference.accuracy([1, 0, 1, 1], labels) == 0.5


def test_reference_train_takes_plain_gradient_steps() -> None:
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, -1.0]])
    y = np.array([1.0, 0.0, 1.0])
    w0, b0 = np.array([0.1, -0.2]), 0.3

    w, b, losses = reference.train(X, y, w0, b0, lr=0.5, steps=2)

    grad_w, grad_b = reference.gradients(X, y, w0, b0)
    w1, b1 = w0 - 0.5 * grad_w, b0 - 0.5 * grad_b
    grad_w, grad_b = reference.gradients(X, y, w1, b1)
    np.testing.assert_array_equal(w, w1 - 0.5 * grad_w)
    assert b == b1 - 0.5 * grad_b
    assert losses == [
        reference.loss(X, y, w0, b0),
        reference.loss(X, y, w1, b1),
        reference.loss(X, y, w, b),
    ]


# ---------------------------------------------------------------- convexity


@given(problem=datasets(max_samples=12))
def test_gradient_descent_at_a_safe_step_never_increases_the_loss(
    problem: tuple[np.ndarray, ...],
) -> None:
    X, y, w0, b0 = problem
    n_samples = len(y)
    # The Hessian of the mean loss in (w, b) is at most [X, 1]ᵀ[X, 1] / (4n), so
    # steps up to lr = 4n / λmax([X, 1]ᵀ[X, 1]) = 1 / L cannot increase it.
    largest = np.linalg.eigvalsh(augmented(X).T @ augmented(X))[-1]
    lr = 4.0 * n_samples / largest

    _, _, losses = reference.train(X, y, w0, b0, lr=lr, steps=30)

    for before, after in itertools.pairwise(losses):
        assert after <= before * (1.0 + 1e-14) + 1e-300, (before, after)


# ---------------------------------------------------------------- scikit-learn


def test_gradient_descent_converges_to_scikit_learns_unpenalised_fit() -> None:
    moons = data.moons()
    X, y = moons.X_train, moons.y_train
    lr = 4.0 * len(y) / np.linalg.eigvalsh(augmented(X).T @ augmented(X))[-1]

    w, b, losses = reference.train(X, y, np.zeros(2), 0.0, lr=lr, steps=2000)

    # C=np.inf is scikit-learn's spelling of "no penalty"; Newton's method takes it
    # to full precision.
    sklearn_fit = SklearnLogisticRegression(
        C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=1000
    ).fit(X, y)
    np.testing.assert_allclose(w, sklearn_fit.coef_[0], rtol=0, atol=1e-6)
    assert b == pytest.approx(sklearn_fit.intercept_[0], abs=1e-6)
    assert losses[-1] == pytest.approx(0.258, abs=5e-4)  # the converged optimum


# ---------------------------------------------------------------- the tutorial


def test_tutorial_setup_reaches_about_82_percent_training_accuracy() -> None:
    moons = data.moons()
    w0 = np.random.RandomState(0).rand(2)

    w, b, losses = reference.train(
        moons.X_train, moons.y_train, w0, 0.0, lr=0.1, steps=200
    )

    train_accuracy = reference.accuracy(
        moons.y_train, reference.predict(moons.X_train, w, b)
    )
    assert 0.80 <= train_accuracy <= 0.84
    assert len(losses) == 201 and losses[-1] < losses[0]


def test_autograd_training_reproduces_the_reference_parameters() -> None:
    moons = data.moons()
    X, y = moons.X_train, moons.y_train
    model = nn.LogisticRegression(2, rng=np.random.RandomState(0))
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    for _ in range(200):
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(model(X), y).backward()
        optimizer.step()

    w, b, _ = reference.train(
        X, y, np.random.RandomState(0).rand(2), 0.0, lr=0.1, steps=200
    )
    np.testing.assert_allclose(model.weight.data, w, rtol=0, atol=1e-12)
    assert model.bias.item() == pytest.approx(b, abs=1e-12)
