"""Validated price bars as plain NumPy arrays: what the forecaster computes on.

Why: a served request touches its table a dozen times (features, closes, the last date, the bar
spacing), and each pandas column access or Series costs microseconds that add up to a large share
of a request's CPU time. The validator returns a DataFrame, for training and for people;
`Bars.from_frame` turns it into these arrays once, and the serving fast path (a plain CSV read by
NumPy's C reader) builds them directly, so both reach the forecaster's one code path as the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

import numpy as np
import pandas as pd

from stockcast.inputs.intervals import bar_time_text

OHLCV = ("Open", "High", "Low", "Close", "Volume")
CLOSE = OHLCV.index("Close")
DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class Bars:
    """Rows of a validated OHLCV table, oldest first."""

    stamps: np.ndarray  # int64 [N]: ns since the epoch, UTC when `tz` is set
    ohlcv: np.ndarray  # float64 [N, 5]: Open, High, Low, Close, Volume
    tz: tzinfo | None = None  # the Date column's time zone; None for naive dates

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Bars:
        """The bars of a validated frame (`Date` plus `OHLCV` columns)."""
        dates = frame["Date"]
        return cls(
            stamps=dates.array.as_unit("ns").asi8,
            ohlcv=np.column_stack([frame[name].to_numpy(np.float64) for name in OHLCV]),
            tz=dates.dt.tz,
        )

    def __len__(self) -> int:
        return len(self.stamps)

    @property
    def close(self) -> np.ndarray:
        """Closes [N]."""
        return self.ohlcv[:, CLOSE]

    def timestamp(self, row: int) -> pd.Timestamp:
        """Row `row`'s date, in the table's time zone."""
        return pd.Timestamp(int(self.stamps[row]), tz=self.tz)

    def day(self, row: int) -> np.datetime64:
        """Row `row`'s calendar day (datetime64[D]), by its own wall clock when time-zone-aware."""
        if self.tz is None:
            return np.datetime64(int(self.stamps[row]) // DAY_NS, "D")
        return np.datetime64(self.timestamp(row).tz_localize(None).date(), "D")

    def time_text(self, row: int) -> str:
        """Row `row`'s time as `bar_time_text` writes it; a naive midnight, a plain daily bar,
        without building a Timestamp (a served request writes two)."""
        stamp = int(self.stamps[row])
        if self.tz is None and stamp % DAY_NS == 0:
            return str(np.datetime64(stamp // DAY_NS, "D"))
        return bar_time_text(self.timestamp(row))
