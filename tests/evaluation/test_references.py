"""Reference bands: calibrated on real data, equal to independent computations, blind to the future."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.linear_model import LinearRegression

from stockcast.evaluation.metrics import interval_coverage
from stockcast.evaluation.references import (
    Band,
    ewma_band,
    garch_band,
    har_band,
    har_first_origin,
    naive_band,
    self_calibrated_band,
)
from stockcast.inputs.validation import read_price_table

DATA = Path(__file__).resolve().parents[2] / "data"
OHLCV = ["Open", "High", "Low", "Close", "Volume"]

METHODS = {"naive": naive_band, "ewma": ewma_band, "garch": garch_band}
# two standard errors of an 80% coverage estimated on 400 days
SAMPLING_ERROR = 2 * np.sqrt(0.8 * 0.2 / 400)


@pytest.fixture(scope="module")
def one_step_bands(goog_closes, last_days_origins) -> dict[str, Band]:
    return {name: method(goog_closes, last_days_origins, 1) for name, method in METHODS.items()}


def one_step_coverage(closes: np.ndarray, origins: np.ndarray, band: Band) -> float:
    return interval_coverage(closes[origins + 1], band.lower[:, 0], band.upper[:, 0])


@pytest.mark.parametrize("name", METHODS)
def test_each_80_percent_band_covers_70_to_90_percent_of_the_last_400_goog_days(
    name, one_step_bands, goog_closes, last_days_origins
):
    band = one_step_bands[name]
    assert band.name == name and band.point.shape == (400, 1)
    assert 0.7 <= one_step_coverage(goog_closes, last_days_origins, band) <= 0.9


def test_ewma_band_equals_the_riskmetrics_recursion_written_as_a_loop(
    one_step_bands, goog_closes, last_days_origins
):
    returns = np.diff(np.log(goog_closes))
    variance = returns[0] ** 2  # the documented seed
    sigma_at = {}  # origin -> EWMA sigma after the returns it knows
    for position in range(1, goog_closes.size):
        variance = 0.94 * variance + 0.06 * returns[position - 1] ** 2
        sigma_at[position] = np.sqrt(variance)
    sigma = np.array([sigma_at[origin] for origin in last_days_origins])
    last = goog_closes[last_days_origins]
    upper = last * np.exp(norm.ppf(0.9) * sigma)
    lower = last * np.exp(-norm.ppf(0.9) * sigma)

    band = one_step_bands["ewma"]
    np.testing.assert_allclose(band.upper[:, 0], upper, rtol=1e-12)
    np.testing.assert_allclose(band.lower[:, 0], lower, rtol=1e-12)
    assert one_step_coverage(goog_closes, last_days_origins, band) == interval_coverage(
        goog_closes[last_days_origins + 1], lower, upper
    )


def test_garch_coverage_agrees_with_one_arch_fit_filtered_over_the_same_days(
    one_step_bands, goog_closes, last_days_origins
):
    returns = 100 * np.diff(np.log(goog_closes))
    first, last = last_days_origins[0], last_days_origins[-1]
    model = arch_model(returns[:last], mean="Zero", vol="GARCH", p=1, q=1, dist="t")
    fitted = model.fit(last_obs=first, disp="off")  # estimated once, before the first scored day
    variance = fitted.forecast(horizon=1, start=first - 1, reindex=False).variance.to_numpy()
    nu = fitted.params["nu"]
    z = student_t.ppf(0.9, nu) * np.sqrt((nu - 2) / nu)
    sigma = np.sqrt(variance[:, 0]) / 100  # [400]
    close = goog_closes[last_days_origins]
    independent = interval_coverage(
        goog_closes[last_days_origins + 1], close * np.exp(-z * sigma), close * np.exp(z * sigma)
    )

    ours = one_step_coverage(goog_closes, last_days_origins, one_step_bands["garch"])
    assert abs(ours - independent) <= SAMPLING_ERROR


@pytest.mark.parametrize("name", METHODS)
def test_a_band_does_not_change_when_closes_after_its_origin_change(name, goog_closes):
    origins = np.arange(1500, 1530)
    cut = 1515  # closes from here on are perturbed; origins before it never saw them
    perturbed = goog_closes.copy()
    perturbed[cut:] *= np.exp(np.random.default_rng(0).normal(0, 0.05, goog_closes.size - cut))
    options = {"refit_every": 10} if name == "garch" else {}  # a refit at 1510, mid-way to cut

    before = METHODS[name](goog_closes, origins, 2, **options)
    after = METHODS[name](perturbed, origins, 2, **options)

    blind = origins < cut
    for edge in ("point", "lower", "upper"):
        np.testing.assert_array_equal(getattr(before, edge)[blind], getattr(after, edge)[blind])
    assert not np.allclose(before.upper[~blind], after.upper[~blind])  # the perturbation is felt


@pytest.mark.parametrize("name", METHODS)
def test_a_two_step_band_is_centred_on_the_last_close_and_wider_for_the_second_step(
    name, goog_closes
):
    origins = np.arange(goog_closes.size - 402, goog_closes.size - 2)
    band = METHODS[name](goog_closes, origins, 2)
    assert band.point.shape == band.lower.shape == band.upper.shape == (400, 2)
    np.testing.assert_array_equal(band.point, np.repeat(goog_closes[origins, None], 2, axis=1))
    assert np.all(band.lower < band.point) and np.all(band.point < band.upper)
    width = band.upper - band.lower
    assert width[:, 1].mean() > 1.2 * width[:, 0].mean()  # about sqrt(2) for a random walk


def test_ewma_scales_the_log_band_by_the_square_root_of_the_step(goog_closes):
    band = ewma_band(goog_closes, np.arange(300, 320), 3)
    log_half_width = np.log(band.upper / band.point)  # [20, 3]
    np.testing.assert_allclose(log_half_width / log_half_width[:, :1], [[1, 2**0.5, 3**0.5]] * 20)


@pytest.mark.parametrize(
    ("method", "origin"), [(naive_band, 249), (ewma_band, 0), (garch_band, 249)]
)
def test_an_origin_without_enough_history_is_refused_with_the_first_usable_one(
    method, origin, goog_closes
):
    with pytest.raises(ValueError, match="needs history up to position"):
        method(goog_closes, np.array([origin, origin + 1]), 1)


def bundled_bars(csv: Path) -> np.ndarray:
    """[N, 5] bars of a bundled sample as the backtest reads them (prices adjusted by Adj Close)."""
    return read_price_table(csv).frame[OHLCV].to_numpy(np.float64)


@pytest.mark.parametrize("csv", sorted(DATA.glob("*.csv")), ids=lambda p: p.stem)
def test_the_har_band_covers_about_80_percent_of_each_bundled_tickers_last_400_days(csv):
    bars = bundled_bars(csv)
    closes = bars[:, 3]
    origins = np.arange(closes.size - 401, closes.size - 1)
    band = har_band(bars, origins, 1)
    assert band.name == "har" and band.point.shape == (400, 1)
    assert abs(one_step_coverage(closes, origins, band) - 0.8) <= SAMPLING_ERROR


def test_the_har_band_does_not_change_when_bars_after_its_origin_change(goog_ohlcv):
    origins = np.arange(1500, 1530)
    cut = 1515  # bars from here on are perturbed; origins before it never saw them
    rng = np.random.default_rng(0)
    perturbed = goog_ohlcv.copy()
    perturbed[cut:, :4] *= np.exp(rng.normal(0, 0.05, (goog_ohlcv.shape[0] - cut, 1)))
    perturbed[cut:, 1] *= np.exp(rng.uniform(0, 0.03, goog_ohlcv.shape[0] - cut))  # wider highs

    before = har_band(goog_ohlcv, origins, 2, refit_every=10)  # a refit at 1510, mid-way to cut
    after = har_band(perturbed, origins, 2, refit_every=10)

    blind = origins < cut
    for edge in ("point", "lower", "upper"):
        np.testing.assert_array_equal(getattr(before, edge)[blind], getattr(after, edge)[blind])
    assert not np.allclose(before.upper[~blind], after.upper[~blind])  # the perturbation is felt


def test_har_refits_before_each_block_of_origins(goog_ohlcv):
    origins = np.arange(1500, 1530)
    blocks = har_band(goog_ohlcv, origins, 1, refit_every=10)
    for start in (0, 10, 20):  # each block is what a fit before its first origin serves
        alone = har_band(goog_ohlcv, origins[start : start + 10], 1, refit_every=0)
        np.testing.assert_allclose(blocks.upper[start : start + 10], alone.upper, rtol=1e-12)
    once = har_band(goog_ohlcv, origins, 1, refit_every=0)
    np.testing.assert_array_equal(once.upper[:10], blocks.upper[:10])
    assert not np.allclose(once.upper[10:], blocks.upper[10:], rtol=1e-9)


def test_har_is_the_regression_its_docstring_describes_at_one_origin(goog_ohlcv):
    """An independent pandas build of the design: logs of the 1-, 5- and 22-day mean range-based
    variance, the last down move and the absolute gap; fit on every row before the origin;
    self-calibrated on the 250 positions before it."""
    bars = pd.DataFrame(goog_ohlcv, columns=OHLCV)
    log_close = np.log(bars["Close"])
    gap = np.log(bars["Open"] / bars["Close"].shift())
    spread, body = np.log(bars["High"] / bars["Low"]), np.log(bars["Close"] / bars["Open"])
    variance = (gap**2 + 0.5 * spread**2 - (2 * math.log(2) - 1) * body**2).clip(lower=1e-8)
    design = pd.DataFrame(
        {f"log_mean_{span}": np.log(variance.rolling(span).mean()) for span in (1, 5, 22)}
    )
    design["down"] = log_close.diff().clip(upper=0)
    design["gap"] = gap.abs()
    target = np.log(variance.shift(-1))
    origin = 1700
    rows = design.index[(design.index >= 22) & (design.index < origin)]
    fit = LinearRegression().fit(design.loc[rows], target.loc[rows])
    past = np.arange(origin - 250, origin)  # positions whose next close is known at the origin
    # each past position's sigma as the origin's fit gives it
    sigma = np.sqrt(np.exp(fit.predict(design.loc[[*past, origin]])))  # [251]
    scores = np.abs(log_close.to_numpy()[past + 1] - log_close.to_numpy()[past]) / sigma[:-1]
    rank = math.ceil(251 * 0.8)  # the conformal rank among 250 scores
    half_width = np.sort(scores)[rank - 1] * sigma[-1]

    band = har_band(goog_ohlcv, np.array([origin]), 1)
    assert np.log(band.upper[0, 0] / band.point[0, 0]) == pytest.approx(half_width, rel=1e-9)
    assert np.log(band.point[0, 0] / band.lower[0, 0]) == pytest.approx(half_width, rel=1e-9)


def test_a_two_step_har_band_is_wider_for_the_second_step(goog_ohlcv):
    origins = np.arange(goog_ohlcv.shape[0] - 402, goog_ohlcv.shape[0] - 2)
    band = har_band(goog_ohlcv, origins, 2)
    np.testing.assert_array_equal(band.point, np.repeat(goog_ohlcv[origins, 3, None], 2, axis=1))
    assert np.all(band.lower < band.point) and np.all(band.point < band.upper)
    width = band.upper - band.lower
    assert width[:, 1].mean() > 1.2 * width[:, 0].mean()


def test_har_refuses_an_origin_without_a_year_to_fit_and_250_days_to_calibrate(goog_ohlcv):
    first = har_first_origin(horizon=1, self_rows=250)
    assert first == 22 + 250  # a month of variance, then a year of fitted rows
    with pytest.raises(ValueError, match=f"needs history up to position {first}"):
        har_band(goog_ohlcv, np.array([first - 1, first]), 1)
    assert har_band(goog_ohlcv, np.array([first]), 1).point.shape == (1, 1)
    with pytest.raises(ValueError, match="ohlcv must be an"):
        har_band(goog_ohlcv[:, 3], np.array([first]), 1)


def test_a_self_calibrated_band_scales_sigma_by_the_conformal_quantile_of_its_past_scores():
    past = np.stack([np.arange(1.0, 11.0), np.arange(11.0, 1.0, -1)])[:, :, None]  # [2, 10, 1]
    band = self_calibrated_band("x", 0.8, np.array([100.0, 50.0]), np.array([0.01, 0.02]), past)
    # the ceil(11 * 0.8) = 9th smallest of 1..10 is 9, of 2..11 is 10
    np.testing.assert_allclose(np.log(band.upper[:, 0] / band.point[:, 0]), [0.09, 0.2])
    np.testing.assert_allclose(np.log(band.point[:, 0] / band.lower[:, 0]), [0.09, 0.2])
