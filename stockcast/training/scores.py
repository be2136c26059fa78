"""Price-unit metrics, applied identically to the model and to the naive baseline."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, mean_squared_error


def naive_forecast(last_close: np.ndarray, horizon: int) -> np.ndarray:
    """The random-walk forecast: every future close equals the last one. [n] -> [n, H]."""
    return np.repeat(last_close[:, None], horizon, axis=1)


def point_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE (price units) and MAPE (percent) over all horizons of [n, H] arrays."""
    actual, predicted = actual.reshape(-1), predicted.reshape(-1)
    return {
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "mape": float(100 * mean_absolute_percentage_error(actual, predicted)),
    }


def directional_accuracy(
    last_close: np.ndarray, actual: np.ndarray, predicted_return: np.ndarray
) -> float:
    """Share of first-step forecasts whose sign of change matches the real move.

    `predicted_return` is the network's own log-return call (before shrinkage, which scales but
    never flips it). Days with no real move are left out.
    """
    moved = actual[:, 0] != last_close
    real_up = actual[moved, 0] > last_close[moved]
    called_up = predicted_return[moved, 0] > 0
    return float(np.mean(real_up == called_up))


def up_share(last_close: np.ndarray, actual: np.ndarray) -> float:
    """Share of days the close rose: the accuracy of always calling 'up', the baseline for direction."""
    moved = actual[:, 0] != last_close
    return float(np.mean(actual[moved, 0] > last_close[moved]))


def interval_coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual closes inside [lower, upper]."""
    return float(np.mean((actual >= lower) & (actual <= upper)))


def forecast_report(
    prefix: str,
    last_close: np.ndarray,
    actual: np.ndarray,
    predicted: np.ndarray,
    raw_return: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> dict[str, float]:
    """All reported figures for one split: the model and the naive baseline side by side."""
    model = point_metrics(actual, predicted)
    naive = point_metrics(actual, naive_forecast(last_close, actual.shape[1]))
    report = {f"{prefix}/{name}": value for name, value in model.items()}
    report.update({f"{prefix}/naive_{name}": value for name, value in naive.items()})
    report[f"{prefix}/mase"] = model["mae"] / naive["mae"]
    report[f"{prefix}/directional_accuracy"] = directional_accuracy(last_close, actual, raw_return)
    report[f"{prefix}/up_share"] = up_share(last_close, actual)
    report[f"{prefix}/interval_coverage"] = interval_coverage(actual, lower, upper)
    report[f"{prefix}/interval_width"] = float(np.mean(upper - lower))
    report[f"{prefix}/samples"] = float(len(actual))
    return report
