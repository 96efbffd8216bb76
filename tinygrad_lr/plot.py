"""Pictures of a training run: the loss curve and the decision boundary.

matplotlib is optional (``pip install 'tinygrad-lr[plot]'``) and is imported only
when a picture is drawn. The figures are rendered with the Agg backend through
matplotlib's object-oriented API, so drawing one never changes the pyplot backend
or the open figures of a notebook that calls these functions.

>>> import numpy as np
>>> from tinygrad_lr import nn
>>> model = nn.LogisticRegression(2, rng=0)
>>> xx, yy, proba = decision_grid(model, np.array([[0.0, 0.0], [1.0, 1.0]]),
...                               resolution=5)
>>> proba.shape
(5, 5)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_lr.train import History

__all__ = ["decision_grid", "plot_decision_boundary", "plot_loss"]

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'tinygrad-lr[plot]'"

Curve = History | Sequence[float] | np.ndarray


def _figure(figsize: tuple[float, float], dpi: int) -> Any:
    """A matplotlib Figure drawn by the Agg canvas, or an ImportError with the fix."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"tinygrad_lr.plot needs matplotlib, which is not installed; run:"
            f" {INSTALL_HINT}"
        ) from error

    figure = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` as a PNG file at ``path`` and return the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"plot: the directory {str(path.parent)!r} of {str(path)!r} does not"
            " exist; create it first"
        )
    figure.savefig(path, format="png")
    logger.info("plot: wrote %s", path)
    return path


def _as_losses(curve: Any, where: str) -> np.ndarray:
    """The loss values of a History or a sequence, validated as a 1-D float array."""
    values = curve.loss if isinstance(curve, History) else curve
    losses = np.asarray(values, dtype=np.float64)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError(
            f"{where}: expected a History or a non-empty 1-D sequence of losses, got"
            f" shape {losses.shape}"
        )
    return losses


def _positive_proba(model: Any, points: np.ndarray) -> np.ndarray:
    """The model's probability of the positive class at each point, shape (n,).

    The nn models return that vector; the estimators return one column per class,
    in the order of ``classes_``, so the positive class ``classes_[1]`` is column 1.
    """
    proba = np.asarray(model.predict_proba(points))
    if proba.ndim == 2 and proba.shape[1] == 2:
        proba = proba[:, 1]
    if proba.shape != (len(points),):
        n = len(points)
        raise ValueError(
            f"decision_grid: model.predict_proba returned shape {proba.shape} for {n}"
            f" points; expected ({n},) or ({n}, 2), the probabilities of a binary"
            " classifier"
        )
    return proba


def plot_loss(
    curves: Curve | Mapping[str, Curve],
    path: str | os.PathLike[str],
    *,
    label: str = "training loss",
    title: str = "Loss per epoch",
    log_scale: bool = False,
    figsize: tuple[float, float] = (6.0, 4.0),
    dpi: int = 100,
) -> Path:
    """Draw one or several loss curves against the epoch and save them as a PNG.

    Parameters
    ----------
    curves : History, sequence of float, or mapping of str to either
        One curve (labelled ``label``), or ``{label: curve}`` for several curves
        on the same axes, e.g. ``{"SGD": history_sgd, "Adam": history_adam}``.
        A History contributes its ``loss`` list.
    path : str or PathLike
        Where the PNG goes; its directory must exist.
    label : str, default "training loss"
        Legend entry of a single curve.
    title : str, default "Loss per epoch"
    log_scale : bool, default False
        Use a logarithmic loss axis, which shows the late, slow part of training.
    figsize : (float, float), default (6.0, 4.0)
        Size in inches; the PNG is ``figsize * dpi`` pixels.
    dpi : int, default 100

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ImportError
        Without matplotlib, with the command that installs it.
    ValueError
        For an empty curve or one that is not 1-D.
    """
    if isinstance(curves, Mapping):
        named = {str(name): _as_losses(c, "plot_loss") for name, c in curves.items()}
        if not named:
            raise ValueError("plot_loss: curves is an empty mapping; pass one curve")
    else:
        named = {label: _as_losses(curves, "plot_loss")}

    figure = _figure(figsize, dpi)
    axes = figure.add_subplot()
    for name, losses in named.items():
        axes.plot(np.arange(1, losses.size + 1), losses, label=name)
    if log_scale:
        axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()

    return _save(figure, path)


def decision_grid(
    model: Any, X: Any, *, resolution: int = 200, padding: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's probability of the positive class on a regular grid that covers X.

    Parameters
    ----------
    model : binary classifier with ``predict_proba``
        An nn model (``nn.LogisticRegression``, ``nn.MLP``), whose ``predict_proba``
        returns P(class 1) of shape (n_samples,), or a fitted estimator
        (``LogisticRegressionClassifier``, ``MLPClassifier``), whose ``predict_proba``
        returns shape (n_samples, 2) in the order of ``classes_``; column 1,
        P(``classes_[1]``), is used.
    X : array-like of shape (n_samples, 2)
        The points the grid must cover.
    resolution : int, default 200
        Grid points along each axis.
    padding : float, default 0.5
        Margin added around the range of X on every side.

    Returns
    -------
    xx, yy : ndarray of shape (resolution, resolution)
        Grid coordinates, as from ``np.meshgrid``.
    proba : ndarray of shape (resolution, resolution)
        The probability of the positive class at every grid point.

    Raises
    ------
    ValueError
        When X is not of shape (n_samples, 2), or ``predict_proba`` returns
        neither shape (n_samples,) nor (n_samples, 2).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ValueError(
            "decision_grid: expected X of shape (n_samples, 2) with n_samples >= 1,"
            f" got shape {X.shape}; the boundary can only be drawn in two dimensions"
        )
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise TypeError(f"decision_grid: resolution must be an int, got {resolution!r}")
    if resolution < 2:
        raise ValueError(f"decision_grid: resolution must be >= 2, got {resolution}")

    low = X.min(axis=0) - padding  # (2,)
    high = X.max(axis=0) + padding  # (2,)
    xx, yy = np.meshgrid(
        np.linspace(low[0], high[0], resolution),
        np.linspace(low[1], high[1], resolution),
    )
    points = np.column_stack([xx.ravel(), yy.ravel()])  # (resolution², 2)

    proba = _positive_proba(model, points).reshape(xx.shape)
    return xx, yy, proba


def plot_decision_boundary(
    model: Any,
    X: Any,
    y: Any,
    path: str | os.PathLike[str],
    *,
    title: str = "Decision boundary",
    resolution: int = 200,
    padding: float = 0.5,
    figsize: tuple[float, float] = (6.0, 5.0),
    dpi: int = 100,
) -> Path:
    """Draw the positive-class probability, its 0.5 boundary and the points.

    Parameters
    ----------
    model : binary classifier with ``predict_proba``
        As in :func:`decision_grid`.
    X : array-like of shape (n_samples, 2)
        The points to show, usually the training set.
    y : array-like of shape (n_samples,)
        Their labels, which colour the points: 0 or 1 for an nn model (not soft
        targets such as 0.9), the labels in ``classes_`` for a fitted estimator.
    path : str or PathLike
        Where the PNG goes; its directory must exist.
    title : str, default "Decision boundary"
    resolution, padding
        Passed to :func:`decision_grid`.
    figsize : (float, float), default (6.0, 5.0)
        Size in inches; the PNG is ``figsize * dpi`` pixels.
    dpi : int, default 100

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ImportError
        Without matplotlib, with the command that installs it.
    ValueError
        When X is not of shape (n_samples, 2), y does not have one label per row or
        holds a label the model does not predict, or ``predict_proba`` returns an
        unexpected shape.
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(np.asarray(X)):
        raise ValueError(
            "plot_decision_boundary: expected y of shape (n_samples,) matching X,"
            f" got y of shape {y.shape} for X of shape {np.shape(X)}"
        )
    # The estimators can be fitted on any two labels; the nn models know 0 and 1.
    classes = np.asarray(getattr(model, "classes_", [0, 1]))
    unknown = ~np.isin(y, classes)
    if unknown.any():
        raise ValueError(
            "plot_decision_boundary: expected the labels in y to be the model's"
            f" classes {classes.tolist()}, got {np.unique(y[unknown]).tolist()}"
        )
    xx, yy, proba = decision_grid(model, X, resolution=resolution, padding=padding)
    X = np.asarray(X, dtype=np.float64)

    figure = _figure(figsize, dpi)
    axes = figure.add_subplot()
    filled = axes.contourf(
        xx, yy, proba, levels=np.linspace(0.0, 1.0, 11), cmap="RdBu_r", alpha=0.6
    )
    # NOTE: a flat probability surface (a model that predicts one class everywhere)
    # has no 0.5 level; matplotlib then warns, so draw the line only when it exists.
    if proba.min() < 0.5 < proba.max():
        axes.contour(xx, yy, proba, levels=[0.5], colors="black", linewidths=1.5)
    for label, colour in zip(classes, ("tab:blue", "tab:red"), strict=True):
        rows = y == label
        axes.scatter(
            X[rows, 0],
            X[rows, 1],
            s=12,
            c=colour,
            edgecolors="white",
            linewidths=0.4,
            label=f"class {label}",
        )
    figure.colorbar(filled, ax=axes, label=f"P(class {classes[1]})")
    axes.set_xlabel("$x_1$")
    axes.set_ylabel("$x_2$")
    axes.set_title(title)
    axes.legend(loc="upper right")
    figure.tight_layout()

    return _save(figure, path)
