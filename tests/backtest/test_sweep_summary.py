"""A backtest sweep's summary: named for what it measured, written as summary.md and as stamped
summary.json (what `make results` renders into the docs)."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from stockcast.backtest.summary import SweepSummary, sweep_name


def report(ticker: str, trained_on: list[str]) -> dict:
    scores = {"coverage": 0.8, "winkler": 1.0, "rel_mae": 1.0, "directional_accuracy": None}
    return {
        "name": "walk-forward",
        "stamp": {"date": "2026-12-06T09:00:00+00:00"},
        "ticker": ticker,
        "trained_on": trained_on,
        "days": 400,
        "methods": {"naive": scores, "garch": scores},
    }


def test_a_sweep_is_named_for_what_its_jobs_trained_on():
    assert sweep_name([report("GOOG", ["GOOG"]), report("IBM", ["IBM"])]) == (
        "walk-forward-per-ticker"
    )
    assert sweep_name([report("GOOG", ["AAPL", "IBM"]), report("IBM", ["GOOG", "AAPL"])]) == (
        "walk-forward-leave-one-out"
    )
    assert sweep_name([report("GOOG", ["GOOG", "IBM"])]) == "walk-forward"


def test_the_sweeps_end_writes_the_table_and_the_stamped_reports(tmp_path: Path):
    for job, ticker in enumerate(("GOOG", "AAPL")):
        (tmp_path / str(job)).mkdir()
        (tmp_path / str(job) / "backtest.json").write_text(json.dumps(report(ticker, [ticker])))
    callback = SweepSummary()
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    callback.on_multirun_start(config)
    callback.on_multirun_end(config)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["name"] == "walk-forward-per-ticker"
    assert [r["ticker"] for r in summary["reports"]] == ["GOOG", "AAPL"]
    assert all("stamp" not in r for r in summary["reports"])
    assert set(summary["stamp"]) >= {"commit", "dirty", "date", "cpu", "cores", "command"}
    assert "| GOOG | 400 | naive |" in (tmp_path / "summary.md").read_text()
