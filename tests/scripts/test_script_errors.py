"""Every script ends a user error the same way (stockcast.app.script): one line, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "argv",
    [
        ["package_model.py", "{run}"],
        ["forecast_digest.py", "{run}"],
        ["stack.py", "up", "--run", "{run}"],
    ],
)
def test_a_run_without_an_artifact_is_one_line_and_status_2(tmp_path, argv):
    script, *args = argv
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *(a.format(run=tmp_path) for a in args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert str(tmp_path) in result.stderr and "artifact" in result.stderr
