"""Scores for the walk-forward backtest: point errors, interval scores and the Diebold-Mariano
test, with Holm's correction when one model is tested against several references.

Every method, the model and the references alike, goes through `score_method`, so their figures
differ only by their forecasts. Arrays are [n, H]: n origins (days), H steps ahead.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import t as student_t

from stockcast.evaluation.metrics import interval_coverage, up_share
from stockcast.evaluation.references import Band


def interval_score(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, alpha: float = 0.2
) -> np.ndarray:
    """Winkler / Gneiting-Raftery interval score of a central (1 - alpha) band, per element.

    Width plus 2 / alpha times the distance by which the actual falls outside; lower is better,
    and it rewards a band that is narrow without missing often. Price units.
    """
    below = np.maximum(lower - actual, 0.0)
    above = np.maximum(actual - upper, 0.0)
    return (upper - lower) + 2.0 / alpha * (below + above)


def pinball(actual: np.ndarray, quantile_forecast: np.ndarray, q: float) -> np.ndarray:
    """Pinball (quantile) loss of a q-quantile forecast, per element; minimised by the true quantile."""
    error = actual - quantile_forecast
    return np.maximum(q * error, (q - 1.0) * error)


def mean_width(last_close: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Mean band width as a fraction of the last close ([n] against [n, H]), comparable across tickers."""
    return float(np.mean((upper - lower) / last_close[:, None]))


def direction_calls(
    last_close: np.ndarray, actual: np.ndarray, point: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(called, moved, judged) [n, H]: the sign of the forecast's move and of the actual one, and
    the pairs where both are non-zero, the only ones a direction can be judged on."""
    called = np.sign(point - last_close[:, None])  # [n, H]
    moved = np.sign(actual - last_close[:, None])  # [n, H]
    return called, moved, (called != 0) & (moved != 0)


def directional_accuracy(
    last_close: np.ndarray, actual: np.ndarray, point: np.ndarray
) -> float | None:
    """Share of (day, step) pairs where the forecast moves the same way as the actual, over the
    pairs where the forecast calls a direction and the close moved.

    None when the point forecast equals the last close everywhere: a forecast with no direction
    has no directional accuracy, and 0 would read as always wrong. Likewise a day on which the
    served forecast is the last close calls nothing and is left out.
    """
    called, moved, judged = direction_calls(last_close, actual, point)
    if not np.any(judged):
        return None
    return float(np.mean(called[judged] == moved[judged]))


def score_method(
    last_close: np.ndarray, actual: np.ndarray, band: Band, naive_mae: float
) -> dict[str, float | int | None]:
    """All backtest figures of one method; each is a mean over every day and step.

    last_close: [n] the close at each origin. actual: [n, H] the closes the band targets.
    naive_mae: the naive forecast's MAE on the same days and steps. `mase` is this method's MAE
    over it, a relative MAE (not Hyndman's in-sample-scaled MASE); `rel_mae` holds the same value
    under its plain name. mae, rmse and winkler are in price units; mean_width is relative to the
    last close. The pinball keys are named for the band's quantiles (pinball_10 and pinball_90 at
    level 0.8), scoring its lower and upper edges. `directional_accuracy` is judged on
    `direction_n` (day, step) pairs, those where the forecast called a direction and the close
    moved; `direction_up_share` is always-up's accuracy on those same pairs, its baseline, and
    `up_share` always-up's on every pair where the close moved (`metrics.up_share`).
    """
    if actual.shape != band.point.shape or last_close.shape != actual.shape[:1]:
        raise ValueError(
            f"shapes disagree: last_close {last_close.shape}, actual {actual.shape}, "
            f"band {band.point.shape}; need [n], [n, H] and [n, H]"
        )
    alpha = 1.0 - band.level
    error = band.point - actual  # [n, H]
    _, _, judged = direction_calls(last_close, actual, band.point)
    mae = float(np.mean(np.abs(error)))
    low_q, high_q = alpha / 2, 1.0 - alpha / 2
    return {
        "n": int(actual.shape[0]),
        "mae": mae,
        "mase": mae / naive_mae,
        "rel_mae": mae / naive_mae,
        "rmse": float(np.sqrt(np.mean(error**2))),
        "directional_accuracy": directional_accuracy(last_close, actual, band.point),
        "direction_n": int(np.count_nonzero(judged)),
        "direction_up_share": up_share(last_close, actual, among=judged),
        "up_share": up_share(last_close, actual),
        "coverage": interval_coverage(actual, band.lower, band.upper),
        "mean_width": mean_width(last_close, band.lower, band.upper),
        "winkler": float(np.mean(interval_score(actual, band.lower, band.upper, alpha))),
        f"pinball_{round(100 * low_q)}": float(np.mean(pinball(actual, band.lower, low_q))),
        f"pinball_{round(100 * high_q)}": float(np.mean(pinball(actual, band.upper, high_q))),
    }


def diebold_mariano(
    loss_a: np.ndarray, loss_b: np.ndarray, horizon: int = 1, lag: int | None = None
) -> dict[str, float]:
    """Diebold-Mariano test of equal expected loss, with the Harvey-Leybourne-Newbold correction.

    d = loss_a - loss_b ([n], one loss per day); a negative statistic means `a` has the lower
    loss. The long-run variance of d is Newey-West (Bartlett weights) with `lag` autocovariances;
    by default max(horizon - 1, floor(4 * (n / 100) ** (2 / 9))), a little more than the h - 1
    that h-step errors need, because daily losses of volatility bands are themselves
    autocorrelated. The statistic is multiplied by sqrt((n + 1 - 2h + h(h - 1) / n) / n) and
    compared with Student t on n - 1 degrees of freedom (two-sided). A d with no variance gives
    statistic 0 and p 1 when it is all zeros, and +-inf with p 0 otherwise.
    """
    d = np.asarray(loss_a, dtype=np.float64) - np.asarray(loss_b, dtype=np.float64)  # [n]
    n = d.size
    if d.ndim != 1 or n < 2 or np.asarray(loss_a).shape != np.asarray(loss_b).shape:
        raise ValueError("loss_a and loss_b must be 1-D arrays of the same length, at least 2")
    if lag is None:
        lag = max(horizon - 1, int(4 * (n / 100) ** (2 / 9)))
    lag = min(lag, n - 1)
    mean_diff = float(d.mean())
    centred = d - mean_diff
    autocov = np.array([centred[k:] @ centred[: n - k] / n for k in range(lag + 1)])  # [lag+1]
    weights = 1.0 - np.arange(1, lag + 1) / (lag + 1)  # Bartlett, [lag]
    long_run_variance = autocov[0] + 2.0 * weights @ autocov[1:]
    if long_run_variance <= 0.0:
        statistic = 0.0 if mean_diff == 0.0 else float(np.copysign(np.inf, mean_diff))
        return {"statistic": statistic, "p_value": float(statistic == 0.0), "mean_diff": mean_diff}
    correction = np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = float(mean_diff / np.sqrt(long_run_variance / n) * correction)
    p_value = float(2.0 * student_t.sf(abs(statistic), df=n - 1))
    return {"statistic": statistic, "p_value": p_value, "mean_diff": mean_diff}


def holm_adjusted(tests: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The same tests, each with `p_holm` beside its `p_value`: Holm's step-down adjustment across
    all of them.

    One model tested against several references gets several chances at a small p-value; Holm
    keeps the chance of any false "better" at the nominal level whatever the dependence between
    the tests (they share the model's losses), and is never less powerful than Bonferroni. A
    test's `p_holm` is at least its `p_value`, and the adjusted values keep the raw ones' order.

    The adjustment is the textbook one (the i-th smallest of m p-values times m - i + 1, a running
    maximum, capped at 1), held equal to statsmodels' `multipletests(method="holm")` by a test:
    statsmodels runs a full `gc.collect()` on every Holm call, 0.2-0.3 s in a process holding
    torch and MLflow, which a promotion decision or a backtest summary need not pay.
    """
    if not tests:
        return {}
    names = list(tests)
    p = np.array([tests[name]["p_value"] for name in names], dtype=np.float64)
    order = np.argsort(p, kind="stable")
    steps = p[order] * np.arange(len(p), 0, -1)  # the i-th smallest times m - i + 1
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return {
        name: {**tests[name], "p_holm": float(value)}
        for name, value in zip(names, adjusted, strict=True)
    }
