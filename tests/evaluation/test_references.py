"""Reference bands: calibrated on real data, equal to independent computations, blind to the future."""

from __future__ import annotations

import numpy as np
import pytest
from arch import arch_model
from scipy.stats import norm
from scipy.stats import t as student_t

from stockcast.evaluation.metrics import interval_coverage
from stockcast.evaluation.references import Band, ewma_band, garch_band, naive_band

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
