"""Profile the engine side of benchmark workloads with cProfile.

Usage::

    python -m benchmarks.hotspots                  # workloads a, d and e
    python -m benchmarks.hotspots mlp --top 40     # one workload, more rows
    python -m benchmarks.hotspots e --sort cumulative
    python -m benchmarks.hotspots --phases         # µs per training step, by phase

Prints, per workload, the functions with the most time spent in their own body
(``tottime``), NumPy's C functions included, so the cost of each line of the engine
can be traced to the call that pays for it. Profiling slows Python code several
times more than NumPy calls: read the shares, not the absolute times, and time any
change with ``python -m benchmarks.run``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Sequence

import numpy as np

from benchmarks.workloads import FACTORIES, NAMES, Sizes, moons_data
from tinygrad_lr import Tensor, nn, optim
from tinygrad_lr import functional as F

DEFAULT = ("reference", "mlp", "tiny_op")


def profile(name: str, top: int, sort: str, repeat: int, sizes: Sizes) -> str:
    """The cProfile table of ``repeat`` runs of the engine side of ``name``."""
    factory = FACTORIES[list(NAMES.values()).index(name)]
    workload = factory(sizes)
    try:
        engine = workload.implementations["engine"]
        engine()  # warm up: lazy imports and first-call costs are not the subject
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(repeat):
            engine()
        profiler.disable()
    finally:
        if workload.cleanup is not None:
            workload.cleanup()

    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    return f"{workload.label}. {workload.name} — {workload.title}\n{stream.getvalue()}"


PHASES = ("zero_grad", "forward", "loss", "backward", "step", "item")


def phases(model: nn.Module, optimizer: optim.Optimizer, steps: int) -> np.ndarray:
    """µs per training step spent in each of :data:`PHASES`, best of 5 passes."""
    X, y = moons_data(500)
    X_tensor, y_tensor = Tensor(X), Tensor(y)
    best = np.full(len(PHASES), np.inf)
    for _ in range(5):
        spent = np.zeros(len(PHASES))
        for _ in range(steps):
            t0 = time.perf_counter()
            optimizer.zero_grad()
            t1 = time.perf_counter()
            logits = model(X_tensor)
            t2 = time.perf_counter()
            loss = F.binary_cross_entropy_with_logits(logits, y_tensor)
            t3 = time.perf_counter()
            loss.backward()
            t4 = time.perf_counter()
            optimizer.step()
            t5 = time.perf_counter()
            loss.item()
            t6 = time.perf_counter()
            spent += np.diff([t0, t1, t2, t3, t4, t5, t6])
        best = np.minimum(best, spent)
    return best / steps * 1e6


def phase_table() -> str:
    """The phases of one step of the engine side of workloads a and d."""
    logistic = nn.LogisticRegression(2, rng=0)
    mlp = nn.MLP([2, 16, 16, 1], rng=0)
    rows = {
        "a. reference": phases(
            logistic, optim.SGD(logistic.parameters(), lr=0.1), steps=200
        ),
        "d. mlp": phases(mlp, optim.Adam(mlp.parameters(), lr=0.01), steps=200),
    }
    header = f"{'µs per step':<14}" + "".join(f"{p:>11}" for p in PHASES)
    lines = [header + f"{'total':>11}"]
    for label, spent in rows.items():
        cells = "".join(f"{value:11.1f}" for value in spent)
        lines.append(f"{label:<14}{cells}{spent.sum():11.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hotspots", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="*", default=DEFAULT, metavar="NAME")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--sort", default="tottime", help="a pstats sort key")
    parser.add_argument("--repeat", type=int, default=5, help="runs profiled")
    parser.add_argument(
        "--phases", action="store_true", help="time the phases of a step instead"
    )
    args = parser.parse_args(argv)
    if args.phases:
        print(phase_table())
        return 0

    for item in args.names:
        name = NAMES.get(item, item)
        if name not in NAMES.values():
            parser.error(f"unknown workload {item!r}; known: {sorted(NAMES.values())}")
        print(profile(name, args.top, args.sort, args.repeat, Sizes()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
