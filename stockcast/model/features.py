"""Features derived from OHLCV, shared by training and the serving handler.

Everything is a log ratio, so a series that leaves its training price range (every stock, given
time) still produces inputs of the same scale. Row t of the feature matrix describes bar t of the
frame relative to bar t-1, which is why the first bar yields no row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURE_NAMES: tuple[str, ...] = (
    "log_return",  # log(C_t / C_{t-1}): the quantity the model forecasts
    "gap",  # log(O_t / C_{t-1}): overnight move
    "range",  # log(H_t / L_t): intraday volatility
    "body",  # log(C_t / O_t): intraday direction
    "volume_change",  # log((V_t + 1) / (V_{t-1} + 1)): activity shift, defined for zero volume
)
N_FEATURES = len(FEATURE_NAMES)
RETURN_FEATURE = FEATURE_NAMES.index("log_return")


def compute_features(frame: pd.DataFrame) -> np.ndarray:
    """Return the feature matrix [N-1, F] (float64) for a validated OHLCV frame of N rows."""
    return bar_features(
        np.column_stack(
            [
                frame[name].to_numpy(np.float64)
                for name in ("Open", "High", "Low", "Close", "Volume")
            ]
        )
    )


def bar_features(ohlcv: np.ndarray) -> np.ndarray:
    """The feature matrix [N-1, F] of validated bars [N, 5] (Open, High, Low, Close, Volume):
    the one implementation, which the frame path and the serving path both call."""
    columns = np.ascontiguousarray(ohlcv.T)  # [5, N], each row contiguous as NumPy likes
    o, h, lo, c = np.log(columns[:4])  # one call for the four prices' logs, each [N]
    log_v = np.log1p(columns[4])
    return np.stack(
        (
            c[1:] - c[:-1],
            o[1:] - c[:-1],
            h[1:] - lo[1:],
            c[1:] - o[1:],
            log_v[1:] - log_v[:-1],
        ),
        axis=1,
    )  # [N-1, F]


def anchor_closes(frame: pd.DataFrame) -> np.ndarray:
    """Closes aligned with the feature rows (bar t for feature row t-1), shape [N-1]."""
    return frame["Close"].to_numpy(np.float64)[1:]
