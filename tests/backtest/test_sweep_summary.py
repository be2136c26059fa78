"""A backtest sweep's summary: named for what it measured, written as summary.md and as stamped
summary.json (what `make results` renders into the docs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from statsmodels.stats.multitest import multipletests

from stockcast.backtest.summary import SweepSummary, pooled_tests, sweep_name
from stockcast.evaluation.comparison import diebold_mariano, holm_adjusted


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


def scored_report(ticker: str, dates: list[str], model: list[float], garch: list[float]) -> dict:
    """A job's backtest.json with the model and GARCH scored on `dates`, as run.score writes it."""
    scores = {"coverage": 0.8, "winkler": 1.0, "rel_mae": 1.0, "directional_accuracy": None}
    return {
        "name": "walk-forward",
        "stamp": {"date": "2026-12-06T09:00:00+00:00"},
        "ticker": ticker,
        "trained_on": [ticker],
        "days": len(dates),
        "horizon": 1,
        "methods": {"garch": scores, "model": scores | {"winkler": 0.9}},
        "tests": {
            "model_vs_garch_interval_score": {
                "statistic": -1.0,
                "p_value": 0.3,
                "mean_diff": -0.1,
                "p_holm": 0.6,
            }
        },
        "daily": {
            "dates": dates,
            "relative_interval_score": {"model": model, "garch": garch},
        },
    }


DAYS = [f"2013-01-{day:02d}" for day in range(1, 7)]


def two_tickers() -> list[dict]:
    """A scored on the first four days, B on the last four: two days shared."""
    return [
        scored_report("A", DAYS[:4], [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 3.0, 5.0]),
        scored_report("B", DAYS[2:], [2.0, 2.0, 1.0, 1.0], [1.0, 3.0, 2.0, 1.5]),
    ]


def test_the_pooled_test_averages_each_dates_loss_difference_over_the_tickers_scored_then():
    pooled = pooled_tests(two_tickers())
    # A's differences: -0.5, 0, 0, -1 on days 1-4; B's: 1, -1, -1, -0.5 on days 3-6
    by_date = np.array([-0.5, 0.0, (0.0 + 1.0) / 2, (-1.0 - 1.0) / 2, -1.0, -0.5])
    test = pooled["tests"]["model_vs_garch_interval_score"]
    expected = diebold_mariano(by_date, np.zeros(6), horizon=1)
    assert test["mean_diff"] == pytest.approx(by_date.mean())
    assert test["statistic"] == pytest.approx(expected["statistic"])
    assert test["p_value"] == pytest.approx(expected["p_value"])
    assert test["days"] == 6 and test["tickers"] == 2
    assert test["ratio"] == pytest.approx((10 + 6) / (11.5 + 7.5))  # over every (ticker, day)
    assert test["p_holm"] == test["p_value"]  # one pooled test: nothing to adjust
    assert pooled["tickers"] == ["A", "B"]
    assert pooled["model"] == {"coverage": 0.8, "rel_mae": 1.0}


def test_pooled_tests_are_holm_adjusted_across_the_references():
    reports = two_tickers()
    for report in reports:
        losses = report["daily"]["relative_interval_score"]
        losses["har"] = [value * 1.1 for value in losses["model"]]
    tests = pooled_tests(reports)["tests"]
    assert set(tests) == {"model_vs_garch_interval_score", "model_vs_har_interval_score"}
    assert tests["model_vs_har_interval_score"]["mean_diff"] < 0
    for test in tests.values():
        assert test["p_holm"] >= test["p_value"]
    smaller = min(tests.values(), key=lambda test: test["p_value"])
    assert smaller["p_holm"] == pytest.approx(min(1.0, 2 * smaller["p_value"]))


def test_the_sweeps_end_shows_the_model_against_its_references_per_ticker_and_pooled(
    tmp_path: Path,
):
    for job, report in enumerate(two_tickers()):
        (tmp_path / str(job)).mkdir()
        (tmp_path / str(job) / "backtest.json").write_text(json.dumps(report))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    SweepSummary().on_multirun_end(config)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["ticker"] for r in summary["reports"]] == ["A", "B"]
    assert all("daily" not in r for r in summary["reports"])  # they stay in each job's JSON
    assert summary["reports"][0]["versus"] == {"garch": pytest.approx(0.9)}
    assert summary["pooled"]["tests"]["model_vs_garch_interval_score"]["days"] == 6
    markdown = (tmp_path / "summary.md").read_text()
    assert "| A | 4 | 0.800 | 1.0000 | 0.900 | n/a | n/a | 0.600 | n/a | n/a |" in markdown
    assert "| pooled | 6 | 0.800 | 1.0000 | 0.842 |" in markdown


def test_holms_adjustment_equals_statsmodels_on_many_draws_ties_and_ones():
    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 10, 40):  # statsmodels collects garbage on every call: few draws
        for _ in range(3):
            p = rng.uniform(0, 1, m) ** rng.uniform(0.5, 4)
            p[rng.integers(0, m)] = p[0]  # a tie
            if m > 2:
                p[1] = 1.0
            found = holm_adjusted({str(i): {"p_value": float(v)} for i, v in enumerate(p)})
            expected = multipletests(p, method="holm")[1]
            assert [found[str(i)]["p_holm"] for i in range(m)] == pytest.approx(expected)
