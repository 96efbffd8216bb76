"""Profile the engine side of benchmark workloads with cProfile.

Usage::

    python -m benchmarks.hotspots                  # workloads a, d and e
    python -m benchmarks.hotspots mlp --top 40     # one workload, more rows
    python -m benchmarks.hotspots e --sort cumulative

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
from collections.abc import Sequence

from benchmarks.workloads import FACTORIES, NAMES, Sizes

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hotspots", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="*", default=DEFAULT, metavar="NAME")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--sort", default="tottime", help="a pstats sort key")
    parser.add_argument("--repeat", type=int, default=5, help="runs profiled")
    args = parser.parse_args(argv)

    for item in args.names:
        name = NAMES.get(item, item)
        if name not in NAMES.values():
            parser.error(f"unknown workload {item!r}; known: {sorted(NAMES.values())}")
        print(profile(name, args.top, args.sort, args.repeat, Sizes()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
