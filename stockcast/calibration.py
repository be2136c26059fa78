"""Post-hoc calibration on the validation split: shrinkage toward the naive forecast and a
split-conformal prediction interval. Nothing here sees the test split.
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
) -> Calibration:
    """Choose the shrinkage that minimises validation price MAE, then the conformal quantiles.

    Args:
        raw_return: network log-return forecasts [n, H].
        actual_return: realised cumulative log returns [n, H].
        last_close: anchor closes [n].
        sigma: window volatility [n].
        level: interval coverage, e.g. 0.8.
    """
    actual_close = last_close[:, None] * np.exp(actual_return)
    errors = [
        np.mean(np.abs(last_close[:, None] * np.exp(a * raw_return) - actual_close))
        for a in SHRINK_GRID
    ]
    shrink = float(SHRINK_GRID[int(np.argmin(errors))])  # ties keep the smaller factor
    scores = np.abs(actual_return - shrink * raw_return) / horizon_scale(sigma, raw_return.shape[1])
    quantiles = tuple(conformal_quantile(scores[:, k], level) for k in range(scores.shape[1]))
    return Calibration(shrink=shrink, level=level, quantiles=quantiles)
