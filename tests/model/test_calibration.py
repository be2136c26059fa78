"""Calibration at its edges: too few rows, an unbounded conformal rank, and dependent errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stockcast.errors import StockcastError
from stockcast.model.calibration import (
    Calibration,
    CalibrationError,
    conformal_quantile,
    fit_calibration,
    min_calibration_rows,
    newey_west_standard_error,
)
from stockcast.model.windows import sliding_windows


def calibration_rows(n: int, horizon: int = 1, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    actual = rng.normal(0, 0.02, (n, horizon)).cumsum(axis=1)  # [n, H]
    raw = actual + rng.normal(0, 0.02, (n, horizon))  # a network with a little skill
    return raw, actual, np.full(n, 100.0), np.full(n, 0.02)


def test_one_validation_sample_is_refused_in_one_readable_line():
    with pytest.raises(CalibrationError) as error:
        fit_calibration(
            np.array([[0.01]]), np.array([[0.02]]), np.array([100.0]), np.array([0.02]), 0.8
        )
    message = str(error.value)
    assert isinstance(error.value, StockcastError)  # the CLI prints it as one line, exit 2
    assert "1 sample" in message and "at least 4" in message and "data.val_fraction" in message
    assert "\n" not in message


@pytest.mark.parametrize(("level", "rows"), [(0.5, 2), (0.8, 4), (0.9, 9), (0.95, 19)])
def test_the_fewest_rows_are_those_whose_conformal_rank_exists(level, rows):
    assert min_calibration_rows(level) == rows
    assert math.ceil((rows + 1) * level) <= rows  # the rank exists
    assert rows == 2 or math.ceil(rows * level) > rows - 1  # and not with one row fewer


def test_a_conformal_rank_past_the_largest_score_is_an_unbounded_band():
    scores = np.array([0.5, 1.0, 2.0])  # ceil(4 * 0.8) = 4 > 3
    assert conformal_quantile(scores, 0.8) == math.inf
    assert conformal_quantile(np.append(scores, 3.0), 0.8) == 3.0  # ceil(5 * 0.8) = 4 <= 4


def test_too_few_rows_for_the_level_are_refused_rather_than_given_the_largest_score():
    with pytest.raises(CalibrationError, match="3 sample.*at least 4"):
        fit_calibration(*calibration_rows(3), level=0.8)
    assert math.isfinite(fit_calibration(*calibration_rows(4), level=0.8).quantiles[0])


def test_newey_west_matches_the_iid_formula_on_independent_noise():
    values = np.random.default_rng(1).normal(size=5000)
    iid = values.std() / math.sqrt(values.size)
    assert newey_west_standard_error(values) == pytest.approx(iid, rel=0.1)


def test_newey_west_widens_for_clustered_errors():
    # an AR(1) series with rho 0.6: the long-run variance is (1 + rho) / (1 - rho) = 4x the iid one
    rng = np.random.default_rng(2)
    values = np.zeros(5000)
    for t in range(1, values.size):
        values[t] = 0.6 * values[t - 1] + rng.normal()
    iid = values.std() / math.sqrt(values.size)
    assert newey_west_standard_error(values) > 1.5 * iid


def test_overlapping_horizons_reach_back_at_least_h_minus_one_lags():
    # a moving sum of 5 iid shocks: autocorrelated over 4 lags, as 5-step errors are
    shocks = np.random.default_rng(3).normal(size=2004)
    values = np.convolve(shocks, np.ones(5), mode="valid")  # [2000]
    iid = values.std() / math.sqrt(values.size)
    assert newey_west_standard_error(values, horizon=5) > 1.5 * iid


def test_calibration_on_enough_rows_gives_a_shrink_on_the_grid_and_finite_bands():
    calibration = fit_calibration(*calibration_rows(300, horizon=5), level=0.8)
    assert 0.0 <= calibration.shrink <= 1.0
    assert len(calibration.quantiles) == 5 and all(map(math.isfinite, calibration.quantiles))


@pytest.mark.parametrize("estimator", ["close", "ohlc"])
@pytest.mark.parametrize("vol_lambda", [1.0, 0.94])
def test_rolling_volatility_is_the_windows_volatility_bit_for_bit(estimator, vol_lambda):
    """The served path's per-row shortcut gives training's numbers exactly."""
    features = np.random.default_rng(3).normal(0, 0.02, (260, 5))  # [M, F]
    calibration = Calibration(0.0, 0.8, (1.2,), vol_lambda, 250, 20, estimator)
    windows = sliding_windows(torch.from_numpy(features), 30).numpy()  # [231, 30, F]
    rolling = calibration.rolling_volatility(features, 30)
    assert rolling.shape == (231,)
    np.testing.assert_array_equal(rolling, calibration.volatility(windows))


def test_the_conformal_quantile_is_the_ranked_score():
    scores = np.random.default_rng(4).exponential(size=219)
    rank = math.ceil(220 * 0.8)
    assert conformal_quantile(scores, 0.8) == np.sort(scores)[rank - 1]
