"""From one neuron to an MLP on the two moons, with one table to compare them.

A straight line cannot separate the moons: logistic regression stops near 88%
accuracy however long it trains, and scikit-learn's unpenalised solver agrees.
Two hidden layers of 16 tanh units, trained with Adam, separate them.

    python examples/moons_mlp.py [--plot-dir DIR] [--epochs N] [--convergence-steps N]
"""

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from tinygrad_lr import Tensor, data, nn, no_grad, optim
from tinygrad_lr import functional as F
from tinygrad_lr.train import History, fit


def evaluate(model: nn.Module, moons: data.Dataset) -> tuple[float, float, float]:
    """Training loss, train accuracy and test accuracy of a trained model."""
    with no_grad():
        logits = model(Tensor(moons.X_train))
        loss = F.binary_cross_entropy_with_logits(logits, Tensor(moons.y_train))
    train_accuracy = np.mean(model.predict(moons.X_train) == moons.y_train)
    test_accuracy = np.mean(model.predict(moons.X_test) == moons.y_test)
    return float(loss.data), float(train_accuracy), float(test_accuracy)


def gradient_descent(
    moons: data.Dataset, steps: int
) -> tuple[nn.LogisticRegression, History]:
    """The tutorial's logistic regression: w from seed 0, b = 0, lr 0.1."""
    model = nn.LogisticRegression(2, rng=np.random.RandomState(0))
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    history = fit(
        model, moons.X_train, moons.y_train, optimizer=optimizer, epochs=steps
    )
    return model, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot-dir", type=Path, help="write the PNG plots here")
    parser.add_argument(
        "--epochs", type=int, default=500, help="Adam steps of the MLP (default 500)"
    )
    parser.add_argument(
        "--convergence-steps",
        type=int,
        default=10_000,
        help="gradient descent steps of the converged logistic regression"
        " (default 10000)",
    )
    args = parser.parse_args()

    moons = data.moons()
    rows = []

    model, history = gradient_descent(moons, 200)
    rows.append(
        ("LR, 200 GD steps (tutorial)", *evaluate(model, moons), history.seconds)
    )
    tutorial_history = history

    model, history = gradient_descent(moons, args.convergence_steps)
    name = f"LR, {args.convergence_steps} GD steps"
    rows.append((name, *evaluate(model, moons), history.seconds))

    # scikit-learn without a penalty: C=inf is its unregularised logistic regression.
    start = time.perf_counter()
    classifier = LogisticRegression(C=np.inf).fit(moons.X_train, moons.y_train)
    seconds = time.perf_counter() - start
    logits = moons.X_train @ classifier.coef_[0] + classifier.intercept_[0]
    sklearn_loss = np.mean(np.logaddexp(0.0, logits) - moons.y_train * logits)
    rows.append(
        (
            "scikit-learn LR, C=inf",
            float(sklearn_loss),
            classifier.score(moons.X_train, moons.y_train),
            classifier.score(moons.X_test, moons.y_test),
            seconds,
        )
    )

    mlp = nn.MLP([2, 16, 16, 1], activation="tanh", rng=np.random.RandomState(0))
    optimizer = optim.Adam(mlp.parameters(), lr=0.01)
    mlp_history = fit(
        mlp, moons.X_train, moons.y_train, optimizer=optimizer, epochs=args.epochs
    )
    name = f"MLP 2-16-16-1 tanh, Adam, {args.epochs} steps"
    rows.append((name, *evaluate(mlp, moons), mlp_history.seconds))

    width = max(len(row[0]) for row in rows)
    print(f"{'model':<{width}}  {'loss':>8}  {'train acc':>9}  {'test acc':>8}  time")
    for name, loss, train_accuracy, test_accuracy, seconds in rows:
        print(
            f"{name:<{width}}  {loss:>8.4f}  {train_accuracy:>9.3f}"
            f"  {test_accuracy:>8.3f}  {seconds:.2f} s"
        )

    if args.plot_dir is not None:
        from tinygrad_lr import plot

        args.plot_dir.mkdir(parents=True, exist_ok=True)
        paths = [
            plot.plot_loss(
                {
                    "logistic regression, SGD": tutorial_history,
                    "MLP, Adam": mlp_history,
                },
                args.plot_dir / "moons_mlp_loss.png",
                title="Training loss on the moons",
                log_scale=True,
            ),
            plot.plot_decision_boundary(
                mlp,
                moons.X_train,
                moons.y_train,
                args.plot_dir / "moons_mlp_boundary.png",
                title=f"MLP: test accuracy {rows[-1][3]:.1%}",
            ),
        ]
        print()
        print("plots:", *paths, sep="\n  ")


if __name__ == "__main__":
    main()
