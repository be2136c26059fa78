"""Metrics, the naive baseline and calibration: the same code scores model and baseline."""

from __future__ import annotations

import numpy as np
import pytest

from stockcast.evaluation.metrics import (
    directional_accuracy,
    forecast_report,
    naive_forecast,
    point_metrics,
    up_share,
)
from stockcast.model.calibration import conformal_quantile, conformal_quantiles


def random_walk(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    returns = np.random.default_rng(seed).normal(0, 0.02, n + 1)
    closes = 100 * np.exp(np.cumsum(returns))
    return closes[:-1], closes[1:, None]  # last close [n], next close [n, 1]


def test_naive_forecast_repeats_the_last_close():
    assert naive_forecast(np.array([1.0, 2.0]), 3).tolist() == [[1, 1, 1], [2, 2, 2]]


def test_point_metrics_in_price_units():
    metrics = point_metrics(np.array([[100.0], [200.0]]), np.array([[110.0], [190.0]]))
    assert metrics == pytest.approx({"mae": 10.0, "rmse": 10.0, "mape": 7.5})


def test_naive_model_has_relative_mae_one_through_the_same_code():
    last, actual = random_walk()
    naive = naive_forecast(last, 1)
    report = forecast_report("test", last, actual, naive, naive, naive)
    assert report["test/rel_mae"] == 1.0
    assert report["test/mae"] == report["test/naive_mae"]


def test_a_forecast_that_serves_naive_has_no_direction():
    last, actual = random_walk()
    naive = naive_forecast(last, 1)
    assert (
        forecast_report("test", last, actual, naive, naive, naive)["test/directional_accuracy"]
        is None
    )


def test_direction_scores_the_served_forecast_and_up_share_is_its_baseline():
    last = np.array([10.0, 10.0, 10.0, 10.0])
    actual = np.array([[11.0], [9.0], [12.0], [10.0]])  # up, down, up, flat (left out)
    served = np.array([[10.1], [10.1], [9.9], [10.3]])
    assert directional_accuracy(last, actual, served) == pytest.approx(1 / 3)
    assert up_share(last, actual) == pytest.approx(2 / 3)
    assert up_share(last, actual, among=np.array([[True], [True], [False], [True]])) == 0.5


def test_up_share_counts_every_step_that_moved_and_none_when_nothing_moved():
    last = np.array([10.0, 10.0])
    actual = np.array([[11.0, 10.0], [9.0, 12.0]])  # up, flat (left out), down, up
    assert up_share(last, actual) == pytest.approx(2 / 3)
    assert up_share(last, actual[:, :1]) == 0.5
    assert up_share(last, np.full((2, 1), 10.0)) is None


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1.0, 11.0)  # 10 scores
    assert conformal_quantile(scores, 0.8) == 9.0  # ceil(11 * 0.8) = 9th smallest


def test_conformal_interval_covers_the_nominal_share_on_exchangeable_data():
    last, actual = random_walk(4000)
    actual_return = np.log(actual / last[:, None])
    sigma = np.full(len(last), 0.02)
    zero = np.zeros_like(actual_return)
    quantiles = conformal_quantiles(zero[:2000], actual_return[:2000], sigma[:2000], level=0.8)
    half = quantiles[0] * 0.02
    covered = np.mean(np.abs(actual_return[2000:]) <= half)
    assert 0.77 <= covered <= 0.83
