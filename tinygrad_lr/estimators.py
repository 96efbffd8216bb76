"""scikit-learn classifiers built on the nn models, the optimizers and ``train.fit``.

They follow scikit-learn's conventions, so they work in ``Pipeline``,
``GridSearchCV``, ``cross_val_score`` and ``clone``: ``__init__`` only stores the
hyperparameters, ``fit`` validates them and the data with scikit-learn's own
validation helpers (so error messages read like scikit-learn's), and the fitted
state lives in attributes ending with an underscore.

Both are binary classifiers. Any two labels work (ints, strings, bools): they are
sorted into ``classes_``, mapped to 0 and 1 for training, and mapped back by
``predict``.

>>> from tinygrad_lr.data import moons
>>> data = moons(n_train=200, n_test=200)
>>> clf = MLPClassifier(epochs=300, lr=0.02, random_state=0)
>>> clf.fit(data.X_train, data.y_train).score(data.X_test, data.y_test) > 0.95
True
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from tinygrad_lr import functional as F
from tinygrad_lr import nn, optim, train
from tinygrad_lr._random import as_generator
from tinygrad_lr.tensor import Tensor, no_grad

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)


__all__ = ["LogisticRegressionClassifier", "MLPClassifier"]

OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam}


def _invalid(estimator: Any, name: str, allowed: str, value: Any) -> ValueError:
    """scikit-learn's wording for a hyperparameter outside its allowed range."""
    return ValueError(
        f"The {name!r} parameter of {type(estimator).__name__} must be {allowed}."
        f" Got {value!r} instead."
    )


def _check_float(estimator: Any, name: str, low: float, *, low_open: bool) -> float:
    value = getattr(estimator, name)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > low if low_open else value >= low)
    if not ok:
        bracket = "(" if low_open else "["
        allowed = f"a finite float in the range {bracket}{low}, inf)"
        raise _invalid(estimator, name, allowed, value)
    return float(value)


def _check_int(estimator: Any, name: str, *, allow_none: bool = False) -> int | None:
    value = getattr(estimator, name)
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < 1:
        allowed = "an int in the range [1, inf)" + (" or None" if allow_none else "")
        raise _invalid(estimator, name, allowed, value)
    return int(value)


def _check_choice(estimator: Any, name: str, choices: Any) -> str:
    value = getattr(estimator, name)
    if not isinstance(value, str) or value not in choices:
        allowed = "a str among {" + ", ".join(repr(c) for c in sorted(choices)) + "}"
        raise _invalid(estimator, name, allowed, value)
    return value


def _check_random_state(estimator: Any) -> Any:
    value = estimator.random_state
    if value is None or isinstance(value, (np.random.RandomState, np.random.Generator)):
        return value
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if is_int and 0 <= int(value) < 2**32:
        return int(value)
    raise _invalid(
        estimator,
        "random_state",
        "an int in the range [0, 2**32 - 1], a numpy RandomState or Generator, or None",
        value,
    )


class _BinaryClassifier(ClassifierMixin, BaseEstimator):
    """What the two classifiers share: label handling, training and prediction.

    Subclasses define ``_build_model(n_features, rng)`` and
    ``_check_hyperparameters()``, and list their hyperparameters in
    ``__init__``.
    """

    lr: float
    epochs: int
    alpha: float
    optimizer: str
    batch_size: int | None
    random_state: Any

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"binary_only": True}

    def _build_model(self, n_features: int, rng: Any) -> nn.Module:
        raise NotImplementedError

    def _check_hyperparameters(self) -> None:
        """Check the hyperparameters that both classifiers have."""
        _check_float(self, "lr", 0.0, low_open=True)
        _check_int(self, "epochs")
        _check_float(self, "alpha", 0.0, low_open=False)
        _check_choice(self, "optimizer", OPTIMIZERS)
        _check_int(self, "batch_size", allow_none=True)
        _check_random_state(self)

    def _penalized_loss(self, model: nn.Module) -> train.LossFunction:
        """Mean cross-entropy plus ``alpha/2 · Σ‖W‖²`` over the weight matrices
        (the biases are not penalized, as in scikit-learn)."""
        weights = [p for name, p in model.named_parameters() if "bias" not in name]
        alpha = float(self.alpha)

        def loss_fn(logits: Tensor, targets: Tensor) -> Tensor:
            loss = F.binary_cross_entropy_with_logits(logits, targets)
            if alpha == 0.0:
                return loss
            penalty = sum(((w * w).sum() for w in weights), start=Tensor(0.0))
            return loss + penalty * (0.5 * alpha)

        return loss_fn

    def fit(self, X: Any, y: Any) -> Any:
        """Train on X and y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Exactly two distinct labels, of any type that sorts.

        Returns
        -------
        self
        """
        self._check_hyperparameters()
        X, y = _validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        name = type(self).__name__
        if len(classes) < 2:
            raise ValueError(
                f"{name}.fit: y contains only one class ({classes.tolist()[0]!r}); a"
                " classifier needs samples of two classes"
            )
        if len(classes) > 2:
            raise ValueError(
                f"{name}.fit: binary classification only; y has {len(classes)}"
                f" classes {classes.tolist()}. Only binary classification is"
                " supported: wrap the estimator in"
                " sklearn.multiclass.OneVsRestClassifier for more classes"
            )
        if self.batch_size is not None and self.batch_size > X.shape[0]:
            raise _invalid(
                self,
                "batch_size",
                f"an int in the range [1, n_samples={X.shape[0]}] or None",
                self.batch_size,
            )

        rng = as_generator(_check_random_state(self))
        model = self._build_model(X.shape[1], rng)
        optimizer = OPTIMIZERS[self.optimizer](model.parameters(), lr=self.lr)
        history = train.fit(
            model,
            X,
            encoded.astype(np.float64),
            optimizer=optimizer,
            epochs=self.epochs,
            batch_size=self.batch_size,
            loss_fn=self._penalized_loss(model),
            rng=rng,
            progress=False,
        )

        self.classes_ = classes
        self.model_ = model
        self.history_ = history
        self.n_iter_ = len(history.loss)
        self._set_fitted_attributes(model)
        return self

    def _set_fitted_attributes(self, model: nn.Module) -> None:
        """scikit-learn style views of the learned parameters."""

    def decision_function(self, X: Any) -> np.ndarray:
        """The logits z: positive means ``classes_[1]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = _validate_data(self, X, dtype=np.float64, reset=False)
        with no_grad():
            return np.asarray(self.model_(Tensor(X)).data)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            ``[σ(-z), σ(z)]``; each side is computed by the stable sigmoid rather
            than as ``1 - p``, so a tiny probability keeps its relative accuracy.
        """
        z = self.decision_function(X)
        with no_grad():
            return np.column_stack([F.sigmoid(-z).data, F.sigmoid(z).data])

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log class probabilities ``[log σ(-z), log σ(z)]``, shape (n_samples, 2);
        finite even where ``predict_proba`` rounds to 0."""
        z = self.decision_function(X)
        with no_grad():
            return np.column_stack([F.log_sigmoid(-z).data, F.log_sigmoid(z).data])

    def predict(self, X: Any) -> np.ndarray:
        """The predicted labels, taken from ``classes_``: ``classes_[1]`` where the
        logit is > 0, shape (n_samples,)."""
        # NOTE: thresholding the logit, not the rounded probability: σ(z) is
        # exactly 0.5 for 0 < z < 1e-16, where argmax of predict_proba would tie.
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(np.intp)]


class LogisticRegressionClassifier(_BinaryClassifier):
    """Logistic regression as one neuron, trained by gradient descent.

    Minimizes the mean cross-entropy plus an L2 penalty on the weights (not the
    bias)::

        (1/n) Σᵢ ℓ(zᵢ, yᵢ) + (alpha/2) ‖w‖²,   z = X w + b

    scikit-learn's ``LogisticRegression(C=C)`` minimizes ``C Σᵢ ℓ + ½‖w‖²``;
    dividing by ``C·n`` gives the same minimizer, so ``alpha = 1 / (C · n_samples)``
    corresponds to ``C``, and ``alpha=0`` to ``C=inf`` (no penalty). Unlike
    scikit-learn, training runs a fixed number of gradient steps rather than to a
    tolerance, so the match holds once ``epochs`` is large enough to converge.

    Parameters
    ----------
    lr : float, default 0.1
        Learning rate, > 0.
    epochs : int, default 200
        Passes over the data (scikit-learn's ``max_iter``, but always all run).
        With ``batch_size=None`` every epoch is one full-batch step.
    alpha : float, default 0.0
        L2 penalty strength, >= 0; see above for its relation to ``C``.
    optimizer : {"sgd", "adam"}, default "sgd"
    batch_size : int, optional
        Rows per mini-batch, from 1 to n_samples; None for full-batch steps.
    random_state : None, int, RandomState or Generator
        Seeds the initial weights (drawn from U[0, 1) as in the from-scratch
        tutorial; ``np.random.RandomState(0)`` gives exactly its start) and the
        mini-batch shuffling.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    n_features_in_ : int
    n_iter_ : int
        Epochs run.
    model_ : nn.LogisticRegression
        The trained neuron.
    history_ : train.History
        Loss per epoch (penalty included).

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegressionClassifier(lr=0.5, epochs=500, random_state=0)
    >>> clf.fit(X, ["no", "no", "yes", "yes"]).predict([[0.2], [2.8]])
    array(['no', 'yes'], dtype='<U3')
    """

    def __init__(
        self,
        lr: float = 0.1,
        epochs: int = 200,
        alpha: float = 0.0,
        optimizer: str = "sgd",
        batch_size: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.lr = lr
        self.epochs = epochs
        self.alpha = alpha
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.random_state = random_state

    def _build_model(self, n_features: int, rng: Any) -> nn.Module:
        return nn.LogisticRegression(n_features, rng=rng)

    def _set_fitted_attributes(self, model: nn.Module) -> None:
        assert isinstance(model, nn.LogisticRegression)
        self.coef_ = model.weight.data.reshape(1, -1).copy()
        self.intercept_ = model.bias.data.reshape(1).copy()


class MLPClassifier(_BinaryClassifier):
    """A multilayer perceptron for two classes, trained with Adam by default.

    Minimizes the mean cross-entropy plus ``(alpha/2) Σ ‖W‖²`` over the weight
    matrices (biases are not penalized). scikit-learn's ``MLPClassifier`` divides
    its penalty by the batch size, so its ``alpha`` equals this one times the
    batch size (times ``n_samples`` for full-batch training).

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (16, 16)
        Units per hidden layer, each >= 1; ``()`` gives logistic regression.
    activation : {"tanh", "relu"}, default "tanh"
    lr : float, default 0.01
        Learning rate, > 0.
    epochs : int, default 500
        Passes over the data (scikit-learn's ``max_iter``, but always all run).
    alpha : float, default 0.0
        L2 penalty strength, >= 0.
    optimizer : {"adam", "sgd"}, default "adam"
    batch_size : int, optional
        Rows per mini-batch, from 1 to n_samples; None for full-batch steps.
    random_state : None, int, RandomState or Generator
        Seeds the initial weights and the mini-batch shuffling.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    coefs_ : list of ndarray
        The weight matrix of each layer, shape (in_features, out_features).
    intercepts_ : list of ndarray
        The bias of each layer, shape (out_features,).
    n_features_in_ : int
    n_iter_ : int
    model_ : nn.MLP
    history_ : train.History
    """

    def __init__(
        self,
        hidden_layer_sizes: Any = (16, 16),
        activation: str = "tanh",
        lr: float = 0.01,
        epochs: int = 500,
        alpha: float = 0.0,
        optimizer: str = "adam",
        batch_size: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.lr = lr
        self.epochs = epochs
        self.alpha = alpha
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.random_state = random_state

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        valid = isinstance(sizes, (tuple, list)) and all(
            isinstance(size, numbers.Integral)
            and not isinstance(size, bool)
            and int(size) >= 1
            for size in sizes
        )
        if not valid:
            raise _invalid(
                self,
                "hidden_layer_sizes",
                "an int or a tuple of ints, each in the range [1, inf)",
                self.hidden_layer_sizes,
            )
        return [int(size) for size in sizes]

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        self._hidden_sizes()
        _check_choice(self, "activation", nn.models.ACTIVATIONS)

    def _build_model(self, n_features: int, rng: Any) -> nn.Module:
        sizes = [n_features, *self._hidden_sizes(), 1]
        return nn.MLP(sizes, self.activation, rng=rng)

    def _set_fitted_attributes(self, model: nn.Module) -> None:
        assert isinstance(model, nn.MLP)
        linears = [layer for layer in model.layers if isinstance(layer, nn.Linear)]
        self.coefs_ = [layer.weight.data.copy() for layer in linears]
        self.intercepts_ = [
            layer.bias.data.copy() for layer in linears if layer.bias is not None
        ]
