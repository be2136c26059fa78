"""Reference forecasts a model must beat in the walk-forward backtest: naive, EWMA and GARCH.

All three forecast the last close (a random walk) and differ only in the band around it, which
is what finance judges a volatility forecast by. Convention: an origin `i` is a position in
`closes`; the forecast made there knows `closes[: i + 1]` only and targets
`closes[i + 1 : i + H + 1]`. Nothing here reads a close after its origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from arch import arch_model
from arch.univariate.base import ARCHModel
from scipy.signal import lfilter
from scipy.stats import norm
from scipy.stats import t as student_t

# A GARCH(1,1)-t fit on fewer daily returns than about a trading year is unstable (nu and
# alpha + beta wander), so garch_band refuses origins earlier than this.
MIN_GARCH_RETURNS = 250


@dataclass(frozen=True)
class Band:
    """Point forecast and central interval per origin and step, in price units.

    point, lower, upper: [n, H]; row j is made at the j-th origin, column k - 1 targets the close
        k days after it.
    level: nominal coverage of [lower, upper] (0.8 for an 80% band).
    name: the method, as the backtest table shows it.
    """

    name: str
    level: float
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def naive_band(
    closes: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    level: float = 0.8,
    lookback: int = 250,
) -> Band:
    """Last close, with a band from the empirical quantiles of recent k-day log returns.

    For step k the quantiles are taken over the last `lookback` overlapping k-day log returns
    (log(c[j] / c[j - k]) for the j up to the origin), not over daily returns scaled by sqrt(k):
    the empirical band should assume nothing, and sqrt(k) scaling would assume independent
    returns. Needs origins >= lookback + horizon - 1.
    """
    closes, origins = _checked(closes, origins, horizon, level, lookback + horizon - 1)
    log_close = np.log(closes)  # [N]
    quantiles = [(1 - level) / 2, (1 + level) / 2]
    lower = np.empty((origins.size, horizon))  # [n, H] log returns, then prices
    upper = np.empty_like(lower)
    for k in range(1, horizon + 1):
        k_day = log_close[k:] - log_close[:-k]  # [N - k]; k_day[m] is known at position m + k
        windows = np.lib.stride_tricks.sliding_window_view(k_day, lookback)  # [N-k-L+1, L]
        recent = windows[origins - k - lookback + 1]  # [n, L]; last entry known at the origin
        lower[:, k - 1], upper[:, k - 1] = np.quantile(recent, quantiles, axis=1)
    return _band("naive", level, closes[origins], lower, upper)


def ewma_band(
    closes: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    level: float = 0.8,
    lam: float = 0.94,
) -> Band:
    """Last close, with a normal band from the RiskMetrics EWMA variance of daily log returns.

    sigma2 after return r_j is lam * sigma2 + (1 - lam) * r_j ** 2, seeded with the first squared
    return so that no origin depends on a later return; the seed's weight decays as lam ** m
    (under 1e-6 after 250 days at lam 0.94). Step k uses sigma * sqrt(k): the EWMA variance
    forecast is flat, so the k-day log return has k times the daily variance. Needs origins >= 1.
    """
    closes, origins = _checked(closes, origins, horizon, level, 1)
    returns = np.diff(np.log(closes))  # [N-1]; returns[j] ends at position j + 1
    seed = [lam * returns[0] ** 2]
    variance, _ = lfilter([1 - lam], [1, -lam], returns**2, zi=seed)  # [N-1]
    sigma = np.sqrt(variance[origins - 1])  # [n]; the last return seen at origin i is i - 1
    half_width = norm.ppf((1 + level) / 2) * sigma[:, None] * np.sqrt(np.arange(1, horizon + 1))
    return _band("ewma", level, closes[origins], -half_width, half_width)


def garch_band(
    closes: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    level: float = 0.8,
    refit_every: int = 20,
    fit_window: int | None = None,
) -> Band:
    """Last close, with a band from a GARCH(1,1) with Student-t innovations (the `arch` package).

    Zero mean, so the point is the last close as in the other references and the methods differ
    only in their bands. A constant mean would move the centre by the in-sample drift (GOOG to
    2011: 0.10% a day, standard error 0.05%), a twentieth of a daily sigma and unstable out of
    sample. Returns are in percent, the scale arch's optimiser expects. Parameters are refit at every `refit_every`-th origin on the
    returns up to it (the last `fit_window` of them when given); at every origin the fixed
    parameters filter all returns up to that origin, so the conditional variance is current.
    The k-step band uses the sum of arch's analytic variance forecasts for steps 1..k (the
    variance of the k-day log return) and quantiles of the unit-variance Student t with the
    fitted nu; for k > 1 treating that sum as Student t is an approximation. Needs origins >=
    MIN_GARCH_RETURNS.
    """
    closes, origins = _checked(closes, origins, horizon, level, MIN_GARCH_RETURNS)
    if refit_every < 1:
        raise ValueError(
            f"refit_every must be at least 1 (origins per GARCH fit), got {refit_every}"
        )
    returns = 100 * np.diff(np.log(closes))  # [N-1] percent; returns[: i] are known at origin i
    half_widths = np.empty((origins.size, horizon, 2))  # [n, H, (lower, upper)] log returns
    for start in range(0, origins.size, refit_every):
        first = origins[start]
        oldest = max(0, first - fit_window) if fit_window else 0
        params = _garch(returns[oldest:first]).fit(disp="off").params
        nu = params["nu"]
        z = student_t.ppf([(1 - level) / 2, (1 + level) / 2], nu) * np.sqrt((nu - 2) / nu)  # [2]
        for j in range(start, min(start + refit_every, origins.size)):
            filtered = _garch(returns[: origins[j]]).fix(params.to_numpy())
            forecast = filtered.forecast(horizon=horizon, reindex=False)
            step_variance = forecast.variance.to_numpy()[-1]  # [H] %^2, steps 1..H
            sd = np.sqrt(np.cumsum(step_variance)) / 100  # [H] of the k-day log return
            half_widths[j] = sd[:, None] * z  # [H, 2]
    return _band("garch", level, closes[origins], half_widths[..., 0], half_widths[..., 1])


def _garch(percent_returns: np.ndarray) -> ARCHModel:
    """The one GARCH specification used for both fitting and filtering."""
    return arch_model(percent_returns, mean="Zero", vol="GARCH", p=1, q=1, dist="t")


def _band(
    name: str, level: float, last_close: np.ndarray, lower_log: np.ndarray, upper_log: np.ndarray
) -> Band:
    """Turn [n, H] log-return quantiles around the last close [n] into a price band."""
    last = last_close[:, None]  # [n, 1]
    horizon = lower_log.shape[1]
    return Band(
        name=name,
        level=level,
        point=np.repeat(last, horizon, axis=1),  # [n, H]
        lower=last * np.exp(lower_log),
        upper=last * np.exp(upper_log),
    )


def _checked(
    closes: np.ndarray, origins: np.ndarray, horizon: int, level: float, first_origin: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the shared arguments; return closes as float64 and origins as int64."""
    closes = np.asarray(closes, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.int64)
    if closes.ndim != 1 or not np.all(np.isfinite(closes)) or np.any(closes <= 0):
        raise ValueError("closes must be a 1-D array of finite positive prices")
    if origins.ndim != 1 or origins.size == 0 or np.any(np.diff(origins) <= 0):
        raise ValueError("origins must be a non-empty, strictly increasing 1-D array of positions")
    if horizon < 1 or not 0 < level < 1:
        raise ValueError(f"need horizon >= 1 and 0 < level < 1, got {horizon} and {level}")
    if origins[0] < first_origin:
        raise ValueError(
            f"the first origin is position {origins[0]}, but this method needs history up to "
            f"position {first_origin}; start the origins there or later"
        )
    if origins[-1] >= closes.size:
        raise ValueError(
            f"origin {origins[-1]} is past the last close (position {closes.size - 1})"
        )
    return closes, origins
