"""Behaviour at the edges: overflow, NaN, empty arrays, 0-d tensors, dtypes.

Where NumPy, PyTorch and scikit-learn differ, these tests say which way
tinygrad_lr goes; the README's "Limitations" and the docstrings say it in prose.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_lr.functional as F
from tinygrad_lr import Tensor, nn, optim
from tinygrad_lr.train import fit


def test_log_of_zero_is_minus_inf_with_an_infinite_gradient() -> None:
    x = Tensor([0.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        out = x.log()
    assert out.data[0] == -np.inf
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        out.sum().backward()
    assert x.grad is not None
    assert x.grad[0] == np.inf


def test_subnormal_input_gives_sigmoid_one_half_and_gradient_one_quarter() -> None:
    x = Tensor([1e-310], requires_grad=True)
    out = F.sigmoid(x)
    out.sum().backward()
    assert out.data[0] == 0.5
    assert x.grad is not None
    assert x.grad[0] == 0.25


def test_mean_of_huge_values_overflows_to_inf_as_numpy_does() -> None:
    x = Tensor([1.7e308, 1.7e308])
    with pytest.warns(RuntimeWarning, match="overflow"):
        out = x.mean()
    assert out.data == np.inf


def test_zero_dimensional_tensors_broadcast_and_keep_their_shape_in_grad() -> None:
    scale = Tensor(3.0, requires_grad=True)
    x = Tensor([1.0, 2.0], requires_grad=True)
    (scale * x).sum().backward()
    assert scale.grad is not None
    assert scale.grad.shape == ()
    assert scale.grad == 3.0
    assert x.grad is not None
    assert x.grad.tolist() == [3.0, 3.0]


@given(
    X=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.just(3)),
        elements=st.floats(-10, 10),
    ),
    seed=st.integers(0, 2**16),
)
def test_predictions_do_not_depend_on_batching_or_row_order(
    X: np.ndarray, seed: int
) -> None:
    model = nn.MLP([3, 4, 1], rng=1)
    whole = model.predict_proba(X)
    one_by_one = np.concatenate([model.predict_proba(row[None, :]) for row in X])
    order = np.random.default_rng(seed).permutation(len(X))
    shuffled = model.predict_proba(X[order])
    np.testing.assert_allclose(one_by_one, whole, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(shuffled, whole[order], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_integer_and_bool_data_become_float64(dtype: type) -> None:
    X = np.arange(6).reshape(3, 2).astype(dtype)
    tensor = Tensor(X)
    assert tensor.dtype == np.float64
    np.testing.assert_array_equal(tensor.data, X.astype(np.float64))
    model = nn.LogisticRegression(2, rng=0)
    assert model(X).dtype == np.float64


def test_float32_training_keeps_float32_and_agrees_with_float64() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((64, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float64)
    results = {}
    for dtype in (np.float32, np.float64):
        model = nn.LogisticRegression(2, rng=0)
        for p in model.parameters():
            p.data = p.data.astype(dtype)
        fit(
            model,
            X.astype(dtype),
            y,
            optimizer=optim.SGD(model.parameters(), lr=0.5),
            epochs=30,
        )
        assert all(p.dtype == dtype for p in model.parameters())
        assert all(
            p.grad is not None and p.grad.dtype == dtype for p in model.parameters()
        )
        results[dtype] = np.concatenate([p.data.ravel() for p in model.parameters()])
    np.testing.assert_allclose(
        results[np.float32], results[np.float64], rtol=1e-5, atol=1e-6
    )


@given(
    values=hnp.arrays(
        np.float64,
        st.integers(1, 6),
        elements=st.one_of(st.just(np.nan), st.floats(-1e150, 1e150)),
    )
)
def test_nan_in_gives_nan_out_and_leaves_other_elements_clean(
    values: np.ndarray,
) -> None:
    x = Tensor(values, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad is not None
    nan = np.isnan(values)
    assert np.isnan(x.grad[nan]).all()
    np.testing.assert_array_equal(x.grad[~nan], 2 * values[~nan])


def test_nan_in_the_upstream_gradient_propagates() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).backward(np.array([np.nan, 1.0]))
    assert x.grad is not None
    assert np.isnan(x.grad[0])
    assert x.grad[1] == 3.0


def test_elementwise_ops_on_an_empty_tensor_give_empty_grads() -> None:
    x = Tensor([], requires_grad=True)
    (F.sigmoid(x * 2.0 + 1.0).tanh()).sum().backward()
    assert x.grad is not None
    assert x.grad.shape == (0,)


def test_predict_on_zero_rows_returns_an_empty_array() -> None:
    model = nn.LogisticRegression(2, rng=0)
    assert model.predict(np.zeros((0, 2))).shape == (0,)
    assert model.predict_proba(np.zeros((0, 2))).shape == (0,)


def test_backward_on_a_leaf_that_requires_grad_gives_it_gradient_one() -> None:
    x = Tensor(5.0, requires_grad=True)
    x.backward()
    assert x.grad == 1.0


@given(values=hnp.arrays(np.float64, st.integers(1, 5), elements=st.floats(-5, 5)))
def test_two_fresh_backward_passes_are_bitwise_identical(values: np.ndarray) -> None:
    grads = []
    for _ in range(2):
        x = Tensor(values, requires_grad=True)
        F.binary_cross_entropy_with_logits(
            x * 2.0 - 1.0, np.ones_like(values)
        ).backward()
        grads.append(x.grad)
    np.testing.assert_array_equal(grads[0], grads[1])


def test_a_tensor_that_starts_requiring_grad_after_the_forward_gets_no_grad() -> None:
    x = Tensor([1.0, 2.0])
    w = Tensor([3.0, 4.0], requires_grad=True)
    out = (x * w).sum()
    x.requires_grad = True  # too late: the graph did not record a gradient for x

    out.backward()

    assert x.grad is None
    assert w.grad is not None
    assert w.grad.tolist() == [1.0, 2.0]


def test_a_tensor_that_stops_requiring_grad_after_the_forward_gets_no_grad() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([3.0, 4.0], requires_grad=True)
    out = (x * w).sum()
    x.requires_grad = False  # frozen after the forward pass

    out.backward()

    assert x.grad is None
    assert w.grad is not None
    assert w.grad.tolist() == [1.0, 2.0]


def test_np_array_with_copy_true_does_not_share_the_tensors_data() -> None:
    x = Tensor([1.0, 2.0])
    shared = np.asarray(x)
    copied = np.array(x, copy=True)
    copied[0] = 99.0
    assert shared is x.data
    assert x.data[0] == 1.0


def test_zero_dimensional_results_are_arrays_not_numpy_scalars() -> None:
    bias = nn.Parameter(0.5)
    out = bias.exp()
    optimizer = optim.SGD([bias], lr=0.1)
    out.backward()
    optimizer.step()
    assert type(out.data) is np.ndarray
    assert type(bias.data) is np.ndarray
    assert bias.data.shape == ()


def test_gradients_of_zero_dimensional_tensors_are_arrays_not_numpy_scalars() -> None:
    bias = nn.Parameter(0.5)
    hidden = bias.exp()
    out = hidden * hidden  # 0-d times 0-d: NumPy returns a scalar
    out.backward()
    out.backward()  # accumulating adds two 0-d gradients
    assert type(hidden.grad) is np.ndarray
    assert type(bias.grad) is np.ndarray
    assert bias.grad.shape == ()
    assert bias.grad == pytest.approx(2 * 2 * np.exp(1.0))


def test_a_layer_used_twice_has_its_parameters_listed_once() -> None:
    layer = nn.Linear(2, 2, rng=0)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias"]


def test_predict_thresholds_the_logit_so_tiny_positive_logits_are_class_one() -> None:
    model = nn.LogisticRegression(1, rng=0)
    model.weight.data = np.array([1e-17])
    model.bias.data = np.array(0.0)
    X = np.array([[1.0], [-1.0]])
    assert model.predict_proba(X).tolist() == [0.5, 0.5]  # σ rounds to 1/2
    assert model.predict(X).tolist() == [1, 0]
    assert model.predict(np.array([[0.0]]), threshold=0.9).tolist() == [0]
