"""Post-hoc calibration on the validation split: shrinkage toward the naive forecast and a
split-conformal prediction interval. Nothing here sees the test split.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from stockcast.errors import StockcastError

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
    return math.inf if rank > n else float(np.sort(scores)[rank - 1])


def min_calibration_rows(level: float) -> int:
    """The fewest rows with a bounded conformal band at `level`: ceil((n + 1) * level) <= n.

    At least 2 as well, so that the shrink rule has a standard error.
    """
    if not 0 < level < 1:
        raise CalibrationError(f"calibration.level must lie strictly between 0 and 1, got {level}")
    n = 2
    while math.ceil((n + 1) * level) > n:
        n += 1
    return n


def newey_west_standard_error(values: np.ndarray, horizon: int = 1) -> float:
    """Standard error of the mean of a serially dependent series [n] (Newey-West, Bartlett).

    Daily forecast errors are not independent: volatility clusters, and h-step targets overlap
    by h - 1 days, so the iid formula understates the noise in a mean difference. The lag is
    max(horizon - 1, floor(4 * (n / 100) ** (2 / 9))), the rule the backtest's Diebold-Mariano
    test uses; a negative long-run variance estimate counts as 0. Needs n >= 2.
    """
    n = values.size
    lag = min(max(horizon - 1, int(4 * (n / 100) ** (2 / 9))), n - 1)
    centred = values - values.mean()
    autocov = np.array([centred[k:] @ centred[: n - k] / n for k in range(lag + 1)])  # [lag+1]
    weights = 1.0 - np.arange(1, lag + 1) / (lag + 1)  # Bartlett, [lag]
    return math.sqrt(max(autocov[0] + 2.0 * weights @ autocov[1:], 0.0) / n)


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
    standard errors (Newey-West, of the paired difference of absolute errors) of the best one:
    a gain over naive that validation cannot tell from noise is not taken. 0 keeps the best
    factor as is.

    Args:
        raw_return: network log-return forecasts [n, H].
        actual_return: realised cumulative log returns [n, H].
        last_close: anchor closes [n].
        sigma: window volatility [n].
        level: interval coverage, e.g. 0.8.
        tolerance_se: how many standard errors of MAE a smaller shrink may give up.

    Raises:
        CalibrationError: fewer rows than `min_calibration_rows(level)` (4 at 0.8): no
            standard error, or no bounded conformal band.
    """
    n, horizon = raw_return.shape
    need = min_calibration_rows(level)
    if n < need:
        raise CalibrationError(
            f"calibration has {n} sample(s); a {level:.0%} conformal interval needs at least "
            f"{need} (with fewer its band is unbounded): give calibration more rows "
            f"(a larger data.val_fraction or a longer date range) or lower calibration.level"
        )
    actual_close = last_close[:, None] * np.exp(actual_return)  # [n, H]
    abs_errors = np.stack(
        [
            np.abs(last_close[:, None] * np.exp(a * raw_return) - actual_close).mean(axis=1)
            for a in SHRINK_GRID
        ]
    )  # [G, n]
    mae = abs_errors.mean(axis=1)
    best = int(np.argmin(mae))
    paired = abs_errors - abs_errors[best]  # [G, n]
    standard_error = np.array([newey_west_standard_error(row, horizon) for row in paired])  # [G]
    shrink = float(SHRINK_GRID[np.flatnonzero(mae <= mae[best] + tolerance_se * standard_error)[0]])
    scores = np.abs(actual_return - shrink * raw_return) / horizon_scale(sigma, horizon)
    quantiles = tuple(conformal_quantile(scores[:, k], level) for k in range(scores.shape[1]))
    return Calibration(shrink=shrink, level=level, quantiles=quantiles)
