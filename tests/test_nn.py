"""nn: parameter discovery, state dicts, layers, and the two models."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_lr import DTypeError, ShapeError, Tensor, nn
from tinygrad_lr import functional as F

# ---------------------------------------------------------------------------
# parameter discovery


class _Custom(nn.Module):
    """Parameters, a sub-module, a list and a tuple, set in a known order."""

    def __init__(self):
        self.scale = nn.Parameter(2.0)
        self.inner = nn.Linear(2, 3, rng=0)
        self.not_a_parameter = Tensor([1.0], requires_grad=True)
        self.blocks = [nn.Linear(3, 3, rng=1), nn.Tanh(), nn.Linear(3, 1, rng=2)]
        self.pair = (nn.Linear(1, 1, bias=False, rng=3),)
        self.offset = nn.Parameter([0.0, 0.0])

    def forward(self, X):
        return X


def test_named_parameters_follow_definition_order_through_containers():
    names = [name for name, _ in _Custom().named_parameters()]

    assert names == [
        "scale",
        "inner.weight",
        "inner.bias",
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.2.weight",
        "blocks.2.bias",
        "pair.0.weight",
        "offset",
    ]


def test_parameters_are_the_named_parameters_in_the_same_order():
    model = _Custom()

    parameters = model.parameters()

    assert len(parameters) == 9
    assert all(
        p is q for p, (_, q) in zip(parameters, model.named_parameters(), strict=True)
    )


def test_plain_tensors_are_not_parameters():
    model = _Custom()

    assert all(p is not model.not_a_parameter for p in model.parameters())


def test_mlp_parameters_are_weight_then_bias_of_each_linear_layer():
    model = nn.MLP([2, 3, 4, 1], rng=0)

    named = [(name, p.shape) for name, p in model.named_parameters()]

    assert named == [
        ("layers.0.weight", (2, 3)),
        ("layers.0.bias", (3,)),
        ("layers.2.weight", (3, 4)),
        ("layers.2.bias", (4,)),
        ("layers.4.weight", (4, 1)),
        ("layers.4.bias", (1,)),
    ]


def test_logistic_regression_has_a_weight_vector_and_a_scalar_bias():
    named = [(n, p.shape) for n, p in nn.LogisticRegression(3).named_parameters()]

    assert named == [("weight", (3,)), ("bias", ())]


def test_zero_grad_clears_every_gradient():
    model = nn.MLP([2, 3, 1], rng=0)
    F.binary_cross_entropy_with_logits(model(np.ones((4, 2))), np.ones(4)).backward()
    assert all(p.grad is not None for p in model.parameters())

    model.zero_grad()

    assert all(p.grad is None for p in model.parameters())


def test_parameters_require_grad_and_copy_their_data():
    source = np.array([1.0, 2.0])

    parameter = nn.Parameter(source)
    source[0] = 99.0

    assert parameter.requires_grad
    assert parameter.is_leaf
    np.testing.assert_array_equal(parameter.data, [1.0, 2.0])


def test_calling_a_module_runs_forward_and_a_module_without_forward_raises():
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        nn.Module()(1)
    assert nn.Tanh()(Tensor([0.0])).data.tolist() == [0.0]


# ---------------------------------------------------------------------------
# state dicts


def test_state_dict_is_a_copy_keyed_by_dotted_names():
    model = nn.MLP([2, 3, 1], rng=0)

    state = model.state_dict()
    state["layers.0.weight"][0, 0] = 123.0

    assert list(state) == [name for name, _ in model.named_parameters()]
    assert model.layers[0].weight.data[0, 0] != 123.0


def test_load_state_dict_replaces_the_values_and_copies_them():
    model = nn.MLP([2, 3, 1], rng=0)
    other = nn.MLP([2, 3, 1], rng=1).state_dict()

    model.load_state_dict(other)
    other["layers.0.bias"][:] = 7.0

    assert not np.any(model.layers[0].bias.data == 7.0)
    np.testing.assert_array_equal(
        model.layers[2].weight.data, nn.MLP([2, 3, 1], rng=1).layers[2].weight.data
    )


def _assert_unchanged(model, before):
    for key, value in model.state_dict().items():
        assert value.tobytes() == before[key].tobytes(), key


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (
            lambda s: s.pop("layers.2.bias"),
            KeyError,
            r"missing keys \['layers.2.bias'\], unexpected keys \[\]",
        ),
        (
            lambda s: s.update(extra=np.ones(1)),
            KeyError,
            r"missing keys \[\], unexpected keys \['extra'\]",
        ),
        (
            lambda s: s.update({"layers.2.bias": np.ones(2)}),
            ShapeError,
            r"'layers.2.bias' has shape \(2,\), expected \(1,\)",
        ),
        (
            lambda s: s.update({"layers.2.weight": np.ones((3, 1), np.float32)}),
            DTypeError,
            "'layers.2.weight' has dtype float32, expected float64",
        ),
        (
            lambda s: s.update({"layers.2.bias": np.ones(1, dtype=int)}),
            DTypeError,
            "'layers.2.bias' has dtype int64, expected float64",
        ),
    ],
)
def test_load_state_dict_is_strict_and_changes_nothing_on_failure(edit, error, match):
    # NOTE: only the last entries are broken, so a loader that wrote as it went
    # would have changed layers.0 before noticing.
    model = nn.MLP([2, 3, 1], rng=0)
    before = model.state_dict()
    state = nn.MLP([2, 3, 1], rng=1).state_dict()
    edit(state)

    with pytest.raises(error, match=match):
        model.load_state_dict(state)

    _assert_unchanged(model, before)


def test_to_converts_every_parameter_and_clears_gradients():
    model = nn.MLP([2, 3, 1], rng=0)
    model.parameters()[0].grad = np.ones((2, 3))

    assert model.to("float32") is model

    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float32)}
    assert all(p.grad is None for p in model.parameters())
    assert model(np.ones((2, 2), dtype=np.float32)).dtype == np.float32


def test_to_refuses_dtypes_the_engine_does_not_compute_with():
    with pytest.raises(DTypeError, match=r"MLP\.to: dtype must be float32 or float64"):
        nn.MLP([2, 1]).to(np.int64)


# ---------------------------------------------------------------------------
# repr


def test_repr_of_an_mlp_shows_every_layer_and_its_arguments():
    assert repr(nn.MLP([2, 16, 1], activation="relu", rng=0)) == (
        "MLP(\n"
        "  layer_sizes=[2, 16, 1], activation='relu'\n"
        "  (0): Linear(in_features=2, out_features=16, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=16, out_features=1, bias=True)\n"
        ")"
    )


def test_repr_of_nested_modules_is_indented():
    model = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Sequential(nn.Sigmoid()))

    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=2, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): Sigmoid()\n"
        "  )\n"
        ")"
    )


def test_repr_of_the_neuron_and_of_a_parameter():
    model = nn.LogisticRegression(2, rng=np.random.RandomState(0))

    assert repr(model) == "LogisticRegression(n_features=2)"
    assert repr(model.weight) == "Parameter([0.5488, 0.7152], requires_grad=True)"


# ---------------------------------------------------------------------------
# layers


@given(
    in_features=st.integers(1, 6),
    out_features=st.integers(1, 6),
    n_samples=st.integers(0, 5),
    bias=st.booleans(),
)
def test_linear_maps_rows_with_weight_of_shape_in_by_out(
    in_features, out_features, n_samples, bias
):
    layer = nn.Linear(in_features, out_features, bias=bias, rng=0)
    X = np.arange(n_samples * in_features, dtype=float).reshape(n_samples, in_features)

    out = layer(Tensor(X))

    assert layer.weight.shape == (in_features, out_features)
    assert (layer.bias is None) is not bias
    assert out.shape == (n_samples, out_features)
    expected = X @ layer.weight.data + (layer.bias.data if bias else 0.0)
    np.testing.assert_array_equal(out.data, expected)
    bound = 1.0 / np.sqrt(in_features)
    assert np.all(np.abs(layer.weight.data) <= bound)
    assert len(layer.parameters()) == (2 if bias else 1)


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "3", None])
def test_linear_rejects_sizes_that_are_not_positive_integers(value):
    with pytest.raises(ValueError, match=f"in_features must be a positive .*{value!r}"):
        nn.Linear(value, 2)


def test_sequential_applies_layers_in_order_and_indexes_like_a_list():
    first, second = nn.Linear(2, 3, rng=0), nn.Tanh()
    model = nn.Sequential(first, second)

    out = model(Tensor(np.ones((4, 2))))

    assert len(model) == 2
    assert model[0] is first
    np.testing.assert_array_equal(
        out.data, np.tanh(first(Tensor(np.ones((4, 2)))).data)
    )


def test_sequential_rejects_arguments_that_are_not_modules():
    with pytest.raises(TypeError, match="Sequential: argument 1 must be a Module"):
        nn.Sequential(nn.Tanh(), np.tanh)


@pytest.mark.parametrize(
    ("module", "function"),
    [(nn.ReLU(), lambda x: np.maximum(x, 0)), (nn.Tanh(), np.tanh)],
)
def test_activation_modules_apply_their_function(module, function):
    x = np.linspace(-3, 3, 7)

    np.testing.assert_array_equal(module(Tensor(x)).data, function(x))


def test_sigmoid_module_is_stable_at_extremes():
    out = nn.Sigmoid()(Tensor([-1000.0, 0.0, 1000.0])).data

    np.testing.assert_array_equal(out, [0.0, 0.5, 1.0])


# ---------------------------------------------------------------------------
# the models' contracts


def test_logistic_regression_starts_where_the_tutorial_does():
    model = nn.LogisticRegression(2, rng=np.random.RandomState(0))

    # np.random.seed(0); np.random.rand(2) in the tutorial, without global state
    expected = np.random.RandomState(0).rand(2)

    np.testing.assert_array_equal(model.weight.data, expected)
    assert float(model.bias.data) == 0.0


@pytest.mark.parametrize(
    "model", [nn.LogisticRegression(3, rng=0), nn.MLP([3, 5, 1], rng=0)]
)
def test_models_return_one_logit_per_row_and_consistent_predictions(model, rng):
    X = rng.normal(size=(9, 3))

    logits = model(X)
    proba = model.predict_proba(X)

    assert logits.shape == (9,)
    assert proba.shape == (9,)
    np.testing.assert_allclose(proba, 1.0 / (1.0 + np.exp(-logits.data)), rtol=1e-15)
    predicted = model.predict(X)
    assert predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))
    np.testing.assert_array_equal(model.predict(X, threshold=0.9), proba > 0.9)


def test_logistic_regression_computes_x_times_w_plus_b(rng):
    model = nn.LogisticRegression(3, rng=0)
    model.bias.data = np.array(0.5)
    X = rng.normal(size=(4, 3))

    np.testing.assert_array_equal(model(X).data, X @ model.weight.data + 0.5)


@pytest.mark.parametrize("model", [nn.LogisticRegression(2), nn.MLP([2, 3, 1])])
def test_predictions_for_zero_rows_are_empty(model):
    assert model.predict_proba(np.zeros((0, 2))).shape == (0,)
    assert model.predict(np.zeros((0, 2))).shape == (0,)


def test_predictions_record_no_graph():
    model = nn.MLP([2, 3, 1], rng=0)

    model.predict_proba(np.ones((2, 2)))

    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("model", [nn.LogisticRegression(2), nn.MLP([2, 3, 1])])
@pytest.mark.parametrize("method", ["forward", "predict_proba", "predict"])
def test_one_dimensional_X_raises_with_a_reshape_hint(model, method):
    with pytest.raises(ValueError, match=r"got shape \(4,\); use X.reshape\(-1, 1\)"):
        getattr(model, method)(np.ones(4))


@pytest.mark.parametrize("model", [nn.LogisticRegression(2), nn.MLP([2, 3, 1])])
@pytest.mark.parametrize("method", ["forward", "predict_proba", "predict"])
def test_wrong_feature_count_raises_naming_both_counts(model, method):
    name = type(model).__name__
    with pytest.raises(
        ValueError, match=f"{name}.{method}: X has 3 features, but the model has 2"
    ):
        getattr(model, method)(np.ones((4, 3)))


def test_three_dimensional_X_raises_without_the_reshape_hint():
    with pytest.raises(ValueError, match=r"got shape \(1, 2, 2\)$"):
        nn.LogisticRegression(2)(np.ones((1, 2, 2)))


@pytest.mark.parametrize(("bad", "kind"), [(np.nan, "NaN"), (-np.inf, "infinity")])
@pytest.mark.parametrize("method", ["predict_proba", "predict"])
def test_predicting_on_non_finite_X_names_the_kind_and_the_place(bad, kind, method):
    X = np.zeros((3, 2))
    X[2, 1] = bad

    with pytest.raises(
        ValueError,
        match=rf"MLP.{method}: X contains {kind} \(first at row 2, column 1\)",
    ):
        getattr(nn.MLP([2, 1]), method)(X)


@pytest.mark.parametrize(
    ("layer_sizes", "match"),
    [
        ([2], r"needs at least an input and an output size, got \[2\]"),
        ([], r"got \[\]"),
        ([2, 0, 1], "every layer size must be a positive integer, got 0"),
        ([2, 1.5, 1], "every layer size must be a positive integer, got 1.5"),
        ([2, True, 1], "every layer size must be a positive integer, got True"),
    ],
)
def test_mlp_rejects_invalid_layer_sizes(layer_sizes, match):
    with pytest.raises(ValueError, match=match):
        nn.MLP(layer_sizes)


def test_mlp_rejects_an_unknown_activation():
    with pytest.raises(
        ValueError, match=r"activation must be one of \['relu', 'tanh'\], got 'gelu'"
    ):
        nn.MLP([2, 1], activation="gelu")


def test_mlp_with_several_outputs_returns_a_matrix_and_no_probabilities():
    model = nn.MLP([2, 4, 3], rng=0)

    assert model(np.ones((5, 2))).shape == (5, 3)
    with pytest.raises(ValueError, match=r"MLP\.predict_proba: only models with one"):
        model.predict_proba(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"MLP\.predict: only models with one output"):
        model.predict(np.ones((5, 2)))


def test_mlp_layers_alternate_linear_and_activation_without_a_final_activation():
    model = nn.MLP([2, 3, 3, 1], activation="relu", rng=0)

    kinds = [type(layer).__name__ for layer in model.layers]

    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_mlp_initialisation_is_reproducible_from_the_seed():
    a, b = nn.MLP([2, 8, 1], rng=5), nn.MLP([2, 8, 1], rng=5)

    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert p.data.tobytes() == q.data.tobytes()


# ---------------------------------------------------------------------------
# gradients of a two-layer MLP against the backprop equations


def _backprop(X, y, W1, b1, W2, b2, activation):
    """The textbook backward pass of mean BCE through a two-layer MLP.

    h = X W1 + b1,  a = act(h),  z = a W2 + b2 (one column),  L = mean ℓ(z, y)
    dz = (σ(z) - y) / n
    dW2 = aᵀ dz,  db2 = Σ dz,  da = dz W2ᵀ
    dh = da ⊙ act'(h),  dW1 = Xᵀ dh,  db1 = Σ_rows dh
    """
    n = X.shape[0]
    h = X @ W1 + b1
    a = np.tanh(h) if activation == "tanh" else np.maximum(h, 0.0)
    z = (a @ W2 + b2)[:, 0]
    sigma = np.exp(-np.logaddexp(0.0, -z))  # 1 / (1 + exp(-z)) without overflow
    dz = ((sigma - y) / n)[:, None]  # (n, 1)
    dW2 = a.T @ dz  # (hidden, 1)
    db2 = dz.sum(axis=0)  # (1,)
    da = dz @ W2.T  # (n, hidden)
    slope = 1.0 - a * a if activation == "tanh" else (h > 0).astype(float)
    dh = da * slope  # (n, hidden)
    dW1 = X.T @ dh  # (n_features, hidden)
    db1 = dh.sum(axis=0)  # (hidden,)
    return [dW1, db1, dW2, db2]


@given(
    n_samples=st.integers(1, 8),
    n_features=st.integers(1, 4),
    hidden=st.integers(1, 6),
    activation=st.sampled_from(["tanh", "relu"]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_mlp_gradients_equal_the_hand_written_backprop_equations(
    n_samples, n_features, hidden, activation, seed, data
):
    model = nn.MLP([n_features, hidden, 1], activation=activation, rng=seed)
    X = data.draw(
        hnp.arrays(np.float64, (n_samples, n_features), elements=st.floats(-3, 3))
    )
    y = data.draw(hnp.arrays(np.float64, n_samples, elements=st.sampled_from([0, 1])))

    F.binary_cross_entropy_with_logits(model(X), y).backward()

    W1, b1, W2, b2 = (p.data for p in model.parameters())
    expected = _backprop(X, y, W1, b1, W2, b2, activation)
    for parameter, grad in zip(model.parameters(), expected, strict=True):
        assert parameter.grad.shape == parameter.shape
        np.testing.assert_allclose(parameter.grad, grad, rtol=1e-12, atol=1e-14)
