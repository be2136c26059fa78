"""scripts/forecast_digest.py: one digest of a model's answers, the same for the same code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "forecast_digest.py"


def digest(run: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(run)], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_the_digest_covers_every_answer_and_repeats_for_the_same_code(tiny_run):
    first = digest(tiny_run)
    assert re.match(r"320 answers, sha256 [0-9a-f]{16} \(code: .*, run: .*\)$", first)
    assert digest(tiny_run) == first


def test_without_a_run_it_stops_in_one_line(tmp_path):
    script = tmp_path / "scripts" / "forecast_digest.py"
    script.parent.mkdir()
    script.write_text(SCRIPT.read_text())  # a checkout with no outputs/
    (tmp_path / "conf").symlink_to(SCRIPT.parents[1] / "conf")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: no complete run") and result.stderr.count("\n") == 1
