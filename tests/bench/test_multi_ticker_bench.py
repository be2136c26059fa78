"""The multi-ticker measurement runs end to end, in process, on a few tickers."""

from __future__ import annotations

from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.bench.multi_ticker import measure, summary, ticker_rows
from stockcast.model.forecaster import Forecaster
from stockcast.serving.service import answer_batch

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[2])


def test_three_tickers_together_and_alone_give_sane_figures(tiny_run: Path):
    forecaster = Forecaster.load(tiny_run / "artifact")

    def post(body: bytes) -> tuple[int, dict]:
        [outcome] = answer_batch(forecaster, [({"body": body}, "text/csv")])
        return outcome.status, outcome.body

    series = ticker_rows(LAYOUT.data_dir, tickers=3, rows=60)
    figures = measure(post, series, repetitions=2)

    assert (figures["tickers"], figures["rows_per_ticker"], figures["repetitions"]) == (3, 60, 2)
    assert figures["all_answered"] and figures["same_forecasts"]
    assert all(len(ms) == 2 for ms in figures["repetitions_ms_per_ticker"].values())
    assert figures["ms_per_ticker"]["together"] > 0 and figures["ms_per_ticker"]["alone"] > 0
    assert "3 tickers of 60 rows" in summary(figures)
