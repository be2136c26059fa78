"""The bundled GOOG closes (and bars) and the origins of its last 400 scored days."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "GOOG.csv"
OHLCV = ["Open", "High", "Low", "Close", "Volume"]
SCORED_DAYS = 400


@pytest.fixture(scope="session")
def goog_closes() -> np.ndarray:
    return pd.read_csv(SAMPLE)["Close"].to_numpy(dtype=np.float64)


@pytest.fixture(scope="session")
def last_days_origins(goog_closes: np.ndarray) -> np.ndarray:
    """Origins whose one-step targets are the last 400 closes."""
    return np.arange(goog_closes.size - SCORED_DAYS - 1, goog_closes.size - 1)


@pytest.fixture(scope="session")
def goog_ohlcv() -> np.ndarray:
    """[N, 5] Open, High, Low, Close, Volume: the bars range-based references read."""
    return pd.read_csv(SAMPLE)[OHLCV].to_numpy(dtype=np.float64)
