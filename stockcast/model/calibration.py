"""Post-hoc calibration: shrinkage toward the naive forecast, chosen on the selection split, and
a split-conformal prediction interval, whose scores come from a calibration split that no fitting
or selection saw (split-conformal coverage holds only then). Nothing here sees the test split.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

SHRINK_GRID = np.linspace(0.0, 1.0, 21)


@dataclass(frozen=True)
class Calibration:
    """Plain numbers stored beside the weights.

    shrink: factor in [0, 1] applied to the network's log-return forecast. 0 is the naive
        forecast; it is picked on validation, so a network without skill falls back to naive
        instead of adding noise to it.
    level: nominal coverage of the interval (0.8 for an 80% interval).
    quantiles: per horizon step k, the conformal quantile of |error| / (sigma * sqrt(k)), where
        sigma is the std of daily log returns inside the input window; the band therefore
        widens in volatile periods and narrows in calm ones.
    """

    shrink: float
    level: float
    quantiles: tuple[float, ...]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(float(data["shrink"]), float(data["level"]), tuple(data["quantiles"]))


def window_volatility(windows: np.ndarray, return_column: int) -> np.ndarray:
    """Std of the daily log returns in each raw window [n, W, F] -> [n] (floored, never 0)."""
    return np.maximum(windows[:, :, return_column].std(axis=1), 1e-6)


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
