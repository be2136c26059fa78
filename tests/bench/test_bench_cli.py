"""`python -m stockcast.bench` as a person runs it: every subcommand's help, the one-line refusals
before anything starts, and the training benchmark's stamped JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stockcast.bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if "error:" in line]


@pytest.mark.parametrize(
    ("command", "limit"),
    [
        ("serving", "--rounds"),
        ("serving", "--baseline-mar"),
        ("training", "--hidden-size"),
        ("soak", "at least 30"),
        ("soak", "the warm-up's do not count"),
    ],
)
def test_help_works_and_states_the_options(command, limit):
    result = bench(command, "--help")
    assert result.returncode == 0 and limit in " ".join(result.stdout.split())


def test_a_soak_shorter_than_three_windows_is_refused_before_torchserve_starts():
    result = bench("soak", "--duration", "20")
    assert result.returncode == 2
    assert error_lines(result) == [
        "python -m stockcast.bench soak: error: --duration 20 is under 30 s"
    ]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_soak_without_an_archive_says_how_to_build_one(tmp_path):
    result = bench("soak", "--mar", str(tmp_path / "none.mar"))
    assert result.returncode == 2 and len(error_lines(result)) == 1
    assert "make package" in result.stderr and "Traceback" not in result.stderr


def test_a_serving_benchmark_of_no_rounds_is_one_line():
    result = bench("serving", "--rounds", "0")
    assert result.returncode == 2
    assert error_lines(result) == ["error: --duration and --rounds must be at least 1"]


def test_no_subcommand_is_a_usage_error():
    result = bench()
    assert result.returncode == 2 and "serving|training|soak" in result.stderr


@pytest.mark.slow
def test_the_training_benchmark_writes_its_figures_with_a_stamp(tmp_path):
    out = tmp_path / "training.json"
    result = bench(
        "training", "--steps", "20", "--rounds", "2", "--hidden-size", "8", "--json", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("round ")] == [
        line for line in result.stdout.splitlines() if line.startswith(("round 1/2", "round 2/2"))
    ]
    record = json.loads(out.read_text())
    assert record["name"] == "training-overhead"
    assert record["stamp"]["command"].startswith("python -m stockcast.bench training")
    assert record["stamp"]["cores"] >= 1 and record["stamp"]["cpu"]
    assert len(record["per_round"]) == 2
    assert record["ratio"] == pytest.approx(
        record["bare_windows_per_s"] / record["lightning_windows_per_s"]
    )
