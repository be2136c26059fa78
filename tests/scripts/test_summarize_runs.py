"""scripts/summarize_runs.py on sweeps written by train.py and backtest.py themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the sweeps train (debug=fast) and backtest


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def table_rows(stdout: str) -> list[list[str]]:
    """The cells of every Markdown table row, header and rule left out."""
    rows = [line for line in stdout.splitlines() if line.startswith("| ")]
    return [
        [cell.strip() for cell in row.strip("|").split("|")] for row in rows if "---" not in row
    ]


@pytest.fixture(scope="module")
def training_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model under debug=fast serves the naive forecast: its direction is null."""
    sweep = tmp_path_factory.mktemp("train_sweep")
    result = run("train.py", "-m", "debug=fast", "data.ticker=GOOG,IBM", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"scripts/summarize_runs.py {sweep}" in result.stdout  # what the sweep tells the user
    return sweep


@pytest.fixture(scope="module")
def backtest_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two backtests whose model is refit once each: every run holds its fold's training run."""
    sweep = tmp_path_factory.mktemp("backtest_sweep")
    result = run(
        "backtest.py",
        "-m",
        "data.ticker=GOOG,IBM",
        "backtest.methods=[naive,model]",
        "backtest.last_days=40",
        "backtest.refit_every=0",
        "trainer.max_epochs=1",
        "model.net.hidden_size=16",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return sweep


def test_a_training_sweep_is_summarised_with_its_band_beside_the_band_without_the_network(
    training_sweep, tmp_path
):
    stamped = tmp_path / "sweep.json"
    result = run("scripts/summarize_runs.py", str(training_sweep), "--json", str(stamped))
    assert result.returncode == 0, result.stderr
    header, *rows = table_rows(result.stdout)
    assert [row[0] for row in rows] == ["0", "1"]
    metrics = json.loads((training_sweep / "1" / "metrics.json").read_text())
    assert f"{metrics['test/mae']:.3f}" == rows[1][header.index("MAE $")]
    assert f"{metrics['test/winkler']:.5f}" == rows[1][header.index("interval score")]
    assert f"{metrics['test/no_network_winkler']:.5f}" == rows[1][header.index("no network")]
    record = json.loads(stamped.read_text())  # what the docs render the development sweep from
    assert record["name"] == "development-sweep" and len(record["runs"]) == 2
    assert record["runs"][1]["metrics"]["test/winkler"] == metrics["test/winkler"]


def test_a_backtest_sweep_gets_every_method_of_every_run_and_no_fold_rows(backtest_sweep):
    result = run("scripts/summarize_runs.py", str(backtest_sweep))
    assert result.returncode == 0, result.stderr
    header, *rows = table_rows(result.stdout)
    assert {(row[0], row[header.index("method")]) for row in rows} == {
        ("0", "naive"),
        ("0", "model"),
        ("1", "naive"),
        ("1", "model"),
    }
    report = json.loads((backtest_sweep / "1" / "backtest.json").read_text())
    model = next(row for row in rows if row[0] == "1" and row[header.index("method")] == "model")
    assert model[header.index("interval score")] == f"{report['methods']['model']['winkler']:.3f}"
    assert "folds" not in result.stdout
