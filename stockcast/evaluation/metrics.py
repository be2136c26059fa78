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
    last_close: np.ndarray, actual: np.ndarray, predicted: np.ndarray
) -> float | None:
    """Share of first-step served forecasts whose direction matches the real move.

    None when the served forecast never moves from the last close (the band model serves the
    naive forecast, which calls no direction). Days with no real move are left out.
    """
    if np.all(predicted[:, 0] == last_close):
        return None
    moved = actual[:, 0] != last_close
    real_up = actual[moved, 0] > last_close[moved]
    called_up = predicted[moved, 0] > last_close[moved]
    return float(np.mean(real_up == called_up))


def up_share(
    last_close: np.ndarray, actual: np.ndarray, among: np.ndarray | None = None
) -> float | None:
    """Share of (day, step) pairs on which the close rose: the accuracy of always calling 'up',
    the baseline for directional accuracy. The one definition, for training and the backtest.

    last_close: [n]; actual: [n, H] (pass actual[:, :1] for the first step alone). Pairs on which
    the close did not move are left out, as directional accuracy leaves them out: always-up is
    neither right nor wrong there. `among` [n, H] (bool) restricts the pairs further, e.g. to the
    ones a forecast called a direction on. None when no pair is left.
    """
    base = np.broadcast_to(last_close[:, None], actual.shape)  # [n, H]
    counted = actual != base
    if among is not None:
        counted &= among
    if not np.any(counted):
        return None
    return float(np.mean(actual[counted] > base[counted]))


def interval_coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual closes inside [lower, upper]."""
    return float(np.mean((actual >= lower) & (actual <= upper)))


def forecast_report(
    prefix: str,
    last_close: np.ndarray,
    actual: np.ndarray,
    predicted: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> dict[str, float | None]:
    """All reported figures for one split: the model and the naive baseline side by side."""
    model = point_metrics(actual, predicted)
    naive = point_metrics(actual, naive_forecast(last_close, actual.shape[1]))
    report = {f"{prefix}/{name}": value for name, value in model.items()}
    report.update({f"{prefix}/naive_{name}": value for name, value in naive.items()})
    # MAE relative to naive's on the same days (not Hyndman's MASE, which scales by the
    # in-sample naive MAE); called `mase` before 0.2.0
    report[f"{prefix}/rel_mae"] = model["mae"] / naive["mae"]
    report[f"{prefix}/directional_accuracy"] = directional_accuracy(last_close, actual, predicted)
    report[f"{prefix}/up_share"] = up_share(last_close, actual[:, :1])  # the first step, as above
    report[f"{prefix}/interval_coverage"] = interval_coverage(actual, lower, upper)
    report[f"{prefix}/interval_width"] = float(np.mean(upper - lower))
    report[f"{prefix}/samples"] = float(len(actual))
    return report
