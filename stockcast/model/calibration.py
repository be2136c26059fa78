"""Post-hoc calibration: shrinkage toward the naive forecast, chosen on the selection split, and
a split-conformal prediction interval, whose scores come from a calibration split that no fitting
or selection saw (split-conformal coverage holds only then). Nothing here sees the test split.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from stockcast.data.features import FEATURE_NAMES, RETURN_FEATURE

SHRINK_GRID = np.linspace(0.0, 1.0, 21)
# an upload's own quantile is used from this many scored days on (below, the stored one):
# fewer cannot place an 80% conformal rank (ceil((n + 1) * 0.8) <= n needs n >= 4) with any
# precision
MIN_SELF_ROWS = 20


@dataclass(frozen=True)
class Calibration:
    """Plain numbers stored beside the weights.

    shrink: factor in [0, 1] applied to the network's log-return forecast. 0 is the naive
        forecast; it is picked on validation, so a network without skill falls back to naive
        instead of adding noise to it.
    level: nominal coverage of the interval (0.8 for an 80% interval).
    quantiles: per horizon step k, the conformal quantile of |error| / (sigma * sqrt(k)) on the
        calibration split, where sigma is the EWMA volatility (`vol_lambda`) of the daily log
        returns inside the input window; the band widens within days of a turbulent spell.
    vol_lambda: the EWMA decay of that volatility (RiskMetrics' 0.94; 1 weighs the window evenly).
    vol_estimator: the daily variance it averages: "close" (squared returns) or "ohlc" (gap and
        Garman-Klass range); see `window_volatility`.
    self_rows: at serving time, score the model on up to this many of the upload's own most
        recent days and take the band's quantile from them (0: always the stored quantiles),
        so a series calmer or wilder than the training tickers gets the band it needs.
    prior_rows: how many scores the stored quantile counts as in that blend: an upload with n
        scored days gets (n * its own quantile + prior_rows * stored) / (n + prior_rows).
    """

    shrink: float
    level: float
    quantiles: tuple[float, ...]
    vol_lambda: float = 1.0
    self_rows: int = 0
    prior_rows: int = 50
    vol_estimator: str = "close"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(
            float(data["shrink"]),
            float(data["level"]),
            tuple(data["quantiles"]),
            float(data.get("vol_lambda", 1.0)),
            int(data.get("self_rows", 0)),
            int(data.get("prior_rows", 50)),
            str(data.get("vol_estimator", "close")),
        )

    def volatility(self, windows: np.ndarray) -> np.ndarray:
        """The band's volatility scale of each raw window [n, W, F] -> [n]."""
        return window_volatility(windows, self.vol_lambda, self.vol_estimator)

    def blended_quantiles(self, scores: np.ndarray) -> tuple[np.ndarray, int]:
        """The quantile per step [H] for an upload whose own scores are `scores` [n, H], and n.

        Fewer than MIN_SELF_ROWS scores (or self-calibration off) keep the stored quantiles.
        """
        stored = np.asarray(self.quantiles)
        n = len(scores)
        if self.self_rows == 0 or n < MIN_SELF_ROWS:
            return stored, 0
        own = np.array([conformal_quantile(scores[:, k], self.level) for k in range(len(stored))])
        return (n * own + self.prior_rows * stored) / (n + self.prior_rows), n


def window_volatility(
    windows: np.ndarray, vol_lambda: float = 1.0, estimator: str = "close"
) -> np.ndarray:
    """EWMA volatility of each raw window [n, W, F] -> [n]: the root of the `vol_lambda`-weighted
    mean of daily variance estimates, the newest weighing most (floored, never 0).

    `estimator="close"`: squared close-to-close log returns. `"ohlc"`: the overnight gap squared
    plus Garman-Klass's intraday variance, 0.5 log(H/L)^2 - (2 ln 2 - 1) log(C/O)^2; it uses the
    day's range as well as its close, so it measures the same variance with far less noise.
    """
    if estimator == "close":
        daily = windows[:, :, RETURN_FEATURE] ** 2  # [n, W]
    elif estimator == "ohlc":
        gap, spread, body = (
            windows[:, :, FEATURE_NAMES.index(f)] for f in ("gap", "range", "body")
        )
        daily = gap**2 + 0.5 * spread**2 - (2 * math.log(2) - 1) * body**2  # [n, W]
    else:
        raise ValueError(f"unknown volatility estimator {estimator!r}: use 'close' or 'ohlc'")
    weights = vol_lambda ** np.arange(daily.shape[1] - 1, -1, -1)  # [W], newest 1
    return np.maximum(np.sqrt(np.maximum(daily @ weights / weights.sum(), 0.0)), 1e-6)


def horizon_scale(sigma: np.ndarray, horizon: int) -> np.ndarray:
    """Random-walk spread of a k-step return: sigma * sqrt(k). [n] -> [n, H]."""
    return sigma[:, None] * np.sqrt(np.arange(1, horizon + 1))[None, :]


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((n+1) * level)-th smallest score."""
    n = len(scores)
    rank = min(math.ceil((n + 1) * level), n)
    return float(np.sort(scores)[rank - 1])


def fit_calibration(
    raw_return: np.ndarray,
    actual_return: np.ndarray,
    last_close: np.ndarray,
    sigma: np.ndarray,
    level: float,
    tolerance_se: float = 0.5,
) -> Calibration:
    """Choose the shrinkage on validation price errors, then the conformal quantiles.

    The shrink is the smallest grid value whose validation MAE lies within `tolerance_se`
    standard errors (of the paired difference of absolute errors) of the best one: a gain over
    naive that validation cannot tell from noise is not taken. 0 keeps the best factor as is.

    Args:
        raw_return: network log-return forecasts [n, H].
        actual_return: realised cumulative log returns [n, H].
        last_close: anchor closes [n].
        sigma: window volatility [n].
        level: interval coverage, e.g. 0.8.
        tolerance_se: how many standard errors of MAE a smaller shrink may give up.
    """
    actual_close = last_close[:, None] * np.exp(actual_return)  # [n, H]
    abs_errors = np.stack(
        [
            np.abs(last_close[:, None] * np.exp(a * raw_return) - actual_close).mean(axis=1)
            for a in SHRINK_GRID
        ]
    )  # [G, n]
    mae = abs_errors.mean(axis=1)
    best = int(np.argmin(mae))
    paired = abs_errors - abs_errors[best]
    standard_error = paired.std(axis=1, ddof=1) / np.sqrt(paired.shape[1])
    shrink = float(SHRINK_GRID[np.flatnonzero(mae <= mae[best] + tolerance_se * standard_error)[0]])
    quantiles = conformal_quantiles(raw_return, actual_return, sigma, shrink, level)
    return Calibration(shrink=shrink, level=level, quantiles=quantiles)


def conformal_quantiles(
    raw_return: np.ndarray,
    actual_return: np.ndarray,
    sigma: np.ndarray,
    shrink: float,
    level: float,
) -> tuple[float, ...]:
    """Per horizon step, the conformal quantile of |error| / (sigma * sqrt(k)) of the served
    (shrunk) forecast. Pass rows that played no part in fitting or choosing `shrink`."""
    scores = np.abs(actual_return - shrink * raw_return) / horizon_scale(sigma, raw_return.shape[1])
    return tuple(conformal_quantile(scores[:, k], level) for k in range(scores.shape[1]))
