"""Input drift: how unusual an upload's recent volatility and last return are for this model.

Training stores a small quantile table of what the network learned from: the 20-day volatility
(std of daily log returns over 20 days) and the daily log return of its training rows. The
service places each upload's latest 20-day volatility and last return in those tables. A
percentile near 0.5 is an ordinary day of the training period; one near 0 or 1 is a market the
network saw rarely or never (a crash, a regime far calmer or wilder than its history), where its
forecast and band deserve less trust. Plain numbers in forecaster.json, no pickle.

Both are counted in rows, never in calendar days or trading days a year: a row's return and a
20-row volatility mean the same per-bar quantity on any market (20 rows are four New York weeks,
under three of a seven-day market), the quantity the network reads. Nothing is annualised, so no
days-per-year figure (252 or 365) enters, and a seven-day upload is placed as its rows dated on
weekdays would be.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

DRIFT_WINDOW = 20  # rows: about a month of sessions, the usual horizon of "recent volatility"
LEVELS = np.linspace(0.0, 1.0, 101)  # the table's quantile levels: every percent


@dataclass(frozen=True)
class DriftReference:
    """Quantiles (at `LEVELS`) of the training rows' `window`-day volatility and daily return."""

    window: int
    volatility: tuple[float, ...]
    returns: tuple[float, ...]

    @classmethod
    def fit(cls, returns: Sequence[np.ndarray], window: int = DRIFT_WINDOW) -> DriftReference:
        """From the daily log returns of each training series (a ticker's rows): volatility
        windows never straddle two series, and a series shorter than `window` adds its returns
        only."""
        volatility = np.concatenate(
            [sliding_window_view(r, window).std(axis=1) for r in returns if len(r) >= window]
        )  # [sum of n - window + 1]
        pooled = np.concatenate(list(returns))
        return cls(
            window,
            tuple(float(q) for q in np.quantile(volatility, LEVELS)),
            tuple(float(q) for q in np.quantile(pooled, LEVELS)),
        )

    def describe(self, returns: np.ndarray) -> dict[str, float | int] | None:
        """Where the upload's daily log returns [n] sit in the training distribution; None when
        the upload holds fewer than `window` returns."""
        if len(returns) < self.window:
            return None
        recent = returns[-self.window :]
        deviation = recent - recent.mean()  # np.std's own steps, without its wrapper's overhead
        volatility = math.sqrt((deviation * deviation).sum() / self.window)
        last = float(returns[-1])
        volatility_levels, return_levels = self._tables
        return {
            "window": self.window,
            "volatility": volatility,
            "volatility_percentile": percentile(volatility, volatility_levels),
            "last_return": last,
            "return_percentile": percentile(last, return_levels),
        }

    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The two quantile tables as arrays, built once (every request reads them)."""
        return np.asarray(self.volatility), np.asarray(self.returns)

    def to_dict(self) -> dict:
        return {"window": self.window, "volatility": self.volatility, "returns": self.returns}

    @classmethod
    def from_dict(cls, data: dict) -> DriftReference:
        return cls(int(data["window"]), tuple(data["volatility"]), tuple(data["returns"]))


def percentile(value: float, quantiles: Sequence[float] | np.ndarray) -> float:
    """The share of the reference below `value`, read off its quantile table: 0 below the
    smallest, 1 above the largest, linear in between."""
    return float(np.interp(value, quantiles, LEVELS))
