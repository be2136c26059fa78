"""The scripts as a person runs them: `--help` states the limits; a user error is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def script(name: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if "error:" in line]


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("download_data.py", "1h, 90m, 30m"),
        ("summarize_runs.py", "root"),
        ("stack.py", "--run"),
        ("package_model.py", "non-debug"),
    ],
)
def test_help_works_and_states_the_limits(name, limit):
    result = script(name, "--help")
    assert result.returncode == 0 and limit in " ".join(result.stdout.split())


def test_stack_up_with_a_run_that_has_no_artifact_is_one_line(tmp_path):
    result = script("stack.py", "up", "--run", str(tmp_path))
    assert result.returncode == 2
    assert len(error_lines(result)) == 1 and "no artifact/weights.pt" in result.stderr
    assert "Traceback" not in result.stderr


def test_summarize_runs_refuses_a_wrong_path_in_one_line(tmp_path):
    result = script("summarize_runs.py", str(tmp_path / "nope"))
    assert result.returncode == 2 and len(error_lines(result)) == 1


def test_summarize_runs_lists_runs_in_numeric_order_and_the_failed_ones_after(tmp_path):
    for job in (0, 1, 2, 10, 11):
        run = tmp_path / str(job)
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(f"- model.net.hidden_size={job + 8}\n")
        (run / "metrics.json").write_text(json.dumps({"test/mae": float(job)}))
    failed = tmp_path / "3"
    failed.mkdir()
    (failed / "run.json").write_text(
        json.dumps({"status": "failed", "debug": False, "started_at": "x", "error": "bad ticker"})
    )
    result = script("summarize_runs.py", str(tmp_path))
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in table[1:]] == ["| 0", "| 1", "| 2", "| 10", "| 11"]
    assert "3: failed: bad ticker" in result.stdout
