"""The served band calibrates itself on the upload: its quantile comes from the upload's recent moves
in units of the band's scale (the no-network scale times the network's factor), blended with the
stored one, and short uploads fall back to it. The response says how the band was made."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from stockcast.app.layout import ProjectLayout
from stockcast.inputs.validation import read_ohlcv_csv
from stockcast.model.calibration import (
    MIN_SELF_ROWS,
    Calibration,
    conformal_quantile,
)
from stockcast.model.features import compute_features
from stockcast.model.forecaster import Forecaster
from stockcast.model.windows import sliding_windows

LAYOUT = ProjectLayout.find(__file__)


@pytest.fixture(scope="module")
def forecaster(tiny_run) -> Forecaster:
    return Forecaster.load(tiny_run / "artifact")


@pytest.fixture(scope="module")
def year() -> object:
    """The sample's last 250 rows: what a user typically uploads."""
    return read_ohlcv_csv(LAYOUT.sample_upload(250))


def own_scores(forecaster: Forecaster, frame, rows: int) -> np.ndarray:
    """The upload's scores computed the slow way: one window at a time through training's
    `forecast_windows` (its half-width over its stored quantile is the band's scale), scored
    against the close that followed."""
    features = compute_features(frame)
    windows = sliding_windows(torch.from_numpy(features), forecaster.window).numpy()
    closes = frame["Close"].to_numpy(np.float64)
    scores = []
    last_scored = len(features) - 2  # its one-step target is the last row
    for anchor in range(last_scored - rows + 1, last_scored + 1):
        window = windows[anchor - forecaster.window + 1 : anchor - forecaster.window + 2]
        half = forecaster.forecast_windows(window).half_width[0, 0]
        scale = half / forecaster.calibration.quantiles[0]
        realised = np.log(closes[anchor + 2] / closes[anchor + 1])
        scores.append(abs(realised) / scale)
    return np.array(scores)


def test_a_year_long_upload_takes_its_quantile_from_its_own_recent_errors(forecaster, year):
    answer = forecaster.predict(year)
    calibration = answer["calibration"]
    rows = len(year) - 1 - forecaster.window  # windows whose next close is in the upload
    assert calibration["rows_scored"] == rows
    scores = own_scores(forecaster, year, rows)
    stored = forecaster.calibration.quantiles[0]
    prior = forecaster.calibration.prior_rows
    expected = (rows * conformal_quantile(scores, 0.8) + prior * stored) / (rows + prior)
    assert calibration["quantile"] == pytest.approx(expected, rel=1e-6)
    assert calibration["recent_coverage"] == pytest.approx(np.mean(scores <= stored), abs=1e-9)
    assert calibration["band"] == "self-calibrated on the upload"


def test_the_response_says_how_its_band_was_made(forecaster, year):
    """Half-width (log terms) = no-network scale x the network's factor x the quantile."""
    answer = forecaster.predict(year)
    how = answer["calibration"]
    [step] = answer["forecast"]
    half = np.log(step["upper"] / step["close"])
    assert half == pytest.approx(
        how["no_network_scale"] * how["network_factor"] * how["quantile"], rel=1e-9
    )
    assert how["network_factor"] != 1.0  # the tiny network's head is not zero
    assert np.log(step["close"] / step["lower"]) == pytest.approx(half, rel=1e-9)
    assert step["close"] == answer["last_close"]  # the point is the last close


def test_the_ablation_serves_the_band_without_the_network(forecaster, year):
    ablated = forecaster.ablated()
    how = ablated.predict(year)["calibration"]
    assert how["network_factor"] == 1.0
    assert how["no_network_scale"] == forecaster.predict(year)["calibration"]["no_network_scale"]
    assert ablated.calibration.quantiles == forecaster.calibration.baseline_quantiles
    assert forecaster.use_network and not ablated.use_network


def test_a_series_that_moves_one_sigma_every_day_gets_a_one_sigma_band(tiny_run, year):
    """Alternating +-1% days: every day's move is exactly its window's volatility, so without
    the network the upload's own quantile is 1 and the band moves toward it from the stored
    quantile."""
    forecaster = Forecaster.load(tiny_run / "artifact").ablated()
    steady = year.copy()
    closes = 100 * np.exp(0.01 * np.cumsum(np.where(np.arange(len(year)) % 2, 1.0, -1.0)))
    for column in ("Open", "High", "Low", "Close"):
        steady[column] = closes
    answer = forecaster.predict(steady)["calibration"]
    rows, prior = answer["rows_scored"], forecaster.calibration.prior_rows
    stored = forecaster.calibration.quantiles[0]
    assert answer["quantile"] == pytest.approx((rows * 1.0 + prior * stored) / (rows + prior))


def test_a_short_upload_keeps_the_stored_band(forecaster, year):
    short = year.tail(forecaster.min_rows).reset_index(drop=True)
    answer = forecaster.predict(short)
    assert answer["calibration"]["rows_scored"] == 0
    assert answer["calibration"]["band"] == "stored with the model"
    assert answer["calibration"]["quantile"] == forecaster.calibration.quantiles[0]


def test_self_calibration_off_serves_the_stored_quantile(tiny_run, year):
    forecaster = Forecaster.load(tiny_run / "artifact")
    forecaster.calibration = replace(forecaster.calibration, self_rows=0)
    answer = forecaster.predict(year)
    assert answer["calibration"]["rows_scored"] == 0
    assert answer["calibration"]["quantile"] == forecaster.calibration.quantiles[0]


def test_the_blend_counts_the_stored_quantile_as_prior_rows():
    calibration = Calibration(0.8, (2.0,), (2.0,), self_rows=100, prior_rows=50)
    scores = np.arange(1.0, 101.0)[:, None]  # 100 scores: conformal 80% rank 81 -> 81.0
    quantiles, used = calibration.blended_quantiles(scores)
    assert used == 100
    assert quantiles[0] == pytest.approx((100 * 81.0 + 50 * 2.0) / 150)
    few, used = calibration.blended_quantiles(scores[: MIN_SELF_ROWS - 1])
    assert used == 0 and few[0] == 2.0
