"""The scikit-learn classifiers: conventions, labels, validation and outputs."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError, SkipTestWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from tinygrad_lr import data, nn
from tinygrad_lr.estimators import LogisticRegressionClassifier, MLPClassifier


@pytest.fixture(scope="module")
def moons():
    return data.moons()


@pytest.fixture(scope="module")
def small():
    """A small, noisy, non-separable binary problem with 3 features."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(scale=0.8, size=60) > 0).astype(int)
    return X, y


def _fast(cls, **params):
    """A quick-to-fit configuration of either classifier."""
    if cls is MLPClassifier:
        defaults = {"hidden_layer_sizes": (8,), "epochs": 60, "lr": 0.05}
    else:
        defaults = {"epochs": 100, "lr": 0.5}
    return cls(**{**defaults, "random_state": 0, **params})


BOTH = [LogisticRegressionClassifier, MLPClassifier]


# ---------------------------------------------------------------------------
# scikit-learn's own estimator checks

# Checks that skip themselves for reasons of the environment, not of the code:
# the pandas one runs when pandas is installed, the array-API one when
# SCIPY_ARRAY_API=1 is set.
ENVIRONMENT_SKIPS = {"check_array_api_input", "check_classifier_data_not_an_array"}


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegressionClassifier(),
        MLPClassifier(hidden_layer_sizes=(8,), epochs=60, lr=0.05),
    ],
    ids=["LogisticRegressionClassifier", "MLPClassifier"],
)
def test_estimators_pass_every_scikit_learn_estimator_check(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(estimator, on_fail=None)

    failed = [
        f"{r['check_name']}: {r['exception']}"
        for r in results
        if r["status"] == "failed"
    ]
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert failed == []
    assert skipped <= ENVIRONMENT_SKIPS
    assert len(results) > 40


# ---------------------------------------------------------------------------
# model selection tools


def test_pipeline_with_a_scaler_separates_the_moons(moons):
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(random_state=0))

    pipeline.fit(moons.X_train, moons.y_train)

    assert pipeline.score(moons.X_test, moons.y_test) >= 0.99


def test_grid_search_picks_a_setting_from_the_grid_and_refits(small):
    X, y = small
    # lr · alpha < 2 throughout: gradient descent on the penalty converges.
    grid = {"alpha": [0.0, 0.1, 10.0], "lr": [0.05, 0.1]}
    search = GridSearchCV(_fast(LogisticRegressionClassifier), grid, cv=3)

    search.fit(X, y)

    assert search.best_params_["alpha"] in grid["alpha"]
    assert search.best_params_["lr"] in grid["lr"]
    # The heaviest penalty shrinks the weights towards 0 and loses accuracy.
    assert search.best_params_["alpha"] != 10.0
    assert search.best_estimator_.predict(X).shape == (60,)


@pytest.mark.parametrize("cls", BOTH)
def test_cross_val_score_gives_one_good_score_per_fold(cls, small):
    X, y = small

    scores = cross_val_score(_fast(cls), X, y, cv=4)

    assert scores.shape == (4,)
    assert scores.min() > 0.6


@pytest.mark.parametrize("cls", BOTH)
def test_clone_copies_the_parameters_but_not_the_fitted_state(cls, small):
    fitted = _fast(cls, alpha=0.01).fit(*small)

    copy = clone(fitted)

    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "classes_")
    assert not hasattr(copy, "model_")
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        copy.predict(small[0])


def test_get_params_lists_every_hyperparameter_and_set_params_changes_them():
    clf = MLPClassifier()

    assert clf.get_params() == {
        "hidden_layer_sizes": (16, 16),
        "activation": "tanh",
        "lr": 0.01,
        "epochs": 500,
        "alpha": 0.0,
        "optimizer": "adam",
        "batch_size": None,
        "random_state": None,
    }
    assert clf.set_params(lr=0.5, activation="relu") is clf
    assert (clf.lr, clf.activation) == (0.5, "relu")


def test_constructor_and_set_params_store_invalid_values_without_checking():
    clf = LogisticRegressionClassifier(lr=-1.0)
    clf.set_params(epochs=0)

    assert clf.get_params()["lr"] == -1.0
    with pytest.raises(ValueError, match="'lr' parameter"):
        clf.fit([[0.0], [1.0]], [0, 1])


@pytest.mark.parametrize("cls", BOTH)
def test_a_fitted_estimator_survives_pickling(cls, small):
    fitted = _fast(cls).fit(*small)

    restored = pickle.loads(pickle.dumps(fitted))

    np.testing.assert_array_equal(
        restored.decision_function(small[0]), fitted.decision_function(small[0])
    )


# ---------------------------------------------------------------------------
# labels


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize(
    "labels",
    [
        ("ham", "spam"),
        (-1, 1),
        (1, 2),
        (False, True),
        (0.0, 1.0),
    ],
)
def test_any_two_labels_train_the_same_model_and_come_back(cls, labels, small):
    X, y01 = small
    y = np.array(labels)[y01]
    reference = _fast(cls).fit(X, y01)

    clf = _fast(cls).fit(X, y)

    np.testing.assert_array_equal(clf.classes_, np.array(labels))
    np.testing.assert_array_equal(
        clf.decision_function(X), reference.decision_function(X)
    )
    predicted = clf.predict(X)
    assert predicted.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(predicted, np.array(labels)[reference.predict(X)])


def test_labels_are_sorted_so_the_second_class_is_the_positive_one(small):
    X, y01 = small
    y = np.where(y01 == 1, "a", "b")  # "a" marks the class called 1 above

    clf = _fast(LogisticRegressionClassifier).fit(X, y)

    assert clf.classes_.tolist() == ["a", "b"]
    proba = clf.predict_proba(X)
    assert np.mean(proba[y == "b", 1]) > np.mean(proba[y == "a", 1])


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize(
    ("y", "match"),
    [
        ([1, 1, 1, 1], r"y contains only one class \(1\); a classifier needs"),
        ([0, 1, 2, 0], r"binary classification only; y has 3 classes \[0, 1, 2\]"),
        ([0.3, 0.7, 0.1, 0.9], "Unknown label type: continuous"),
        ([0.0, 1.0, np.nan, 1.0], "Input y contains NaN"),
        ([0, 1, "a", 0], "Unknown label type: unknown"),
    ],
)
def test_labels_that_are_not_two_classes_raise(cls, y, match):
    X = np.arange(8.0).reshape(4, 2)

    with pytest.raises(ValueError, match=match):
        cls().fit(X, np.array(y, dtype=object) if "a" in y else y)


# ---------------------------------------------------------------------------
# data validation, in scikit-learn's words


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize(
    ("X", "match"),
    [
        ([[0.0, np.nan], [1.0, 2.0]], "Input X contains NaN"),
        ([[0.0, np.inf], [1.0, 2.0]], "Input X contains infinity"),
        ([0.0, 1.0], "Expected 2D array, got 1D array instead"),
        (np.ones((2, 2), dtype=complex), "Complex data not supported"),
        (np.zeros((0, 2)), r"0 sample\(s\)"),
        (np.zeros((2, 0)), r"0 feature\(s\)"),
    ],
)
def test_bad_X_at_fit_raises_scikit_learns_errors(cls, X, match):
    with pytest.raises(ValueError, match=match):
        cls().fit(X, [0, 1] if np.shape(X)[0] else [])


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "decision_function"]
)
def test_bad_X_at_prediction_raises(cls, method, small):
    fitted = _fast(cls).fit(*small)

    with pytest.raises(ValueError, match=r"X has 2 features, but .* is expecting 3"):
        getattr(fitted, method)(np.ones((4, 2)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        getattr(fitted, method)(np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        getattr(fitted, method)(np.zeros((0, 3)))


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "decision_function"]
)
def test_predicting_before_fit_raises_not_fitted_error(cls, method):
    with pytest.raises(NotFittedError, match=f"This {cls.__name__} instance is not"):
        getattr(cls(), method)(np.ones((2, 2)))


@pytest.mark.parametrize(
    ("cls", "params", "match"),
    [
        (BOTH[0], {"lr": 0.0}, r"'lr' parameter .* range \(0.0, inf\)\. Got 0\.0"),
        (BOTH[0], {"lr": -0.1}, r"'lr' parameter .* Got -0\.1 instead"),
        (BOTH[1], {"lr": float("nan")}, r"'lr' parameter .* finite .* Got nan"),
        (BOTH[1], {"lr": float("inf")}, r"'lr' parameter .* Got inf"),
        (BOTH[0], {"lr": "0.1"}, r"'lr' parameter .* Got '0\.1'"),
        (BOTH[0], {"epochs": 0}, r"'epochs' parameter .* range \[1, inf\)\. Got 0"),
        (BOTH[1], {"epochs": 2.5}, r"'epochs' parameter .* Got 2\.5"),
        (BOTH[0], {"epochs": True}, r"'epochs' parameter .* Got True"),
        (BOTH[0], {"alpha": -1.0}, r"'alpha' parameter .* \[0.0, inf\)\. Got -1\.0"),
        (BOTH[1], {"alpha": float("nan")}, r"'alpha' parameter .* Got nan"),
        (BOTH[0], {"optimizer": "rmsprop"}, r"'optimizer' .* \{'adam', 'sgd'\}"),
        (BOTH[1], {"batch_size": 0}, r"'batch_size' .* \[1, inf\) or None\. Got 0"),
        (BOTH[0], {"batch_size": 9}, r"'batch_size' .* \[1, n_samples=4\].* Got 9"),
        (BOTH[0], {"random_state": -1}, r"'random_state' .* Got -1"),
        (BOTH[1], {"random_state": "seed"}, r"'random_state' .* Got 'seed'"),
        (BOTH[1], {"hidden_layer_sizes": (16, 0)}, r"'hidden_layer_sizes' .* \(16, 0"),
        (BOTH[1], {"hidden_layer_sizes": "16"}, r"'hidden_layer_sizes' .* Got '16'"),
        (BOTH[1], {"activation": "sigmoid"}, r"'activation' .* Got 'sigmoid'"),
    ],
)
def test_invalid_hyperparameters_raise_naming_parameter_range_and_value(
    cls, params, match
):
    X = np.arange(8.0).reshape(4, 2)

    with pytest.raises(ValueError, match=match):
        cls(**params).fit(X, [0, 1, 0, 1])


# ---------------------------------------------------------------------------
# fitting


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize("batch_size", [None, 16])
def test_fit_twice_with_the_same_seed_gives_identical_models(cls, batch_size, small):
    first = _fast(cls, batch_size=batch_size).fit(*small)
    second = _fast(cls, batch_size=batch_size).fit(*small)

    for a, b in zip(first.model_.parameters(), second.model_.parameters(), strict=True):
        assert a.data.tobytes() == b.data.tobytes()


def test_different_seeds_give_different_starting_points(small):
    a = _fast(MLPClassifier, random_state=1).fit(*small)
    b = _fast(MLPClassifier, random_state=2).fit(*small)

    assert not np.array_equal(a.coefs_[0], b.coefs_[0])


def test_default_mlp_classifier_separates_the_moons(moons):
    clf = MLPClassifier(random_state=0).fit(moons.X_train, moons.y_train)

    assert clf.score(moons.X_test, moons.y_test) >= 0.99
    assert clf.n_iter_ == 500
    assert len(clf.history_.loss) == 500


def test_default_logistic_regression_reproduces_the_tutorial_accuracy(moons):
    clf = LogisticRegressionClassifier(random_state=np.random.RandomState(0))

    clf.fit(moons.X_train, moons.y_train)

    assert 0.80 <= clf.score(moons.X_train, moons.y_train) <= 0.84


def test_alpha_matches_scikit_learns_c_at_the_optimum(small):
    X, y = small
    C = 0.5
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)

    ours = LogisticRegressionClassifier(
        alpha=1.0 / (C * len(y)), lr=1.0, epochs=400, random_state=0
    ).fit(X, y)

    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-6)


def test_first_loss_is_cross_entropy_plus_half_alpha_squared_weights(small):
    X, y = small
    alpha = 0.3
    clf = LogisticRegressionClassifier(alpha=alpha, epochs=1, random_state=7)

    clf.fit(X, y)

    # The initial neuron, rebuilt from the same seed.
    start = nn.LogisticRegression(3, rng=np.random.default_rng(7))
    w, b = start.weight.data, float(start.bias.data)
    z = X @ w + b
    cross_entropy = np.mean(np.logaddexp(0.0, z) - y * z)
    expected = cross_entropy + 0.5 * alpha * np.sum(w * w)
    np.testing.assert_allclose(clf.history_.loss[0], expected, rtol=1e-12)


def test_the_penalty_shrinks_mlp_weights_but_not_biases(small):
    plain = _fast(MLPClassifier, epochs=200).fit(*small)
    penalized = _fast(MLPClassifier, epochs=200, alpha=1.0).fit(*small)

    def norm(arrays):
        return sum(float(np.sum(a * a)) for a in arrays)

    assert norm(penalized.coefs_) < 0.5 * norm(plain.coefs_)


def test_fitted_attributes_have_scikit_learns_shapes(small):
    X, y = small
    lr = _fast(LogisticRegressionClassifier).fit(X, y)
    mlp = _fast(MLPClassifier, hidden_layer_sizes=(5, 4)).fit(X, y)

    assert lr.coef_.shape == (1, 3)
    assert lr.intercept_.shape == (1,)
    np.testing.assert_array_equal(lr.coef_[0], lr.model_.weight.data)
    assert lr.n_features_in_ == 3
    assert [c.shape for c in mlp.coefs_] == [(3, 5), (5, 4), (4, 1)]
    assert [b.shape for b in mlp.intercepts_] == [(5,), (4,), (1,)]
    assert mlp.model_.layer_sizes == [3, 5, 4, 1]


def test_an_int_hidden_layer_size_means_one_hidden_layer(small):
    clf = _fast(MLPClassifier, hidden_layer_sizes=6).fit(*small)

    assert clf.model_.layer_sizes == [3, 6, 1]


def test_empty_hidden_layer_sizes_give_logistic_regression(small):
    clf = _fast(MLPClassifier, hidden_layer_sizes=()).fit(*small)

    assert clf.model_.layer_sizes == [3, 1]


def test_score_is_the_accuracy_of_predict(small):
    X, y = small
    clf = _fast(MLPClassifier).fit(X, y)

    assert clf.score(X, y) == accuracy_score(y, clf.predict(X))


# ---------------------------------------------------------------------------
# output contract


@pytest.fixture(scope="module")
def fitted_pair(small):
    X, y = small
    labels = np.array(["no", "yes"])[y]
    return (
        _fast(LogisticRegressionClassifier, lr=2.0, epochs=300).fit(X, labels),
        _fast(MLPClassifier, epochs=200).fit(X, labels),
    )


@settings(max_examples=100)
@given(
    X=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 12), st.just(3)),
        elements=st.floats(-1e3, 1e3, allow_nan=False),
    ),
    which=st.sampled_from([0, 1]),
)
def test_probabilities_decisions_and_predictions_agree(fitted_pair, X, which):
    clf = fitted_pair[which]

    decision = clf.decision_function(X)
    proba = clf.predict_proba(X)
    log_proba = clf.predict_log_proba(X)
    predicted = clf.predict(X)

    n = X.shape[0]
    assert decision.shape == (n,)
    assert proba.shape == (n, 2)
    assert log_proba.shape == (n, 2)
    assert predicted.shape == (n,)
    assert np.all((proba >= 0.0) & (proba <= 1.0))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(predicted, clf.classes_[(decision > 0).astype(int)])
    untied = proba[:, 0] != proba[:, 1]
    np.testing.assert_array_equal(
        predicted[untied], clf.classes_[np.argmax(proba[untied], axis=1)]
    )
    np.testing.assert_allclose(proba[:, 1], expit(decision), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(log_proba))
