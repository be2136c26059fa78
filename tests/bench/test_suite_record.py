"""The suite records itself: `--suite-json PATH` writes what pytest's last line counts, how long
the session took and the stamp; without it nothing is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TESTS = """
import pytest

def test_passes():
    pass

def test_fails():
    assert False

@pytest.mark.skip(reason="shown as skipped")
def test_skipped():
    pass

def test_left_out():
    pass
"""


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    (folder / "test_sample.py").write_text(TESTS)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "stockcast.bench.suite_record",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(folder),
            str(folder),
            *args,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_session_writes_its_counts_duration_and_stamp(tmp_path):
    out = tmp_path / "results" / "suite.json"
    result = run_pytest(tmp_path, "-k", "not left_out", "--suite-json", str(out))
    assert result.returncode == 1, result.stdout
    record = json.loads(out.read_text())
    assert record["name"] == "suite" and record["collected"] == 4
    assert record["counts"] == {
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 1,
        "xfailed": 0,
        "xpassed": 0,
        "deselected": 1,
    }
    assert record["exit_status"] == 1 and record["duration_s"] >= 0
    assert record["stamp"]["command"].startswith("python -m pytest")


def test_nothing_is_written_without_the_option(tmp_path):
    run_pytest(tmp_path)
    assert sorted(path.name for path in tmp_path.rglob("*.json")) == []
