"""Reference forecasts a model must beat in the walk-forward backtest: naive, EWMA, GARCH and HAR.

All four forecast the last close (a random walk) and differ only in the band around it, which
is what finance judges a volatility forecast by. Convention: an origin `i` is a position in
`closes` (or a row of the OHLCV array); the forecast made there knows rows `..i` only and targets
`closes[i + 1 : i + H + 1]`. Nothing here reads a row after its origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from arch import arch_model
from arch.univariate.base import ARCHModel
from scipy.signal import lfilter
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.linear_model import LinearRegression

from stockcast.model.calibration import (
    conformal_quantile,
    daily_variance,
    horizon_scale,
    min_calibration_rows,
)
from stockcast.model.features import FEATURE_NAMES, RETURN_FEATURE, bar_features

# A GARCH(1,1)-t fit on fewer daily returns than about a trading year is unstable (nu and
# alpha + beta wander), so garch_band refuses origins earlier than this.
MIN_GARCH_RETURNS = 250
# HAR's regressors: the mean daily variance over the last 1, 5 and 22 days (a day, a week, a month)
HAR_SPANS = (1, 5, 22)
# a bar whose variance estimate is 0 (no range and no overnight gap: a halted day) has no log;
# 1e-8 is a daily sigma of 0.01%, under the calmest day of the bundled tickers by a factor of 30
VARIANCE_FLOOR = 1e-8
# fits on fewer rows than a trading year make the five coefficients noisy, so har_band refuses
# origins whose first fit would see fewer
MIN_HAR_ROWS = 250
_GAP = FEATURE_NAMES.index("gap")
# the bands the backtest tests the model's interval score against, in its tables' order: these
# references and `no_network`, the model's own band with the network's contribution removed
INTERVAL_REFERENCES = ("garch", "ewma", "naive", "har", "no_network")


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

    def tail(self, days: int) -> Band:
        """The band of the last `days` origins."""
        return Band(
            self.name, self.level, self.point[-days:], self.lower[-days:], self.upper[-days:]
        )


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


def har_band(
    ohlcv: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    level: float = 0.8,
    refit_every: int = 100,
    self_rows: int = 250,
) -> Band:
    """Last close, with a band from a HAR model of range-based daily variance, self-calibrated.

    The daily variance v_t is the "ohlc" estimator the model's band uses (overnight gap squared
    plus Garman-Klass, `stockcast.model.calibration.daily_variance`), floored at VARIANCE_FLOOR.
    A linear regression (Corsi's HAR with leverage) forecasts log v_{t+1} from the logs of the 1-,
    5- and 22-day means of v up to t, the last down move min(r_t, 0) (r: close-to-close log
    return) and the absolute overnight gap |gap_t| (`har_design`). It is refit before each block
    of `refit_every` origins (0: once, before the first) on every row whose target is known at
    the block's first origin. The daily sigma forecast is sqrt(exp(prediction)) and step k
    spreads it by sqrt(k).

    exp(E[log v]) is not E[v], and a 1-day variance estimate is not a return's distribution, so
    sigma is only a scale: the band's width comes from `self_calibrated_band`, as the served
    model's does, with scores from the `self_rows` positions before each origin whose targets it
    knows, each scored against the sigma the origin's own fit gives that position (as the served
    model scores an upload's past days with its own network).

    ohlcv: [N, 5] Open, High, Low, Close, Volume. Needs origins >= har_first_origin(horizon,
    self_rows): a year of rows for the first fit and `self_rows` scored positions before it.
    """
    ohlcv = np.asarray(ohlcv, dtype=np.float64)
    if ohlcv.ndim != 2 or ohlcv.shape[1] != 5:
        raise ValueError(
            f"ohlcv must be an [N, 5] array of Open, High, Low, Close, Volume, got {ohlcv.shape}"
        )
    if refit_every < 0:
        raise ValueError(f"refit_every must be 0 (fit once) or more, got {refit_every}")
    if self_rows < min_calibration_rows(level):
        raise ValueError(
            f"self_rows={self_rows} scores cannot place a {level:.0%} conformal quantile; "
            f"it needs at least {min_calibration_rows(level)}"
        )
    closes, origins = _checked(
        ohlcv[:, 3], origins, horizon, level, har_first_origin(horizon, self_rows)
    )
    regressors, target = har_design(ohlcv)  # [N, 5], [N]
    log_close = np.log(closes)  # [N]
    sigma = np.empty(origins.size)  # [n]
    past_scores = np.empty((origins.size, self_rows, horizon))  # [n, m, H]
    size = refit_every or origins.size
    for start in range(0, origins.size, size):
        block = origins[start : start + size]  # [b]
        first = int(block[0])
        # rows HAR_SPANS[-1] .. first - 1: their targets (the next day's variance) are known at
        # `first`; earlier rows lack a month of variance
        fit = LinearRegression().fit(
            regressors[HAR_SPANS[-1] : first], target[HAR_SPANS[-1] : first]
        )
        oldest = first - horizon - self_rows + 1  # the oldest position any origin here scores
        positions = np.arange(oldest, int(block[-1]) + 1)  # [P]
        position_sigma = np.sqrt(np.exp(fit.predict(regressors[positions])))  # [P]
        scores = realised_scores(log_close, positions[: positions.size - horizon], horizon)
        scores /= horizon_scale(position_sigma[: positions.size - horizon], horizon)
        windows = np.lib.stride_tricks.sliding_window_view(scores, self_rows, axis=0)
        # window w holds positions oldest + w .. oldest + w + m - 1; origin i's last known
        # position is i - horizon, which is window i - first
        past_scores[start : start + block.size] = windows[block - first].transpose(0, 2, 1)
        sigma[start : start + block.size] = position_sigma[block - oldest]
    return self_calibrated_band("har", level, closes[origins], sigma, past_scores)


def har_first_origin(horizon: int, self_rows: int) -> int:
    """The first origin har_band serves: its fit needs MIN_HAR_ROWS rows after the first with a
    month of variance, and its band `self_rows` scored positions after that one."""
    month = HAR_SPANS[-1]
    return max(month + MIN_HAR_ROWS, month + horizon + self_rows - 1)


def har_design(ohlcv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HAR's regressors and target per row of validated bars [N, 5] -> ([N, 5], [N]).

    Row t: log of the mean daily variance over the 1, 5 and 22 bars up to t, min(r_t, 0) and
    |gap_t|, all known at the close of bar t; NaN where a span reaches bar 0 (which has no
    variance). The target is log v_{t+1} (NaN on the last row).
    """
    features = bar_features(ohlcv)  # [N-1, F]; row t - 1 describes bar t
    variance = np.maximum(daily_variance(features, "ohlc"), VARIANCE_FLOOR)  # [N-1]
    variance = np.concatenate([[np.nan], variance])  # [N]; bar t at t
    means = [
        np.concatenate(
            [
                np.full(span - 1, np.nan),
                np.lib.stride_tricks.sliding_window_view(variance, span).mean(axis=1),
            ]
        )
        for span in HAR_SPANS
    ]  # each [N]
    down = np.concatenate([[np.nan], np.minimum(features[:, RETURN_FEATURE], 0.0)])  # [N]
    gap = np.concatenate([[np.nan], np.abs(features[:, _GAP])])  # [N]
    regressors = np.column_stack([*np.log(means), down, gap])  # [N, 5]
    target = np.concatenate([np.log(variance[1:]), [np.nan]])  # [N]
    return regressors, target


def realised_scores(log_close: np.ndarray, positions: np.ndarray, horizon: int) -> np.ndarray:
    """|realised cumulative k-step log return| after each position, k = 1..H: [P] -> [P, H]."""
    ends = positions[:, None] + np.arange(1, horizon + 1)  # [P, H]
    return np.abs(log_close[ends] - log_close[positions, None])


def self_calibrated_band(
    name: str,
    level: float,
    last_close: np.ndarray,
    sigma: np.ndarray,
    past_scores: np.ndarray,
) -> Band:
    """A band around the last close [n] from each origin's sigma [n] and its past scores
    [n, m, H] (|realised k-step log return| / (sigma_j * sqrt(k)) of m earlier positions j whose
    targets are known at the origin): half-width q_k * sigma * sqrt(k), q_k the conformal
    quantile (`conformal_quantile`) of the step's m scores at `level`.

    This is how the served model self-calibrates an upload's band (`Forecaster._answer`), with
    one difference: the served model blends its own quantile with a prior stored at training
    (`Calibration.blended_quantiles`); a reference has no stored prior, so it takes its own
    quantile alone.
    """
    n, _, horizon = past_scores.shape
    quantiles = np.array(
        [
            [conformal_quantile(past_scores[i, :, k], level) for k in range(horizon)]
            for i in range(n)
        ]
    )  # [n, H]
    half_width = horizon_scale(sigma, horizon) * quantiles  # [n, H] log returns
    return _band(name, level, last_close, -half_width, half_width)


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
