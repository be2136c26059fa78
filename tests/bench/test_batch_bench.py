"""`python -m stockcast.bench batch`: forecast.py's batch path measured on a made-up universe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stockcast.bench", "batch", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_batch_benchmark_writes_tickers_per_second_with_a_stamp(tiny_mar, tmp_path):
    out = tmp_path / "batch.json"
    result = bench(
        "--tickers",
        "10",
        "--chunk-size",
        "4",
        "--rounds",
        "1",
        "--mar",
        str(tiny_mar),
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert record["name"] == "batch-forecast"
    assert record["stamp"]["command"].startswith("python -m stockcast.bench batch")
    assert record["settings"]["tickers"] == 10 and record["settings"]["chunk_size"] == 4
    assert record["tickers_per_s"] == record["batched"]["tickers_per_s"] > 0
    assert record["one_per_call"]["tickers_per_s"] > 0
    assert f"{record['tickers_per_s']} tickers/s" in result.stdout


def test_a_missing_archive_is_one_line(tmp_path):
    result = bench("--mar", str(tmp_path / "none.mar"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: no model at {tmp_path / 'none.mar'}: give a .mar, a model "
        "directory (weights.pt and forecaster.json) or a training run; `make package` builds "
        "model_store's archive"
    ]
