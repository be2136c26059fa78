"""Calibration at its edges: too few rows, an unbounded conformal rank, and the network's factor."""

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
    conformal_quantiles,
    min_calibration_rows,
)
from stockcast.model.windows import sliding_windows


def calibration_rows(n: int, horizon: int = 1, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(log factor, realised moves, no-network scale): moves whose true scale is the
    no-network one times exp(factor)."""
    rng = np.random.default_rng(seed)
    sigma = np.full(n, 0.02)
    factor = rng.normal(0, 0.5, (n, horizon))  # [n, H]
    steps = np.sqrt(np.arange(1, horizon + 1))
    actual = rng.normal(size=(n, horizon)) * sigma[:, None] * steps * np.exp(factor)
    return factor, actual, sigma


def test_one_calibration_sample_is_refused_in_one_readable_line():
    with pytest.raises(CalibrationError) as error:
        conformal_quantiles(np.array([[0.0]]), np.array([[0.02]]), np.array([0.02]), 0.8)
    message = str(error.value)
    assert isinstance(error.value, StockcastError)  # the CLI prints it as one line, exit 2
    assert "1 sample" in message and "at least 4" in message and "data.calib_fraction" in message
    assert "\n" not in message


@pytest.mark.parametrize(("level", "rows"), [(0.5, 1), (0.8, 4), (0.9, 9), (0.95, 19)])
def test_the_fewest_rows_are_those_whose_conformal_rank_exists(level, rows):
    assert min_calibration_rows(level) == rows
    assert math.ceil((rows + 1) * level) <= rows  # the rank exists
    assert math.ceil(rows * level) > rows - 1  # and not with one row fewer


def test_a_conformal_rank_past_the_largest_score_is_an_unbounded_band():
    scores = np.array([0.5, 1.0, 2.0])  # ceil(4 * 0.8) = 4 > 3
    assert conformal_quantile(scores, 0.8) == math.inf
    assert conformal_quantile(np.append(scores, 3.0), 0.8) == 3.0  # ceil(5 * 0.8) = 4 <= 4


def test_too_few_rows_for_the_level_are_refused_rather_than_given_the_largest_score():
    with pytest.raises(CalibrationError, match="3 sample.*at least 4"):
        conformal_quantiles(*calibration_rows(3), level=0.8)
    assert math.isfinite(conformal_quantiles(*calibration_rows(4), level=0.8)[0])


def test_a_factor_that_knows_the_true_scale_gives_the_normal_quantile_and_none_a_wider_one():
    factor, actual, sigma = calibration_rows(20_000, horizon=3)
    with_factor = conformal_quantiles(factor, actual, sigma, level=0.8)
    without = conformal_quantiles(np.zeros_like(factor), actual, sigma, level=0.8)
    # |z| of a standard normal is below 1.2816 80% of the time, at every step
    assert with_factor == pytest.approx((1.2816,) * 3, rel=0.03)
    assert all(q > 1.35 for q in without)  # a mixture of scales has fatter tails


@pytest.mark.parametrize("estimator", ["close", "ohlc"])
@pytest.mark.parametrize("vol_lambda", [1.0, 0.94])
def test_rolling_volatility_is_the_windows_volatility_bit_for_bit(estimator, vol_lambda):
    """The served path's per-row shortcut gives training's numbers exactly."""
    features = np.random.default_rng(3).normal(0, 0.02, (260, 5))  # [M, F]
    calibration = Calibration(0.8, (1.2,), (1.1,), vol_lambda, 250, 20, estimator)
    windows = sliding_windows(torch.from_numpy(features), 30).numpy()  # [231, 30, F]
    rolling = calibration.rolling_volatility(features, 30)
    assert rolling.shape == (231,)
    np.testing.assert_array_equal(rolling, calibration.volatility(windows))


def test_the_conformal_quantile_is_the_ranked_score():
    scores = np.random.default_rng(4).exponential(size=219)
    rank = math.ceil(220 * 0.8)
    assert conformal_quantile(scores, 0.8) == np.sort(scores)[rank - 1]
