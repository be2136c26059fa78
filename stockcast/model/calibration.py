"""Post-hoc calibration of the band: a conformal quantile of the realised moves in units of the
forecast scale, taken from a calibration split that no fitting or selection saw, and at serving
time re-taken on the upload's own recent days (self-calibration). Nothing here sees the test
split.

What the coverage rests on: the stored quantile is split-conformal (exchangeable calibration
rows give at least the nominal coverage on average); the self-calibrated quantile of an upload is
an empirical quantile of its own last days, which tracks the series but carries no finite-sample
guarantee, since its days are neither exchangeable with tomorrow nor held out from anything.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import cache, cached_property

import numpy as np
from numpy.lib.stride_tricks import as_strided

from stockcast.errors import StockcastError
from stockcast.model.features import FEATURE_NAMES, RETURN_FEATURE

_GAP, _RANGE, _BODY = (FEATURE_NAMES.index(name) for name in ("gap", "range", "body"))
# an upload's own quantile is used from this many scored days on (below, the stored one):
# fewer cannot place an 80% conformal rank (ceil((n + 1) * 0.8) <= n needs n >= 4) with any
# precision
MIN_SELF_ROWS = 20


@dataclass(frozen=True)
class CalibrationSettings:
    """What training is asked to calibrate. conf/calibration/default.yaml builds it (`_target_`)
    and holds every value: no field has a default here, so the config is their one source.

    level: nominal coverage of the conformal prediction interval (0.8 for 80%).
    vol_lambda, vol_estimator, self_rows, prior_rows: copied into the `Calibration` the model
        serves with; see there.
    """

    level: float
    vol_lambda: float
    vol_estimator: str
    self_rows: int
    prior_rows: int


@dataclass(frozen=True)
class Calibration:
    """Plain numbers stored beside the weights.

    level: nominal coverage of the interval (0.8 for an 80% interval).
    quantiles: per horizon step k, the conformal quantile of |move| / (sigma * sqrt(k) *
        exp(f_k)) on the calibration split, where sigma is the EWMA volatility (`vol_lambda`) of
        the daily variances inside the input window (the no-network scale) and f_k the network's
        log factor on it.
    baseline_quantiles: the same with f = 0: the band without the network (its ablation,
        `Forecaster.ablated`), calibrated on the same rows.
    vol_lambda: the EWMA decay of that volatility (RiskMetrics' 0.94; 1 weighs the window evenly).
    vol_estimator: the daily variance it averages: "close" (squared returns) or "ohlc" (gap and
        Garman-Klass range); see `window_volatility`.
    self_rows: at serving time, score the band on up to this many of the upload's own most
        recent days and take its quantile from them (0: always the stored quantiles), so a
        series calmer or wilder than the training tickers gets the band it needs. Counted in
        rows, whatever the market's calendar: 250 rows are a New York year, eight months of a
        seven-day market; each score is a one-row (or k-row) move, the unit the band forecasts.
    prior_rows: how many scores the stored quantile counts as in that blend: an upload with n
        scored days gets (n * its own quantile + prior_rows * stored) / (n + prior_rows).
    """

    level: float
    quantiles: tuple[float, ...]
    baseline_quantiles: tuple[float, ...]
    vol_lambda: float = 1.0
    self_rows: int = 0
    prior_rows: int = 50
    vol_estimator: str = "close"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(
            float(data["level"]),
            tuple(data["quantiles"]),
            tuple(data["baseline_quantiles"]),
            float(data.get("vol_lambda", 1.0)),
            int(data.get("self_rows", 0)),
            int(data.get("prior_rows", 50)),
            str(data.get("vol_estimator", "close")),
        )

    def without_network(self) -> Calibration:
        """The calibration of the band with the network's factor removed."""
        return replace(self, quantiles=self.baseline_quantiles)

    def volatility(self, windows: np.ndarray) -> np.ndarray:
        """The band's volatility scale of each raw window [n, W, F] -> [n]."""
        return window_volatility(windows, self.vol_lambda, self.vol_estimator)

    def rolling_volatility(self, features: np.ndarray, window: int) -> np.ndarray:
        """`volatility` of every `window`-row window of consecutive feature rows [M, F] ->
        [M - window + 1], oldest first. The same numbers, with each row's variance computed
        once instead of once per window that holds it (what a served upload needs: W times
        less arithmetic)."""
        daily = daily_variance(features, self.vol_estimator)  # [M], contiguous
        count, step = len(daily) - window + 1, daily.strides[0]
        # a read-only view of each window (sliding_window_view's checks cost 3x the view here),
        # copied contiguous so the weighted sums take the same BLAS call as `volatility`'s
        windows = as_strided(daily, (count, window), (step, step), writeable=False)  # [n, W]
        return ewma_volatility(np.ascontiguousarray(windows), self.vol_lambda)

    def blended_quantiles(self, scores: np.ndarray) -> tuple[np.ndarray, int]:
        """The quantile per step [H] for an upload whose own scores are `scores` [n, H], and n.

        Fewer than MIN_SELF_ROWS scores (or self-calibration off) keep the stored quantiles.
        """
        stored = self.stored_quantiles
        n = len(scores)
        if self.self_rows == 0 or n < MIN_SELF_ROWS:
            return stored, 0
        own = np.array([conformal_quantile(scores[:, k], self.level) for k in range(len(stored))])
        return (n * own + self.prior_rows * stored) / (n + self.prior_rows), n

    @cached_property
    def stored_quantiles(self) -> np.ndarray:
        """`quantiles` as an array [H] (read-only), built once: every served request reads it."""
        stored = np.array(self.quantiles, dtype=np.float64)
        stored.flags.writeable = False
        return stored


def window_volatility(
    windows: np.ndarray, vol_lambda: float = 1.0, estimator: str = "close"
) -> np.ndarray:
    """EWMA volatility of each raw window [n, W, F] -> [n]: the root of the `vol_lambda`-weighted
    mean of daily variance estimates (`daily_variance`), the newest weighing most (floored,
    never 0)."""
    return ewma_volatility(daily_variance(windows, estimator), vol_lambda)


def daily_variance(features: np.ndarray, estimator: str = "close") -> np.ndarray:
    """One variance estimate per bar from its feature row [..., F] -> [...].

    `estimator="close"`: squared close-to-close log returns. `"ohlc"`: the overnight gap squared
    plus Garman-Klass's intraday variance, 0.5 log(H/L)^2 - (2 ln 2 - 1) log(C/O)^2; it uses the
    day's range as well as its close, so it measures the same variance with far less noise.
    """
    if estimator == "close":
        return features[..., RETURN_FEATURE] ** 2
    if estimator == "ohlc":
        gap, spread, body = features[..., _GAP], features[..., _RANGE], features[..., _BODY]
        return gap**2 + 0.5 * spread**2 - (2 * math.log(2) - 1) * body**2
    raise ValueError(f"unknown volatility estimator {estimator!r}: use 'close' or 'ohlc'")


def ewma_volatility(daily: np.ndarray, vol_lambda: float) -> np.ndarray:
    """[n, W] daily variances, oldest first -> [n]: the root of their `vol_lambda`-weighted mean
    (weights vol_lambda^age, the newest 1), floored at 1e-6."""
    weights, total = _ewma_weights(vol_lambda, daily.shape[1])
    return np.maximum(np.sqrt(np.maximum(daily @ weights / total, 0.0)), 1e-6)


@cache
def _ewma_weights(vol_lambda: float, window: int) -> tuple[np.ndarray, float]:
    """The EWMA weights [W] (oldest first, the newest 1) and their sum, built once per setting."""
    weights = vol_lambda ** np.arange(window - 1, -1, -1)
    weights.flags.writeable = False
    return weights, weights.sum()


def horizon_scale(sigma: np.ndarray, horizon: int) -> np.ndarray:
    """Random-walk spread of a k-step return: sigma * sqrt(k). [n] -> [n, H]."""
    return sigma[:, None] * _root_steps(horizon)[None, :]


@cache
def _root_steps(horizon: int) -> np.ndarray:
    """sqrt(1..H) [H] (read-only), built once per horizon."""
    steps = np.sqrt(np.arange(1, horizon + 1))
    steps.flags.writeable = False
    return steps


class CalibrationError(StockcastError, ValueError):
    """The calibration rows cannot support what the config asks (too few of them)."""


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((n+1) * level)-th smallest score.

    With fewer than level / (1 - level) scores that rank lies past the largest score, and the
    only band with the promised coverage is unbounded: the answer is then inf, not the largest
    score (which would cover less than `level`).
    """
    n = len(scores)
    rank = math.ceil((n + 1) * level)
    return math.inf if rank > n else float(np.partition(scores, rank - 1)[rank - 1])


def min_calibration_rows(level: float) -> int:
    """The fewest rows with a bounded conformal band at `level`: ceil((n + 1) * level) <= n."""
    if not 0 < level < 1:
        raise CalibrationError(f"calibration.level must lie strictly between 0 and 1, got {level}")
    n = 1
    while math.ceil((n + 1) * level) > n:
        n += 1
    return n


def conformal_quantiles(
    log_factor: np.ndarray, actual_return: np.ndarray, sigma: np.ndarray, level: float
) -> tuple[float, ...]:
    """Per horizon step, the conformal quantile of |move| / (sigma * sqrt(k) * exp(f_k)).

    log_factor: the network's log factors [n, H] (zeros: the no-network band). actual_return:
    realised cumulative log returns [n, H]. sigma: the windows' no-network scale [n]. Pass rows
    that played no part in fitting or selection.

    Raises:
        CalibrationError: fewer rows than `min_calibration_rows(level)` (4 at 0.8): with fewer
            the band would be unbounded.
    """
    n, horizon = actual_return.shape
    need = min_calibration_rows(level)
    if n < need:
        raise CalibrationError(
            f"calibration has {n} sample(s); a {level:.0%} conformal interval needs at least "
            f"{need} (with fewer its band is unbounded): give calibration more rows "
            f"(a larger data.calib_fraction or a longer date range) or lower calibration.level"
        )
    scale = horizon_scale(sigma, horizon) * np.exp(log_factor)  # [n, H]
    scores = np.abs(actual_return) / scale
    return tuple(conformal_quantile(scores[:, k], level) for k in range(horizon))
