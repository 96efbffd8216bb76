"""The example scripts run from a clean interpreter and print what they promise."""

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

ROW = r"\s+(\d\.\d{4})\s+(\d\.\d{3})\s+(\d\.\d{3})\s+\d+\.\d\d s$"


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def row(out: str, label: str) -> tuple[float, float, float]:
    """(loss, train accuracy, test accuracy) of the table row starting with label."""
    match = re.search(rf"^{re.escape(label)}.*?{ROW}", out, flags=re.MULTILINE)
    assert match is not None, out
    loss, train_accuracy, test_accuracy = (float(value) for value in match.groups())
    return loss, train_accuracy, test_accuracy


def test_logistic_example_reproduces_the_tutorial_and_explains_its_loss(
    tmp_path: Path,
) -> None:
    out = run_example("moons_logistic.py", "--plot-dir", str(tmp_path))

    assert "final loss      0.3605" in out
    assert "train accuracy  0.814" in out
    assert "test accuracy   0.823" in out
    difference = re.search(r"max \|Δparam\| against reference.train: (\S+)", out)
    assert difference is not None
    assert float(difference.group(1)) <= 1e-12
    prose = " ".join(out.split())
    assert "a loss of about 0.57-0.58, which it does not" in prose
    assert "does not come out of this setup" in prose
    for name in ("moons_logistic_loss.png", "moons_logistic_boundary.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mlp_example_prints_one_table_where_only_the_mlp_separates_the_moons() -> None:
    out = run_example("moons_mlp.py", "--epochs", "300", "--convergence-steps", "2000")

    header = out.splitlines()[0].split()
    assert header == ["model", "loss", "train", "acc", "test", "acc", "time"]
    tutorial = row(out, "LR, 200 GD steps (tutorial)")
    converged = row(out, "LR, 2000 GD steps")
    sklearn = row(out, "scikit-learn LR, C=inf")
    mlp = row(out, "MLP 2-16-16-1 tanh, Adam, 300 steps")
    assert tutorial == (0.3605, 0.814, 0.823)
    assert 0.80 <= converged[1] <= sklearn[1] + 0.01
    assert abs(converged[0] - sklearn[0]) < 0.005
    assert 0.25 < sklearn[0] < 0.27
    assert 0.87 <= sklearn[1] <= 0.89
    assert mlp[0] < 0.01
    assert mlp[2] >= 0.99
