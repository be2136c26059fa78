"""Scores against small hand-computed examples, and the Diebold-Mariano test's behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import t as student_t

from stockcast.evaluation.comparison import (
    diebold_mariano,
    interval_score,
    mean_width,
    pinball,
    score_method,
)
from stockcast.evaluation.metrics import forecast_report, interval_coverage, up_share
from stockcast.evaluation.references import Band


def test_interval_score_is_the_width_plus_a_penalty_of_2_over_alpha_per_unit_missed():
    actual = np.array([10.0, 5.0, 20.0])
    scores = interval_score(actual, np.full(3, 8.0), np.full(3, 12.0), alpha=0.2)
    np.testing.assert_allclose(scores, [4.0, 4.0 + 10 * 3, 4.0 + 10 * 8])


def test_pinball_weighs_a_low_quantile_lightly_when_the_actual_is_above_it():
    np.testing.assert_allclose(
        pinball(np.array([10.0, 10.0]), np.array([8.0, 12.0]), 0.1), [0.2, 1.8]
    )


def test_coverage_counts_the_bounds_as_inside_and_width_is_relative_to_the_last_close():
    assert (
        interval_coverage(np.array([8.0, 12.0, 13.0]), np.full(3, 8.0), np.full(3, 12.0)) == 2 / 3
    )
    last = np.array([100.0, 200.0])
    assert mean_width(last, np.array([[90.0], [180.0]]), np.array([[110.0], [220.0]])) == 0.2


def test_score_method_on_two_hand_computed_days():
    last = np.array([100.0, 100.0])
    actual = np.array([[110.0], [95.0]])
    band = Band(
        name="hand",
        level=0.8,
        point=np.array([[102.0], [101.0]]),
        lower=np.array([[95.0], [96.0]]),
        upper=np.array([[105.0], [104.0]]),
    )
    scores = score_method(last, actual, band, naive_mae=7.5)  # naive errs by 10 and 5
    assert scores == pytest.approx(
        {
            "n": 2,
            "mae": 7.0,
            "mase": 7.0 / 7.5,
            "rel_mae": 7.0 / 7.5,
            "rmse": np.sqrt((8**2 + 6**2) / 2),
            "directional_accuracy": 0.5,  # called up twice, went up once
            "direction_n": 2,
            "direction_up_share": 0.5,
            "up_share": 0.5,
            "coverage": 0.0,
            "mean_width": (10 / 100 + 8 / 100) / 2,
            "winkler": ((10 + 10 * 5) + (8 + 10 * 1)) / 2,
            "pinball_10": (0.1 * 15 + 0.9 * 1) / 2,
            "pinball_90": (0.9 * 5 + 0.1 * 9) / 2,
        }
    )


def test_a_forecast_that_never_moves_has_no_directional_accuracy():
    last = np.array([100.0, 100.0])
    flat = np.repeat(last[:, None], 2, axis=1)
    band = Band(name="naive", level=0.8, point=flat, lower=flat - 5, upper=flat + 5)
    actual = np.array([[101.0, 99.0], [98.0, 97.0]])  # errors 1, 1, 2, 3
    scores = score_method(last, actual, band, naive_mae=1.75)
    assert scores["directional_accuracy"] is None
    assert scores["direction_n"] == 0 and scores["direction_up_share"] is None
    assert scores["mase"] == 1.0 and scores["up_share"] == 0.25


def test_direction_carries_its_days_and_always_ups_share_on_those_same_days():
    last = np.full(5, 10.0)
    actual = np.array([[11.0], [9.0], [12.0], [10.0], [8.0]])  # up, down, up, flat, down
    point = np.array([[10.5], [10.5], [10.0], [10.5], [9.5]])  # up, up, none, up, down
    flat = np.repeat(last[:, None], 1, axis=1)
    band = Band(name="m", level=0.8, point=point, lower=flat - 5, upper=flat + 5)
    scores = score_method(last, actual, band, naive_mae=1.0)
    # judged: days 0, 1 and 4 (day 2 calls nothing, day 3 did not move)
    assert scores["direction_n"] == 3
    assert scores["directional_accuracy"] == pytest.approx(2 / 3)
    assert scores["direction_up_share"] == pytest.approx(1 / 3)  # only day 0 rose
    assert scores["up_share"] == pytest.approx(2 / 4)  # the flat day is left out


def test_training_and_the_backtest_count_unchanged_days_alike():
    last = np.full(4, 10.0)
    actual = np.array([[11.0], [10.0], [10.0], [9.0]])  # up, flat, flat, down
    naive = np.repeat(last[:, None], 1, axis=1)
    band = Band(name="naive", level=0.8, point=naive, lower=naive - 1, upper=naive + 1)
    training = forecast_report("test", last, actual, naive, naive - 1, naive + 1)
    backtest = score_method(last, actual, band, naive_mae=0.5)
    assert training["test/up_share"] == backtest["up_share"] == up_share(last, actual) == 0.5


def test_diebold_mariano_of_identical_losses_is_no_difference():
    losses = np.array([1.0, 3.0, 2.0, 5.0])
    assert diebold_mariano(losses, losses) == {"statistic": 0.0, "p_value": 1.0, "mean_diff": 0.0}
    constant_gap = diebold_mariano(losses + 1.0, losses)
    assert constant_gap["statistic"] == np.inf and constant_gap["p_value"] == 0.0


def test_diebold_mariano_finds_a_clearly_better_series_with_a_negative_statistic():
    rng = np.random.default_rng(1)
    worse = rng.gamma(2.0, 1.0, 400)
    better = worse - 0.5 + rng.normal(0, 0.3, 400)
    result = diebold_mariano(better, worse)
    assert result["statistic"] < 0 and result["p_value"] < 1e-6
    assert result["mean_diff"] == pytest.approx(np.mean(better - worse))


def test_diebold_mariano_matches_a_hand_computation_with_one_lag():
    # d = [1, -1, 2, -1, 3]: mean 0.8, centred [0.2, -1.8, 1.2, -1.8, 2.2]
    # gamma0 = 12.8 / 5 = 2.56; gamma1 = (-0.36 - 2.16 - 2.16 - 3.96) / 5 = -1.728
    # Bartlett long-run variance = 2.56 + 2 * (1/2) * -1.728 = 0.832
    # HLN at h = 1: sqrt((5 + 1 - 2) / 5) = sqrt(0.8)
    statistic = 0.8 / np.sqrt(0.832 / 5) * np.sqrt(0.8)
    result = diebold_mariano(np.array([3.0, 1.0, 4.0, 1.0, 5.0]), np.full(5, 2.0), lag=1)
    assert result["statistic"] == pytest.approx(statistic)
    assert result["p_value"] == pytest.approx(2 * student_t.sf(statistic, df=4))
    assert result["mean_diff"] == pytest.approx(0.8)
