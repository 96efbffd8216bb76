"""Add an op the library does not have, test it, and train a network with it.

The op is the leaky ReLU, ``max(x, 0) + slope·min(x, 0)``. Adding it takes one
Function class with its forward and backward and one ``register`` line; the
op-testing kit ``tinygrad_lr.testing`` then checks the forward against NumPy and
the gradient against central differences over many shapes and values. Finally a
small network with leaky ReLUs between its layers learns the two moons.

    python examples/custom_op.py [--examples N] [--epochs N]
"""

import argparse
import itertools
import time
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from tinygrad_lr import Tensor, data, gradcheck, nn, no_grad, optim
from tinygrad_lr.function import Context, Function, register
from tinygrad_lr.testing import check_op, floats
from tinygrad_lr.train import fit

# ---------------------------------------------------------------- 1. the op


@register("leaky_relu", methods=("leaky_relu",), params=("negative_slope",))
class LeakyReLU(Function):
    """x where x > 0, slope·x elsewhere.  ∂/∂x = g where x > 0, slope·g elsewhere.

    Like ``relu``, the gradient at the kink x = 0 is the left one (slope).
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, negative_slope: float = 0.01) -> Any:
        slope = x.dtype.type(negative_slope)  # keeps float32 inputs float32
        ctx.save_for_backward(x, slope)
        return np.where(x > 0, x, slope * x)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        x, slope = ctx.saved_tensors
        return grad_output * np.where(x > 0, x.dtype.type(1), slope)


def leaky_relu_reference(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """The same function written independently, for the forward check."""
    return np.maximum(x, 0.0) + negative_slope * np.minimum(x, 0.0)


class ForgetfulLeakyReLU(Function):
    """A deliberately wrong leaky ReLU (slope 0.1): its backward is ReLU's.

    Not registered, so it never becomes a Tensor method.
    """

    name = "forgetful_leaky_relu"

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> Any:
        ctx.save_for_backward(x)
        return np.where(x > 0, x, 0.1 * x)

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0)


# ---------------------------------------------------------------- 2. the tests


def check(examples: int) -> None:
    """Run the kit's property tests and one direct gradient check; print them."""
    # NOTE: central differences straddle the kink for |x| < eps, so keep the
    # values a little away from 0; the kink itself is a decision, not a formula.
    away_from_kink = floats(1e-3, 50) | floats(-50, -1e-3)
    slopes = st.fixed_dictionaries({"negative_slope": st.floats(0.0, 1.0)})

    check_op(
        lambda x, negative_slope: x.leaky_relu(negative_slope),
        leaky_relu_reference,
        domain=away_from_kink,
        params=lambda shapes: slopes,
        max_examples=examples,
    )
    print(
        f"check_op: forward equals NumPy (float64 and float32, strided and"
        f" read-only inputs) and backward equals central differences, on"
        f" {examples} drawn shapes, values and slopes each"
    )

    x = np.array([-2.0, -0.5, 0.5, 3.0])
    gradcheck(lambda t: (t.leaky_relu(0.2) * t).sum(), [x])
    print("gradcheck: the gradient of sum(leaky_relu(x, 0.2) * x) at", x, "agrees")

    # And what a mistake looks like: a backward that forgets the slope.
    try:
        gradcheck(lambda t: ForgetfulLeakyReLU.apply(t).sum(), [x])
    except AssertionError as error:
        print("gradcheck on a backward that forgets the slope:")
        print("  " + "\n  ".join(str(error).splitlines()))
    else:
        raise SystemExit("gradcheck did not catch the wrong backward")


# ---------------------------------------------------------------- 3. a model


class LeakyMLP(nn.Module):
    """Linear layers with a leaky ReLU between them; one logit per row."""

    def __init__(self, sizes: list[int], negative_slope: float, *, rng: Any) -> None:
        generator = np.random.default_rng(rng)
        self.layers = [
            nn.Linear(n_in, n_out, rng=generator)
            for n_in, n_out in itertools.pairwise(sizes)
        ]
        self.negative_slope = negative_slope

    def forward(self, X: Any) -> Tensor:
        out = X if isinstance(X, Tensor) else Tensor(X)
        for layer in self.layers[:-1]:
            out = layer(out).leaky_relu(self.negative_slope)
        return self.layers[-1](out).reshape(-1)

    def predict(self, X: Any) -> np.ndarray:
        with no_grad():
            return (self(X).data > 0).astype(np.int64)


def train(epochs: int) -> None:
    moons = data.moons()
    model = LeakyMLP([2, 16, 16, 1], negative_slope=0.1, rng=0)
    optimizer = optim.Adam(model.parameters(), lr=0.01)

    start = time.perf_counter()
    history = fit(
        model, moons.X_train, moons.y_train, optimizer=optimizer, epochs=epochs
    )
    seconds = time.perf_counter() - start

    train_accuracy = np.mean(model.predict(moons.X_train) == moons.y_train)
    test_accuracy = np.mean(model.predict(moons.X_test) == moons.y_test)
    print(
        f"MLP 2-16-16-1 with leaky_relu(0.1), Adam lr 0.01, {epochs} full-batch"
        f" steps in {seconds:.1f} s"
    )
    print(f"  loss            {history.loss[0]:.4f} -> {history.loss[-1]:.4f}")
    print(f"  train accuracy  {train_accuracy:.3f}")
    print(f"  test accuracy   {test_accuracy:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=50, help="Hypothesis examples per check"
    )
    parser.add_argument("--epochs", type=int, default=500, help="Adam steps")
    args = parser.parse_args()

    # No per-example time limit: a busy machine must not fail a correct op.
    settings.register_profile("example", deadline=None)
    settings.load_profile("example")
    check(args.examples)
    train(args.epochs)


if __name__ == "__main__":
    main()
