"""Tests of tinygrad_lr.plot: PNG files, the probability grid, missing matplotlib."""

import builtins
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinygrad_lr import nn, plot
from tinygrad_lr.data import moons
from tinygrad_lr.estimators import LogisticRegressionClassifier, MLPClassifier
from tinygrad_lr.train import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the PNG signature."""
    content = path.read_bytes()
    assert content[:8] == PNG_SIGNATURE
    assert content[12:16] == b"IHDR"
    width, height = struct.unpack(">II", content[16:24])
    return width, height


@pytest.fixture
def model() -> nn.LogisticRegression:
    """A one-neuron model with known weights: P(class 1) = σ(x1 - x2)."""
    model = nn.LogisticRegression(2, rng=0)
    model.weight.data = np.array([1.0, -1.0])
    return model


@pytest.fixture
def points(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(40, 2))
    return X, (X[:, 0] > X[:, 1]).astype(np.float64)


@pytest.fixture
def moons_ab() -> tuple[np.ndarray, np.ndarray]:
    """40 moons points labelled "a" and "b" rather than 0 and 1."""
    data = moons(n_train=40, n_test=1)
    return data.X_train, np.where(data.y_train == 1, "b", "a")


@pytest.fixture(params=[LogisticRegressionClassifier, MLPClassifier])
def estimator(
    request: pytest.FixtureRequest, moons_ab: tuple[np.ndarray, np.ndarray]
) -> LogisticRegressionClassifier | MLPClassifier:
    """A quickly fitted estimator, whose predict_proba has shape (n_samples, 2)."""
    return request.param(epochs=20, lr=0.1, random_state=0).fit(*moons_ab)


class ProbaOfShape:
    """A stand-in model whose predict_proba returns zeros of a fixed extra shape."""

    def __init__(self, *trailing: int) -> None:
        self.trailing = trailing

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.zeros((len(X), *self.trailing))


def test_plot_loss_writes_a_png_of_figsize_times_dpi_pixels(tmp_path: Path) -> None:
    path = plot.plot_loss(
        [0.7, 0.5, 0.4], tmp_path / "loss.png", figsize=(5, 3), dpi=80
    )

    assert path == tmp_path / "loss.png"
    assert png_size(path) == (400, 240)


def test_plot_loss_draws_several_labelled_histories_on_a_log_axis(
    tmp_path: Path,
) -> None:
    curves = {"SGD": History(loss=[0.7, 0.6, 0.5]), "Adam": np.array([0.7, 0.1, 0.01])}

    path = plot.plot_loss(curves, tmp_path / "both.png", log_scale=True)

    assert png_size(path) == (600, 400)


def test_plot_decision_boundary_writes_a_png(
    tmp_path: Path, model: nn.LogisticRegression, points: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = points

    path = plot.plot_decision_boundary(model, X, y, tmp_path / "boundary.png", dpi=50)

    assert png_size(path) == (300, 250)


def test_plot_decision_boundary_draws_a_model_that_predicts_one_class(
    tmp_path: Path, model: nn.LogisticRegression, points: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = points
    model.weight.data = np.zeros(2)
    model.bias.data = np.array(40.0)

    path = plot.plot_decision_boundary(model, X, y, tmp_path / "flat.png", dpi=50)

    assert png_size(path) == (300, 250)


def test_decision_grid_covers_the_points_and_holds_the_model_probability(
    model: nn.LogisticRegression,
) -> None:
    X = np.array([[0.0, -1.0], [2.0, 3.0]])

    xx, yy, proba = plot.decision_grid(model, X, resolution=5, padding=1.0)

    np.testing.assert_allclose(xx[0], [-1.0, 0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(yy[:, 0], [-2.0, -0.5, 1.0, 2.5, 4.0])
    np.testing.assert_allclose(proba, 1.0 / (1.0 + np.exp(-(xx - yy))), rtol=1e-12)


def test_decision_grid_uses_the_positive_class_column_of_an_estimator(
    estimator: LogisticRegressionClassifier | MLPClassifier,
    moons_ab: tuple[np.ndarray, np.ndarray],
) -> None:
    X, _ = moons_ab

    xx, yy, proba = plot.decision_grid(estimator, X, resolution=5)

    points = np.column_stack([xx.ravel(), yy.ravel()])
    expected = estimator.predict_proba(points)[:, 1]  # P(classes_[1] == "b")
    np.testing.assert_array_equal(proba, expected.reshape(5, 5))


def test_plot_decision_boundary_colours_the_points_by_the_estimator_labels(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    estimator: LogisticRegressionClassifier | MLPClassifier,
    moons_ab: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = moons_ab
    figures: list[Any] = []
    real_figure = plot._figure

    def recorded_figure(*args: Any) -> Any:
        figures.append(real_figure(*args))
        return figures[-1]

    monkeypatch.setattr(plot, "_figure", recorded_figure)

    path = plot.plot_decision_boundary(estimator, X, y, tmp_path / "b.png", dpi=50)

    assert png_size(path) == (300, 250)
    scatters = {
        c.get_label(): len(c.get_offsets())
        for c in figures[0].axes[0].collections
        if c.get_label().startswith("class")
    }
    assert scatters == {"class a": np.sum(y == "a"), "class b": np.sum(y == "b")}


@pytest.mark.parametrize("trailing", [(1,), (3,)])
def test_decision_grid_rejects_probabilities_of_another_shape(
    trailing: tuple[int, ...],
) -> None:
    shape = re.escape(str((25, *trailing)))
    with pytest.raises(
        ValueError, match=rf"decision_grid: .*predict_proba .*shape {shape}"
    ):
        plot.decision_grid(ProbaOfShape(*trailing), np.eye(2), resolution=5)


def test_plot_decision_boundary_rejects_labels_the_model_does_not_predict(
    tmp_path: Path, model: nn.LogisticRegression
) -> None:
    with pytest.raises(
        ValueError, match=r"plot_decision_boundary: .*classes \[0, 1\], got \[-1\]"
    ):
        plot.plot_decision_boundary(model, np.eye(2), [-1, 1], tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_decision_grid_rejects_points_that_are_not_two_dimensional(
    model: nn.LogisticRegression,
) -> None:
    with pytest.raises(
        ValueError, match=r"decision_grid: .*\(n_samples, 2\).*\(4, 3\)"
    ):
        plot.decision_grid(model, np.zeros((4, 3)))


def test_plot_decision_boundary_rejects_labels_of_the_wrong_length(
    tmp_path: Path, model: nn.LogisticRegression
) -> None:
    with pytest.raises(
        ValueError, match=r"plot_decision_boundary: .*y of shape \(3,\)"
    ):
        plot.plot_decision_boundary(model, np.zeros((4, 2)), [0, 1, 0], tmp_path / "x")


def test_plot_loss_rejects_an_empty_curve(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"plot_loss: .*non-empty 1-D .*shape \(0,\)"):
        plot.plot_loss([], tmp_path / "loss.png")


def test_plot_loss_names_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"plot: the directory .*missing"):
        plot.plot_loss([1.0, 0.5], tmp_path / "missing" / "loss.png")


def test_plots_without_matplotlib_say_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: nn.LogisticRegression
) -> None:
    real_import = builtins.__import__

    def import_without_matplotlib(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "matplotlib":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", import_without_matplotlib)

    hint = r"pip install 'tinygrad-lr\[plot\]'"
    with pytest.raises(ImportError, match=hint):
        plot.plot_loss([1.0, 0.5], tmp_path / "loss.png")
    with pytest.raises(ImportError, match=hint):
        plot.plot_decision_boundary(model, np.zeros((2, 2)), [0, 1], tmp_path / "b")
    assert list(tmp_path.iterdir()) == []
