"""The backtest's scoring of every method on the same days: the model tested against each
reference with Holm-adjusted p-values, and the per-day losses a sweep pools across tickers.
Bands are the real references on the bundled GOOG bars; no model is trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.backtest.run import score
from stockcast.evaluation.comparison import interval_score
from stockcast.evaluation.references import Band, ewma_band, garch_band, har_band, naive_band
from stockcast.inputs.validation import read_price_table

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "GOOG.csv"
OHLCV = ["Open", "High", "Low", "Close", "Volume"]


@pytest.fixture(scope="module")
def scored() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[str, Band]]:
    """GOOG's last 300 days scored by every reference, a `no_network` stand-in (the EWMA band
    under that name) and a `model` (the HAR band 5% narrower)."""
    frame = read_price_table(SAMPLE).frame
    ohlcv = frame[OHLCV].to_numpy(np.float64)
    closes = ohlcv[:, 3]
    origins = np.arange(closes.size - 301, closes.size - 1)
    bands = {
        "naive": naive_band(closes, origins, 1),
        "ewma": ewma_band(closes, origins, 1),
        "garch": garch_band(closes, origins, 1),
        "har": har_band(ohlcv, origins, 1),
    }
    ewma = bands["ewma"]
    bands["no_network"] = Band("no_network", 0.8, ewma.point, ewma.lower, ewma.upper)
    har = bands["har"]
    lower, upper = (har.point + 0.95 * (edge - har.point) for edge in (har.lower, har.upper))
    bands["model"] = Band("model", 0.8, har.point, lower, upper)
    return frame, closes, origins, bands


def holm_by_hand(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment as its definition reads: the i-th smallest p times (m - i + 1),
    never below the one before it, capped at 1; returned in the input's order."""
    m = len(p_values)
    order = np.argsort(p_values)
    adjusted, running = np.empty(m), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def test_the_model_is_tested_against_each_reference_with_holm_p_values_across_the_table(scored):
    report = score(*scored[:3], 1, scored[3])
    tests = report["tests"]
    # the model's point is the last close: the naive point test is void and left out
    assert list(tests) == [
        "model_vs_garch_interval_score",
        "model_vs_ewma_interval_score",
        "model_vs_naive_interval_score",
        "model_vs_har_interval_score",
        "model_vs_no_network_interval_score",
    ]
    raw = [test["p_value"] for test in tests.values()]
    holm = [test["p_holm"] for test in tests.values()]
    assert all(h >= p for h, p in zip(holm, raw, strict=True))
    np.testing.assert_allclose(holm, holm_by_hand(raw), rtol=1e-12)
    by_raw = np.argsort(raw)  # the adjusted values keep the raw ones' order
    assert np.all(np.diff(np.asarray(holm)[by_raw]) >= 0)
    # a band 5% narrower than HAR's on the same days: a lower interval score, clearly
    assert tests["model_vs_har_interval_score"]["mean_diff"] < 0


def test_without_the_model_there_is_nothing_to_test(scored):
    frame, closes, origins, bands = scored
    references = {name: band for name, band in bands.items() if name != "model"}
    assert score(frame, closes, origins, 1, references)["tests"] == {}


def test_each_methods_per_day_interval_score_is_kept_relative_to_the_last_close(scored):
    frame, closes, origins, bands = scored
    report = score(frame, closes, origins, 1, bands)
    daily = report["daily"]
    assert daily["dates"][0] == report["first_day"] and daily["dates"][-1] == report["last_day"]
    assert daily["dates"] == [d.date().isoformat() for d in frame["Date"].iloc[origins + 1]]
    assert set(daily["relative_interval_score"]) == set(bands)
    har = bands["har"]
    expected = interval_score(closes[origins + 1], har.lower[:, 0], har.upper[:, 0], 0.2)
    np.testing.assert_allclose(
        daily["relative_interval_score"]["har"], expected / closes[origins], rtol=1e-12
    )
    assert np.mean(expected) == pytest.approx(report["methods"]["har"]["winkler"])
