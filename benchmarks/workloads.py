"""The benchmark workloads: each one the same computation done by the engine and by
hand-written NumPy (:mod:`benchmarks.handwritten`).

A :class:`Workload` holds zero-argument callables, one per implementation. A
callable that returns None is timed by the runner as a whole; one that returns a
dict reports its own measurements (µs per op, GB/s, a peak in bytes...). Each
factory ``make_*`` builds its data once, outside anything that is timed.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from benchmarks import handwritten
from tinygrad_lr import Tensor, nn, optim, reference, train
from tinygrad_lr import functional as F
from tinygrad_lr.data import moons

Measure = Callable[[], "dict[str, float] | None"]


@dataclass
class Workload:
    """One benchmark: implementations timed every round, and optionally
    measurements taken once (memory peaks, which do not vary between runs).

    Attributes
    ----------
    label, name, title : str
        ``"a"``, ``"reference"`` and a one-line description.
    implementations : dict of str to callable
        Run once per round each, in alternating order. ``"numpy"`` is the baseline
        that every other implementation is divided by.
    once : dict of str to callable
        Run once, after the rounds; each returns a dict of measurements.
    units : dict of str to str
        The unit of each measurement: ``"s"``, ``"us"``, ``"GB/s"``, ``"bytes"`` or
        ``"xX"`` (a multiple of the size of X).
    repeat : int
        An implementation that reports nothing is run this many times per round
        and its best time kept.
    check : callable, optional
        Returns a line comparing the implementations' results, so a reader can see
        that both sides computed the same thing.
    notes : list of str
        Printed under the results.
    """

    label: str
    name: str
    title: str
    implementations: dict[str, Measure] = field(default_factory=dict)
    once: dict[str, Measure] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=lambda: {"time": "s"})
    repeat: int = 1
    check: Callable[[], str] | None = None
    notes: list[str] = field(default_factory=list)
    cleanup: Callable[[], None] | None = None
    facts: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- shared pieces


def engine_gradient_descent(
    model: nn.Module,
    optimizer: optim.Optimizer,
    X: np.ndarray,
    y: np.ndarray,
    steps: int,
) -> list[float]:
    """The engine's explicit training loop: zero_grad, forward, backward, step."""
    X_tensor, y_tensor = Tensor(X), Tensor(y)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X_tensor), y_tensor)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def traced_peak(function: Callable[[], Any]) -> int:
    """Peak bytes allocated while ``function`` runs, as tracemalloc sees them.

    Arrays that exist before the call are not counted. NumPy reports its data
    buffers to tracemalloc; BLAS-internal work buffers are not seen.
    """
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        function()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - baseline


def _differences(left: list[float], right: list[float]) -> float:
    return float(np.max(np.abs(np.asarray(left) - np.asarray(right))))


@lru_cache(maxsize=2)
def moons_data(n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """The training half of the reference experiment's moons (noise 0.1, seed 0)."""
    data = moons(n_train=n_train, n_test=1, noise=0.1, seed=0)
    return data.X_train, data.y_train


@lru_cache(maxsize=2)
def large_problem(n_samples: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Random X (standard normal) and labels from a random linear rule, seed 0."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features))
    w_true = rng.standard_normal(n_features)
    y = (X @ w_true + 0.5 * rng.standard_normal(n_samples) > 0).astype(np.float64)
    return X, y


@dataclass(frozen=True)
class Sizes:
    """Problem sizes; ``Sizes.quick()`` is small enough for a CI smoke run."""

    moons_samples: int = 500
    logistic_steps: int = 200
    per_sample_steps: int = 200
    large_samples: int = 200_000
    large_features: int = 100
    large_steps: int = 20
    mlp_samples: int = 500
    mlp_steps: int = 500
    tiny_op_loops: int = 20_000
    chain_length: int = 100_000
    bandwidth_repeats: int = 5
    memmap_samples: int = 2_000_000
    memmap_features: int = 20
    memmap_batch: int = 10_000

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            moons_samples=100,
            logistic_steps=10,
            per_sample_steps=2,
            large_samples=2_000,
            large_features=10,
            large_steps=3,
            mlp_samples=100,
            mlp_steps=10,
            tiny_op_loops=200,
            chain_length=1_000,
            bandwidth_repeats=2,
            memmap_samples=20_000,
            memmap_features=20,
            memmap_batch=1_000,
        )


# ---------------------------------------------------------------- a, b


def make_reference(sizes: Sizes) -> Workload:
    X, y = moons_data(sizes.moons_samples)
    steps = sizes.logistic_steps
    results: dict[str, list[float]] = {}

    def numpy_side() -> None:
        w0 = np.random.RandomState(0).rand(2)
        w, b, losses = reference.train(X, y, w0, 0.0, lr=0.1, steps=steps)
        results["numpy"] = [*w, b, losses[-2]]

    def engine_side() -> None:
        model = nn.LogisticRegression(2, rng=np.random.RandomState(0))
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        losses = engine_gradient_descent(model, optimizer, X, y, steps)
        results["engine"] = [*model.weight.data, float(model.bias.data), losses[-1]]

    def check() -> str:
        return (
            f"last loss numpy {results['numpy'][-1]:.6f}, engine"
            f" {results['engine'][-1]:.6f}; max |difference| of w, b and loss"
            f" {_differences(results['numpy'], results['engine']):.1e}"
        )

    return Workload(
        "a",
        "reference",
        f"reference experiment: {len(y)}x2 moons, {steps} full-batch GD steps, lr 0.1"
        " (numpy = tinygrad_lr.reference.train)",
        {"numpy": numpy_side, "engine": engine_side},
        repeat=5,
        check=check,
        notes=[
            "Time: the best of 5 runs in each round."
            " reference.train evaluates the loss in a separate forward pass, so it"
            " reads X three times a step; the engine reads it twice."
        ],
    )


def make_per_sample_loop(sizes: Sizes) -> Workload:
    X, y = moons_data(sizes.moons_samples)
    steps = sizes.per_sample_steps
    results: dict[str, list[float]] = {}

    def numpy_side() -> None:
        w0 = np.random.RandomState(0).rand(2)
        w, b, losses = reference.train(X, y, w0, 0.0, lr=0.1, steps=steps)
        results["numpy"] = [*w, b, losses[-2]]

    def per_sample() -> None:
        w0 = np.random.RandomState(0).rand(2)
        w, b, losses = handwritten.train_logistic_per_sample(
            X, y, w0, 0.0, lr=0.1, steps=steps
        )
        results["per_sample"] = [*w, b, losses[-1]]

    def check() -> str:
        difference = _differences(results["numpy"], results["per_sample"])
        return f"max |difference| of w, b and last loss {difference:.1e}"

    return Workload(
        "b",
        "per_sample_loop",
        f"the same experiment ({steps} steps) as the tutorial's per-sample Python"
        " loop, against the vectorized reference.train",
        {"numpy": numpy_side, "per_sample": per_sample},
        check=check,
    )


# ---------------------------------------------------------------- c, g, h


def make_large(sizes: Sizes) -> Workload:
    X, y = large_problem(sizes.large_samples, sizes.large_features)
    steps = sizes.large_steps
    w0 = nn.LogisticRegression(X.shape[1], rng=0).weight.data.copy()
    results: dict[str, list[float]] = {}

    def numpy_side() -> None:
        w, b, losses = handwritten.train_logistic(X, y, w0, 0.0, lr=0.1, steps=steps)
        results["numpy"] = [*w, b, losses[-1]]

    def engine_side() -> None:
        model = nn.LogisticRegression(X.shape[1], rng=0)
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        losses = engine_gradient_descent(model, optimizer, X, y, steps)
        results["engine"] = [*model.weight.data, float(model.bias.data), losses[-1]]

    def check() -> str:
        return (
            f"last loss numpy {results['numpy'][-1]:.6f}, engine"
            f" {results['engine'][-1]:.6f}; max |difference| of w, b and loss"
            f" {_differences(results['numpy'], results['engine']):.1e}"
        )

    n, d = X.shape
    return Workload(
        "c",
        "large",
        f"{n:_}x{d} float64 ({X.nbytes / 1e6:.0f} MB), {steps} full-batch GD steps"
        " of logistic regression",
        {"numpy": numpy_side, "engine": engine_side},
        check=check,
        facts={"bytes_read": 2.0 * X.nbytes * steps},
    )


def make_memory(sizes: Sizes) -> Workload:
    X, y = large_problem(sizes.large_samples, sizes.large_features)
    steps = sizes.large_steps
    w0 = nn.LogisticRegression(X.shape[1], rng=0).weight.data.copy()

    def numpy_side() -> dict[str, float]:
        peak = traced_peak(
            lambda: handwritten.train_logistic(X, y, w0, 0.0, lr=0.1, steps=steps)
        )
        return {"peak": peak / X.nbytes}

    def engine_side() -> dict[str, float]:
        def loop() -> None:
            model = nn.LogisticRegression(X.shape[1], rng=0)
            optimizer = optim.SGD(model.parameters(), lr=0.1)
            engine_gradient_descent(model, optimizer, X, y, steps)

        return {"peak": traced_peak(loop) / X.nbytes}

    n, d = X.shape
    return Workload(
        "g",
        "memory",
        f"tracemalloc peak of the {n:_}x{d} training loop, X and y excluded, as a"
        f" multiple of the size of X ({X.nbytes / 1e6:.0f} MB)",
        once={"numpy": numpy_side, "engine": engine_side},
        units={"peak": "xX"},
        notes=["Measured once: allocation peaks do not vary between runs."],
    )


def make_bandwidth(sizes: Sizes) -> Workload:
    X, _ = large_problem(sizes.large_samples, sizes.large_features)
    vector = np.ones(X.shape[1])
    residual = np.ones(X.shape[0])
    repeats = sizes.bandwidth_repeats

    def best_rate(function: Callable[[], Any]) -> float:
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            best = min(best, time.perf_counter() - start)
        return X.nbytes / best / 1e9

    def numpy_side() -> dict[str, float]:
        return {
            "np.sum(X)": best_rate(lambda: np.sum(X)),
            "X @ v": best_rate(lambda: X @ vector),
            "X.T @ r": best_rate(lambda: X.T @ residual),
        }

    return Workload(
        "h",
        "bandwidth",
        f"read bandwidth: best of {repeats} passes of np.sum(X), X @ v and X.T @ r"
        f" over the {X.nbytes / 1e6:.0f} MB X of workload c",
        {"numpy": numpy_side},
        units={"np.sum(X)": "GB/s", "X @ v": "GB/s", "X.T @ r": "GB/s"},
        notes=[
            "X @ v and X.T @ r are the two reads of X in each step of c; the"
            " bandwidth floor uses the fastest of the three."
        ],
    )


# ---------------------------------------------------------------- d


def make_mlp(sizes: Sizes) -> Workload:
    X, y = moons_data(sizes.mlp_samples)
    steps = sizes.mlp_steps
    lr = 0.01
    initial = [p.data.copy() for p in nn.MLP([2, 16, 16, 1], rng=0).parameters()]
    results: dict[str, list[float]] = {}

    def numpy_side() -> None:
        params, losses = handwritten.train_mlp_adam(initial, X, y, lr=lr, steps=steps)
        results["numpy"] = [*np.concatenate([p.ravel() for p in params]), losses[-1]]

    def engine_side() -> None:
        model = nn.MLP([2, 16, 16, 1], rng=0)
        optimizer = optim.Adam(model.parameters(), lr=lr)
        losses = engine_gradient_descent(model, optimizer, X, y, steps)
        flat = np.concatenate([p.data.ravel() for p in model.parameters()])
        results["engine"] = [*flat, losses[-1]]

    def check() -> str:
        return (
            f"last loss numpy {results['numpy'][-1]:.6f}, engine"
            f" {results['engine'][-1]:.6f}; max |difference| of parameters and loss"
            f" {_differences(results['numpy'], results['engine']):.1e}"
        )

    return Workload(
        "d",
        "mlp",
        f"MLP 2-16-16-1 tanh, {steps} full-batch Adam steps (lr {lr}) on {len(y)}"
        " moons samples",
        {"numpy": numpy_side, "engine": engine_side},
        repeat=2,
        check=check,
        notes=["Time: the best of 2 runs in each round."],
    )


# ---------------------------------------------------------------- e, f


def make_tiny_op(sizes: Sizes) -> Workload:
    loops = sizes.tiny_op_loops
    a, b = np.array([1.5]), np.array([2.0])
    g = np.ones(1)
    x = Tensor(a.copy(), requires_grad=True)
    w = Tensor(b.copy(), requires_grad=True)

    def microseconds(body: Callable[[int], float]) -> float:
        # timeit-style: the best of three loops, in µs per iteration.
        return min(body(loops) for _ in range(3)) / loops * 1e6

    def numpy_forward(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            a * b
        return time.perf_counter() - start

    def numpy_both(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            a * b
            g * b
            g * a
        return time.perf_counter() - start

    def engine_forward(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            x * w
        return time.perf_counter() - start

    def engine_both(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            x.grad = w.grad = None
            (x * w).backward()
        return time.perf_counter() - start

    def numpy_side() -> dict[str, float]:
        return {
            "forward": microseconds(numpy_forward),
            "forward+backward": microseconds(numpy_both),
        }

    def engine_side() -> dict[str, float]:
        return {
            "forward": microseconds(engine_forward),
            "forward+backward": microseconds(engine_both),
        }

    return Workload(
        "e",
        "tiny_op",
        "x * y on 1-element float64 arrays that require grad, forward and then"
        f" backward, µs per op (best of 3 loops of {loops:_})",
        {"numpy": numpy_side, "engine": engine_side},
        units={"forward": "us", "forward+backward": "us"},
        notes=[
            "numpy forward+backward = z = x*y; gx = g*y; gy = g*x with g = 1 made"
            " once. The engine loop also clears x.grad and y.grad, as zero_grad would."
        ],
    )


def make_deep_chain(sizes: Sizes) -> Workload:
    length = sizes.chain_length
    factor = 1.0001
    results: dict[str, float] = {}

    def numpy_side() -> dict[str, float]:
        start = time.perf_counter()
        value = np.ones(1)
        for _ in range(length):
            value = value * factor
        middle = time.perf_counter()
        grad = np.ones(1)
        for _ in range(length):
            grad = grad * factor
        end = time.perf_counter()
        results["numpy"] = float(grad[0])
        return {"forward": middle - start, "backward": end - middle}

    def engine_side() -> dict[str, float]:
        start = time.perf_counter()
        x = Tensor(np.ones(1), requires_grad=True)
        out = x
        for _ in range(length):
            out = out * factor
        middle = time.perf_counter()
        out.backward()
        end = time.perf_counter()
        results["engine"] = float(x.grad[0]) if x.grad is not None else np.nan
        del out
        return {"forward": middle - start, "backward": end - middle}

    def check() -> str:
        return (
            f"gradient numpy {results['numpy']:.10g}, engine {results['engine']:.10g}"
            f" (exact {factor**length:.10g})"
        )

    return Workload(
        "f",
        "deep_chain",
        f"a chain of {length:_} ops x = x * {factor} on a 1-element array: forward,"
        " then backward",
        {"numpy": numpy_side, "engine": engine_side},
        units={"forward": "s", "backward": "s"},
        check=check,
        notes=[
            "numpy backward = the same number of g = g * factor multiplications,"
            " the least any tape could do."
        ],
    )


# ---------------------------------------------------------------- i


def _write_memmap(
    path: str, n_samples: int, n_features: int
) -> tuple[np.memmap, np.ndarray]:
    """Fill a float64 memmap with standard normal rows, chunk by chunk, and return
    it opened read-only with labels from a random linear rule."""
    rng = np.random.default_rng(1)
    w_true = rng.standard_normal(n_features)
    X = np.memmap(path, dtype=np.float64, mode="w+", shape=(n_samples, n_features))
    y = np.empty(n_samples)
    chunk = 250_000
    for start in range(0, n_samples, chunk):
        block = rng.standard_normal((min(chunk, n_samples - start), n_features))
        X[start : start + len(block)] = block
        y[start : start + len(block)] = block @ w_true > 0
    X.flush()
    del X
    return np.memmap(path, dtype=np.float64, mode="r", shape=(n_samples, n_features)), y


def make_out_of_core(sizes: Sizes) -> Workload:
    directory = tempfile.mkdtemp(prefix="tinygrad_lr_bench_")
    try:
        X, y = _write_memmap(
            os.path.join(directory, "X.float64"),
            sizes.memmap_samples,
            sizes.memmap_features,
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    batch_size = sizes.memmap_batch
    w0 = nn.LogisticRegression(X.shape[1], rng=0).weight.data.copy()
    results: dict[str, float] = {}

    def numpy_run() -> None:
        _, _, losses = handwritten.train_logistic_minibatch(
            X, y, w0, 0.0, lr=0.1, batch_size=batch_size, rng=np.random.default_rng(0)
        )
        results["numpy"] = float(np.mean(losses))

    def engine_run() -> None:
        model = nn.LogisticRegression(X.shape[1], rng=0)
        history = train.fit(
            model,
            X,
            y,
            optimizer=optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            batch_size=batch_size,
            rng=0,
            progress=False,
        )
        results["engine"] = history.loss[0]

    def cleanup() -> None:
        shutil.rmtree(directory, ignore_errors=True)

    def check() -> str:
        return (
            f"epoch loss numpy {results['numpy']:.6f}, engine {results['engine']:.6f}"
        )

    file_bytes = X.nbytes
    batch_bytes = batch_size * X.shape[1] * X.itemsize
    return Workload(
        "i",
        "out_of_core",
        f"train.fit, 1 epoch, batch_size {batch_size:_} on a {file_bytes / 1e6:.0f} MB"
        f" np.memmap ({X.shape[0]:_}x{X.shape[1]} float64; a batch is"
        f" {batch_bytes / 1e6:.1f} MB)",
        {"numpy": numpy_run, "engine": engine_run},
        once={
            "numpy": lambda: {"peak": float(traced_peak(numpy_run))},
            "engine": lambda: {"peak": float(traced_peak(engine_run))},
        },
        units={"time": "s", "peak": "bytes"},
        check=check,
        cleanup=cleanup,
        facts={"file_bytes": file_bytes, "batch_bytes": batch_bytes},
        notes=[
            "The file is in the page cache (just written), so this measures the"
            " loop, not the disk. Peaks exclude y, which lives in memory.",
            f"A shuffled epoch holds a permutation of all {X.shape[0]:_} row"
            f" indices: {X.shape[0] * 8 / 1e6:.0f} MB of int64, on both sides.",
        ],
    )


FACTORIES: list[Callable[[Sizes], Workload]] = [
    make_reference,
    make_per_sample_loop,
    make_large,
    make_mlp,
    make_tiny_op,
    make_deep_chain,
    make_memory,
    make_bandwidth,
    make_out_of_core,
]
"""In report order; their labels are a to i."""

NAMES = {
    "a": "reference",
    "b": "per_sample_loop",
    "c": "large",
    "d": "mlp",
    "e": "tiny_op",
    "f": "deep_chain",
    "g": "memory",
    "h": "bandwidth",
    "i": "out_of_core",
}
