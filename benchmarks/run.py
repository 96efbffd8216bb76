"""Run the benchmarks: tinygrad_lr against hand-written NumPy, in one process.

Usage::

    python -m benchmarks.run                 # every workload, default rounds
    python -m benchmarks.run --rounds 3 --only reference --only mlp
    python -m benchmarks.run --rounds 1 --quick    # tiny sizes, a smoke run

Each round runs every implementation of every workload once, numpy first in even
rounds and last in odd ones, so that slow drifts of the machine (frequency, other
processes) hit both sides alike. The report gives, per measurement, the median and
min-max over rounds, the ratio to NumPy of each round and the median ratio. The
targets at the end are information, not assertions.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.workloads import FACTORIES, NAMES, Measure, Sizes, Workload

DEFAULT_ROUNDS = 15

# results[workload name][implementation][measurement] = one value per round
Results = dict[str, dict[str, dict[str, list[float]]]]


# ---------------------------------------------------------------- machine facts


def machine_facts() -> list[tuple[str, str]]:
    """CPU, cores, Python, NumPy, BLAS and the BLAS-related environment."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    facts = [
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} logical, {usable} usable by this process"),
        ("Python", f"{platform.python_version()} ({platform.platform()})"),
        ("numpy", np.__version__),
        ("BLAS", _blas()),
        ("tinygrad_lr", _engine_version()),
    ]
    if hasattr(os, "getloadavg"):
        facts.append(("load average", load_average()))
    for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        facts.append((variable, os.environ.get(variable, "(unset)")))
    return facts


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine makes the
    timings noisy, and this says how much there was."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def _engine_version() -> str:
    """The git commit of the engine being measured, and whether its files have
    uncommitted changes; "unknown" outside a git checkout."""
    import tinygrad_lr

    package = os.path.dirname(os.path.abspath(tinygrad_lr.__file__))
    try:
        commit = subprocess.run(
            ["git", "-C", package, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", package, "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"{tinygrad_lr.__version__} (commit unknown)"
    dirty = " with uncommitted changes" if changes else ""
    return f"{tinygrad_lr.__version__}, commit {commit}{dirty}"


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        found = [
            f"{info.get('internal_api')} {info.get('version')}"
            f" ({info.get('architecture')}, {info.get('num_threads')} threads,"
            f" {info.get('threading_layer')})"
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        ]
        if found:
            return "; ".join(found)
    try:
        config: Any = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (from np.show_config)"
    except (TypeError, KeyError, AttributeError):
        return "unknown"


# ---------------------------------------------------------------- running


def run(workloads: Sequence[Workload], rounds: int, warmup: int = 1) -> Results:
    """Time every implementation of every workload once per round, interleaved.

    ``warmup`` untimed rounds come first: the first run of a workload pays for
    page faults, caches and lazy imports that later runs do not.
    """
    for round_index in range(warmup):
        _progress(f"warm-up round {round_index + 1}/{warmup}")
        for workload in workloads:
            for function in workload.implementations.values():
                function()

    results: Results = {
        w.name: {impl: {} for impl in [*w.implementations, *w.once]} for w in workloads
    }
    for round_index in range(rounds):
        _progress(f"round {round_index + 1}/{rounds}")
        for workload in workloads:
            order = list(workload.implementations.items())
            if round_index % 2 == 1:
                order.reverse()
            for impl, function in order:
                for key, value in measure(function, workload.repeat).items():
                    results[workload.name][impl].setdefault(key, []).append(value)

    for workload in workloads:
        for impl, function in workload.once.items():
            _progress(f"{workload.name}: {impl} (measured once)")
            for key, value in (function() or {}).items():
                results[workload.name][impl].setdefault(key, []).append(value)
    return results


def measure(function: Measure, repeat: int) -> dict[str, float]:
    """Run ``function``; a function that reports nothing is timed, as the best of
    ``repeat`` runs (short workloads are otherwise at the mercy of a single
    scheduler hiccup)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        measured = function()
        elapsed = time.perf_counter() - start
        if measured is not None:
            return measured
        best = min(best, elapsed)
    return {"time": best}


def _progress(message: str) -> None:
    sys.stderr.write(f"  ... {message}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- reporting


def format_value(value: float, unit: str) -> str:
    """A number with its unit, at about three significant digits."""
    if unit == "s":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= scale or scale == 1e-6:
                return f"{value / scale:.3g} {suffix}"
    if unit == "us":
        return f"{value:.3g} µs"
    if unit == "bytes":
        return f"{value / 1e6:.3g} MB"
    if unit == "xX":
        return f"{value:.3g} of X"
    return f"{value:.3g} {unit}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratios(results: Results, workload: str, impl: str, key: str) -> list[float]:
    """Per-round ratios of ``impl`` to numpy for one measurement (empty if none)."""
    mine = results[workload].get(impl, {}).get(key, [])
    base = results[workload].get("numpy", {}).get(key, [])
    if impl == "numpy" or not mine or len(mine) != len(base):
        return []
    return [a / b if b else float("nan") for a, b in zip(mine, base, strict=True)]


def report_workload(workload: Workload, results: Results) -> list[str]:
    lines = [f"{workload.label}. {workload.name} — {workload.title}"]
    if workload.check is not None:
        lines.append(f"   check: {workload.check()}")
    measured = results[workload.name]
    keys = list(dict.fromkeys(k for impl in measured.values() for k in impl))
    for key in keys:
        unit = workload.units.get(key, "s")
        lines.append(f"   {key}:")
        for impl, values in measured.items():
            if key not in values:
                continue
            series = values[key]
            spread = (
                f" (min-max {format_value(min(series), unit)}"
                f" - {format_value(max(series), unit)}, {len(series)} rounds)"
                if len(series) > 1
                else ""
            )
            lines.append(
                f"     {impl:<11} median {format_value(median(series), unit)}{spread}"
            )
        for impl in measured:
            per_round = ratios(results, workload.name, impl, key)
            if per_round:
                shown = " ".join(f"{r:.2f}" for r in per_round)
                minima = min(measured[impl][key]) / min(measured["numpy"][key])
                robust = (
                    f" (ratio of the minima {minima:.2f}x)"
                    if len(per_round) > 1
                    else ""
                )
                lines.append(
                    f"     {impl} / numpy per round: {shown}; median"
                    f" {median(per_round):.2f}x{robust}"
                )
    lines.extend(f"   note: {note}" for note in workload.notes)
    return lines


def bandwidth(results: Results) -> float:
    """Read bandwidth in GB/s: the median over rounds of the fastest way of
    reading X."""
    per_round = zip(*results["bandwidth"]["numpy"].values(), strict=True)
    return median([max(rates) for rates in per_round])


def bandwidth_floor(workloads: dict[str, Workload], results: Results) -> float:
    """Seconds that workload c would take if reading X were all it did."""
    return workloads["large"].facts["bytes_read"] / (bandwidth(results) * 1e9)


def derived(workloads: dict[str, Workload], results: Results) -> list[str]:
    """Figures that combine workloads: case c against the bandwidth floor, and the
    out-of-core peak against the batch and the file."""
    lines = []
    if "large" in workloads and "bandwidth" in workloads:
        floor = bandwidth_floor(workloads, results)
        lines.append(
            "c vs h: bandwidth floor of c = (X read twice per step x steps) /"
            f" {bandwidth(results):.3g} GB/s = {format_value(floor, 's')}"
        )
        for impl, values in results["large"].items():
            times = values["time"]
            lines.append(
                f"     {impl:<11} median {format_value(median(times), 's')}"
                f" = {median(times) / floor:.2f}x the floor;"
                f" min {format_value(min(times), 's')} = {min(times) / floor:.2f}x"
            )
    if "out_of_core" in workloads:
        facts = workloads["out_of_core"].facts
        for impl, values in results["out_of_core"].items():
            if "peak" in values:
                peak = values["peak"][0]
                lines.append(
                    f"i: {impl:<7} peak {format_value(peak, 'bytes')} ="
                    f" {peak / facts['batch_bytes']:.1f}x a batch,"
                    f" {peak / facts['file_bytes']:.3f}x the file"
                )
    return lines


def summary(workloads: Sequence[Workload], results: Results) -> list[str]:
    """One Markdown row per measurement: medians and the median ratio to numpy."""
    lines = [
        "| workload | measurement | numpy | other | other / numpy: median"
        " (ratio of minima) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for workload in workloads:
        measured = results[workload.name]
        keys = list(dict.fromkeys(k for impl in measured.values() for k in impl))
        for key in keys:
            unit = workload.units.get(key, "s")
            base = measured.get("numpy", {}).get(key)
            for impl, values in measured.items():
                if impl == "numpy" or key not in values:
                    continue
                per_round = ratios(results, workload.name, impl, key)
                ratio = f"{median(per_round):.2f}x" if per_round else ""
                if per_round and base and len(per_round) > 1:
                    ratio += f" ({min(values[key]) / min(base):.2f}x)"
                numpy_value = format_value(median(base), unit) if base else ""
                lines.append(
                    f"| {workload.label}. {workload.name} | {key} | {numpy_value} |"
                    f" {impl} {format_value(median(values[key]), unit)} | {ratio} |"
                )
            if set(measured) == {"numpy"} and base:
                value = format_value(median(base), unit)
                lines.append(
                    f"| {workload.label}. {workload.name} | {key} | {value} | | |"
                )
    return lines


def targets(workloads: dict[str, Workload], results: Results) -> list[str]:
    """Each target whose workloads ran, with its measured value and MET / NOT MET."""

    def engine_ratio(name: str) -> float:
        return median(ratios(results, name, "engine", "time"))

    def floor_ratio() -> float:
        engine = median(results["large"]["engine"]["time"])
        return engine / bandwidth_floor(workloads, results)

    def tiny_op() -> float:
        return median(results["tiny_op"]["engine"]["forward+backward"])

    def memory() -> float:
        return 1.0 + results["memory"]["engine"]["peak"][0]

    # (workloads needed, label, measured value, limit, unit)
    table: list[tuple[tuple[str, ...], str, Callable[[], float], float, str]] = [
        (
            ("reference",),
            "a. reference experiment, engine / numpy",
            lambda: engine_ratio("reference"),
            1.3,
            "x",
        ),
        (("mlp",), "d. MLP, engine / numpy", lambda: engine_ratio("mlp"), 1.2, "x"),
        (
            ("large",),
            "c. large logistic regression, engine / numpy",
            lambda: engine_ratio("large"),
            1.0,
            "x",
        ),
        (
            ("large", "bandwidth"),
            "c. large logistic regression, engine / bandwidth floor",
            floor_ratio,
            1.3,
            "x",
        ),
        (("tiny_op",), "e. tiny op forward+backward, engine", tiny_op, 1.5, " µs"),
        (
            ("memory",),
            "g. memory of c, engine, X + peak as a multiple of X",
            memory,
            1.2,
            "x",
        ),
    ]

    lines = []
    for needed, label, value_of, limit, unit in table:
        if not all(name in workloads for name in needed):
            continue
        value = value_of()
        verdict = "MET" if value <= limit else "NOT MET"
        lines.append(
            f"   {label:<56} {value:8.3g}{unit} (target <= {limit:g}{unit})  {verdict}"
        )
    return lines


# ---------------------------------------------------------------- command line


def select(only: Sequence[str] | None) -> list[Callable[[Sizes], Workload]]:
    """The factories of the workloads named in ``--only`` (all without it)."""
    if not only:
        return list(FACTORIES)
    wanted = set()
    names = set(NAMES.values())
    for item in only:
        for part in item.split(","):
            name = NAMES.get(part.strip(), part.strip())
            if name not in names:
                known = ", ".join(f"{label} ({n})" for label, n in NAMES.items())
                raise SystemExit(f"--only: unknown workload {part!r}; known: {known}")
            wanted.add(name)
    return [
        f for f, name in zip(FACTORIES, NAMES.values(), strict=True) if name in wanted
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help=f"default {DEFAULT_ROUNDS}"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed rounds first (default 1)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="a workload name or letter (repeatable, or comma separated)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")

    started = time.perf_counter()
    sizes = Sizes.quick() if args.quick else Sizes()
    print("tinygrad_lr benchmarks: engine against hand-written NumPy, same process")
    for name, value in machine_facts():
        print(f"   {name:<21} {value}")
    sizes_note = " (quick sizes)" if args.quick else ""
    print(f"   {'rounds':<21} {args.rounds} after {args.warmup} warm-up{sizes_note}")
    print()

    workloads: list[Workload] = []
    try:
        for factory in select(args.only):
            workloads.append(factory(sizes))
        results = run(workloads, args.rounds, args.warmup)

        by_name = {w.name: w for w in workloads}
        for workload in workloads:
            print("\n".join(report_workload(workload, results)))
            print()
        extra = derived(by_name, results)
        if extra:
            print("\n".join(extra))
            print()
        print("summary (medians over rounds):")
        print("\n".join(summary(workloads, results)))
        print()
        goals = targets(by_name, results)
        if goals:
            print("targets (information, not assertions):")
            print("\n".join(goals))
            print()
    finally:
        for workload in workloads:
            if workload.cleanup is not None:
                workload.cleanup()
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {load_average()}")
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
