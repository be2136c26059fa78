"""What the network reads: each window's bars relative to the window's own volatility scale.

The network forecasts a factor on the band's no-network scale (the range-based EWMA volatility of
the window, `Calibration.volatility`), so it reads each window in units of that scale: the
return, gap, range and body of every bar divided by it, the volume change as it is, and the log
of the scale itself as one more channel (calm and wild spells revert to the mean). A window is
then "calm or wild against its own recent level", whatever the stock's price or era, which is
what a correction to the EWMA needs to know.
"""

from __future__ import annotations

import numpy as np

from stockcast.model.features import FEATURE_NAMES

# the feature columns in return units (divided by the scale); the others pass through
PRICE_MOVES = tuple(FEATURE_NAMES.index(name) for name in ("log_return", "gap", "range", "body"))
INPUT_NAMES: tuple[str, ...] = (
    *(f"{name}/scale" if i in PRICE_MOVES else name for i, name in enumerate(FEATURE_NAMES)),
    "log_scale",
)
N_INPUTS = len(INPUT_NAMES)


def network_inputs(windows: np.ndarray, scale: np.ndarray, rows: int | None = None) -> np.ndarray:
    """Raw feature windows [n, W, F] and their no-network scale [n] -> inputs [n, rows, F + 1]
    of each window's last `rows` rows (all W by default)."""
    windows = windows[:, -rows:] if rows else windows
    inputs = np.empty((*windows.shape[:2], N_INPUTS), dtype=np.float64)
    inputs[..., : windows.shape[2]] = windows
    inputs[..., PRICE_MOVES] /= scale[:, None, None]
    inputs[..., -1] = np.log(scale)[:, None]
    return inputs
