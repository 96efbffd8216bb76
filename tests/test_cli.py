"""Tests of the ``tinygrad-lr`` command: output, defaults, errors and files."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_lr import cli, data, load, nn, reference

OPTIONS = [
    "--model",
    "--hidden-sizes",
    "--activation",
    "--init-seed",
    "--optimizer",
    "--lr",
    "--epochs",
    "--batch-size",
    "--seed",
    "--n-train",
    "--n-test",
    "--noise",
    "--plot-dir",
    "--save",
    "--json",
]


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_lr", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def tutorial_run() -> cli.MoonsRun:
    return cli.train_moons()


@pytest.fixture(scope="module")
def tutorial_reference() -> tuple[np.ndarray, float, list[float]]:
    """The tutorial's experiment by hand: seed 0, w = rand(2), b = 0, 200 steps."""
    moons = data.moons()
    w0 = np.random.RandomState(0).rand(2)
    return reference.train(moons.X_train, moons.y_train, w0, 0.0, lr=0.1, steps=200)


def test_module_prints_json_results_for_a_short_run() -> None:
    result = run_module("moons", "--epochs", "3", "--n-test", "200", "--json")

    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    assert results["settings"]["epochs"] == 3
    assert results["settings"]["n_test"] == 200
    assert len(results["loss_history"]) == 3
    assert 0.0 < results["final_loss"] < results["loss_history"][0]
    assert 0.0 <= results["train_accuracy"] <= 1.0
    assert 0.0 <= results["test_accuracy"] <= 1.0
    assert isinstance(results["seconds"], float) and results["seconds"] > 0.0
    assert results["reference_max_abs_param_diff"] <= 1e-12
    assert results["tutorial"] is None
    assert results["plots"] == []


def test_module_rejects_a_bad_argument_with_status_2_and_one_line() -> None:
    result = run_module("moons", "--lr", "0")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("tinygrad-lr: error: argument --lr: ")


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["moons", "--help"])

    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    missing = [option for option in OPTIONS if option not in text]
    assert missing == []
    assert "np.random.seed(0)" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], r"required: COMMAND"),
        (["fit"], r"invalid choice: 'fit'"),
        (["moons", "--model", "svm"], r"argument --model: invalid choice: 'svm'"),
        (["moons", "--lr", "-0.1"], r"--lr: expected a finite number > 0, got -0.1"),
        (["moons", "--lr", "nan"], r"--lr: expected a finite number > 0, got nan"),
        (["moons", "--epochs", "0"], r"--epochs: expected a positive integer, got 0"),
        (["moons", "--epochs", "2.5"], r"--epochs: expected a positive integer"),
        (["moons", "--noise", "-1"], r"--noise: expected a finite number >= 0"),
        (
            ["moons", "--seed", "-1"],
            r"--seed: expected an integer in \[0, 2\*\*32",
        ),
        (["moons", "--init-seed", "x"], r"--init-seed: expected an integer in"),
        (["moons", "--hidden-sizes", "16,0"], r"comma-separated positive integers"),
        (["moons", "--activation", "relu"], r"--activation applies to --model mlp"),
        (["moons", "--batch-size", "501"], r"at most --n-train \(500\), got 501"),
        (["moons", "--colour"], r"unrecognized arguments: --colour"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_on_stderr(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)

    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tinygrad-lr: error: ")
    assert lines[0].endswith("--help')")
    assert re.search(message, lines[0])


def test_logistic_defaults_are_the_tutorials_experiment(
    tutorial_run: cli.MoonsRun,
    tutorial_reference: tuple[np.ndarray, float, list[float]],
) -> None:
    w, b, losses = tutorial_reference

    np.testing.assert_allclose(tutorial_run.model.weight.data, w, rtol=0, atol=1e-12)
    assert abs(float(tutorial_run.model.bias.data) - b) <= 1e-12
    assert tutorial_run.final_loss == pytest.approx(losses[-1], rel=1e-12)
    assert tutorial_run.reference_max_diff is not None
    assert tutorial_run.reference_max_diff <= 1e-12
    assert 0.80 <= tutorial_run.train_accuracy <= 0.84
    assert 0.80 <= tutorial_run.test_accuracy <= 0.85


def test_tutorial_note_measures_the_loss_path_and_the_optimum(
    tutorial_run: cli.MoonsRun,
    tutorial_reference: tuple[np.ndarray, float, list[float]],
) -> None:
    moons = data.moons()
    w0 = np.random.RandomState(0).rand(2)
    _, _, losses = tutorial_reference
    step = next(k for k, loss in enumerate(losses) if loss <= 0.58)
    w, b, _ = reference.train(moons.X_train, moons.y_train, w0, 0.0, steps=step)
    accuracy = reference.accuracy(moons.y_train, reference.predict(moons.X_train, w, b))
    # Gradient descent with a larger step converges on this convex problem.
    w, b, converged = reference.train(
        moons.X_train, moons.y_train, w0, 0.0, lr=1.0, steps=2000
    )

    note = cli.tutorial_note(tutorial_run)

    assert note["step_loss_first_below_tutorial"] == step
    assert note["train_accuracy_at_that_step"] == accuracy
    assert note["optimum_loss"] == pytest.approx(converged[-1], abs=1e-6)
    assert 0.25 < note["optimum_loss"] < 0.27


def test_default_run_prints_results_reference_and_tutorial_note(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["moons"]) == 0

    out = capsys.readouterr().out
    assert "final loss      0.3605" in out
    assert "train accuracy  0.814" in out
    assert "test accuracy   0.823" in out
    assert "max |Δparam| = " in out
    prose = " ".join(out.split())  # the note is wrapped at 79 columns
    assert "about 82% training accuracy (this run: 81.4%)" in prose
    assert "a loss of about 0.57-0.58 (this run: 0.3605)" in prose
    assert "does not come out of this setup" in prose
    assert "does not come out of this setup" in prose


def test_changed_settings_leave_out_the_tutorial_note(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["moons", "--epochs", "20", "--optimizer", "adam"]) == 0

    out = capsys.readouterr().out
    assert "not compared with adam" in out
    prose = " ".join(out.split())
    assert "compared with the default settings only" in prose
    assert "does not come out of this setup" not in prose


def test_mlp_defaults_separate_the_moons(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["moons", "--model", "mlp", "--json"]) == 0

    results = json.loads(capsys.readouterr().out)
    assert results["settings"]["hidden_sizes"] == [16, 16]
    assert results["settings"]["activation"] == "tanh"
    assert results["settings"]["optimizer"] == "adam"
    assert results["test_accuracy"] >= 0.99
    assert results["train_accuracy"] >= 0.99
    assert results["reference_max_abs_param_diff"] is None


def test_mlp_trains_with_relu_mini_batches_and_other_sizes() -> None:
    run = cli.train_moons(
        model="mlp",
        hidden_sizes=[8],
        activation="relu",
        optimizer="sgd",
        lr=0.5,
        epochs=5,
        batch_size=100,
        n_train=200,
    )

    assert [p.shape for p in run.model.parameters()] == [(2, 8), (8,), (8, 1), (1,)]
    assert run.settings["batch_size"] == 100
    assert len(run.history.loss) == 5


def test_plot_dir_is_created_and_receives_two_pngs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot_dir = tmp_path / "new" / "plots"

    assert cli.main(["moons", "--epochs", "5", "--plot-dir", str(plot_dir)]) == 0

    out = capsys.readouterr().out
    for name in ("logistic_loss.png", "logistic_decision_boundary.png"):
        assert (plot_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(plot_dir / name) in out


def test_a_plot_dir_that_is_a_file_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    occupied = tmp_path / "occupied"
    occupied.write_text("not a directory")

    assert cli.main(["moons", "--epochs", "2", "--plot-dir", str(occupied)]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith("tinygrad-lr: error: ")
    assert str(occupied) in captured.err


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"model": "svm"},
            r"train_moons: model must be 'logistic' or 'mlp', got 'svm'",
        ),
        ({"optimizer": "rmsprop"}, r"train_moons: optimizer must be 'sgd' or 'adam'"),
    ],
)
def test_train_moons_rejects_unknown_names(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cli.train_moons(**settings)


def test_save_writes_a_model_that_load_rebuilds(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tutorial_reference: tuple[np.ndarray, float, list[float]],
) -> None:
    path = tmp_path / "models" / "logistic.npz"

    assert cli.main(["moons", "--save", str(path), "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["saved"] == str(path)
    w, b, _ = tutorial_reference
    restored = load(path)
    assert isinstance(restored, nn.LogisticRegression)
    np.testing.assert_allclose(restored.weight.data, w, rtol=0, atol=1e-12)
    assert abs(float(restored.bias.data) - b) <= 1e-12
