"""Smoke test of the benchmark runner: it runs end to end and reports numbers.

Speed is measured by ``make bench``, never asserted here.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = [
    "reference",
    "per_sample_loop",
    "large",
    "mlp",
    "tiny_op",
    "deep_chain",
    "memory",
    "bandwidth",
    "out_of_core",
]
NUMBER = r"[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?"


def run_benchmarks(*arguments: str) -> subprocess.CompletedProcess:
    """Run the runner as `make bench` does, with every warning an error."""
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "benchmarks.run", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def quick_report() -> str:
    """The stdout of one quick round, as `make bench-smoke` runs it."""
    completed = run_benchmarks("--quick", "--rounds", "1")
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def sections(report: str) -> dict[str, str]:
    """The report split into one block of text per workload, keyed by name."""
    found = re.split(r"^([a-i])\. (\w+) ", report, flags=re.MULTILINE)
    return {found[i + 1]: found[i + 2] for i in range(1, len(found) - 2, 3)}


@pytest.mark.parametrize("name", WORKLOADS)
def test_quick_run_reports_every_workload_with_a_numeric_median(
    quick_report: str, name: str
) -> None:
    block = sections(quick_report)[name]

    medians = re.findall(rf"median ({NUMBER}) ", block)
    assert medians, block
    assert all(float(value) > 0 for value in medians), block


@pytest.mark.parametrize("name", ["reference", "large", "mlp", "tiny_op"])
def test_quick_run_gives_an_engine_to_numpy_ratio(quick_report: str, name: str) -> None:
    block = sections(quick_report)[name]

    assert re.search(rf"engine / numpy per round: {NUMBER}; median {NUMBER}x", block)


def test_quick_run_prints_the_machine_and_every_target_with_a_verdict(
    quick_report: str,
) -> None:
    assert re.search(r"^ +CPU +\S", quick_report, flags=re.MULTILINE)
    assert re.search(r"^ +OPENBLAS_CORETYPE +\S", quick_report, flags=re.MULTILINE)
    verdicts = re.findall(r"\(target <= [^)]*\) +(MET|NOT MET)$", quick_report, re.M)
    assert len(verdicts) == 6, quick_report


def test_quick_run_checks_that_both_sides_agree(quick_report: str) -> None:
    differences = re.findall(
        rf"max \|difference\| [^\n]*? ({NUMBER})$", quick_report, re.M
    )

    assert len(differences) == 4, quick_report
    assert all(float(value) < 1e-9 for value in differences), differences


def test_only_runs_the_workloads_named_by_letter_or_name() -> None:
    completed = run_benchmarks(
        "--quick", "--rounds", "1", "--warmup", "0", "--only", "c,tiny_op"
    )

    assert completed.returncode == 0, completed.stderr
    assert sorted(sections(completed.stdout)) == ["large", "tiny_op"]


def test_only_rejects_an_unknown_workload_naming_the_known_ones() -> None:
    completed = run_benchmarks("--only", "nope")

    assert completed.returncode != 0
    assert re.search(
        r"unknown workload 'nope'; known: a \(reference\)", completed.stderr
    )
