"""yfinance bar-interval strings ('1d', '1h', '15m', '5d', '1wk', '3mo'), read in one place.

The cache file name, how timestamps are written and the spacing of forecast dates all depend on
whether bars are intraday and how far apart they are; each asks here.
"""

from __future__ import annotations

import pandas as pd

DAILY = "1d"
# unit -> (pandas step for `count` units, intraday?)
_UNITS = {
    "m": (lambda n: pd.Timedelta(minutes=n), True),
    "h": (lambda n: pd.Timedelta(hours=n), True),
    "d": (lambda n: pd.Timedelta(days=n), False),
    "wk": (lambda n: pd.DateOffset(weeks=n), False),
    "mo": (lambda n: pd.DateOffset(months=n), False),
}


def parse_interval(interval: str) -> tuple[int, str]:
    """'15m' -> (15, 'm'); raises ValueError naming the accepted forms."""
    digits = "".join(ch for ch in interval if ch.isdigit())
    unit = interval.lstrip("0123456789")
    if unit not in _UNITS or interval != f"{digits}{unit}":
        raise ValueError(f"unknown interval {interval!r}: use e.g. 1d, 1h, 15m, 1wk, 1mo")
    return int(digits or 1), unit


def bar_step(interval: str) -> pd.DateOffset | pd.Timedelta:
    """The nominal time between two bars, as a pandas step."""
    count, unit = parse_interval(interval)
    return _UNITS[unit][0](count)


def is_intraday(interval: str) -> bool:
    """Intraday bars keep their timestamps; daily and longer bars are calendar dates."""
    return _UNITS[parse_interval(interval)[1]][1]
