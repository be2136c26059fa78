"""yfinance bar-interval strings ('1d', '1h', '15m', '5d', '1wk', '3mo'), read in one place.

The cache file name, how timestamps are written and the spacing of forecast dates all depend on
whether bars are intraday and how far apart they are; each asks here.
"""

from __future__ import annotations

import pandas as pd

DAILY = "1d"
# unit -> (pandas step for `count` units, intraday?, the word for one unit)
_UNITS = {
    "m": (lambda n: pd.Timedelta(minutes=n), True, "minute"),
    "h": (lambda n: pd.Timedelta(hours=n), True, "hour"),
    "d": (lambda n: pd.Timedelta(days=n), False, "day"),
    "wk": (lambda n: pd.DateOffset(weeks=n), False, "week"),
    "mo": (lambda n: pd.DateOffset(months=n), False, "month"),
}
_ONE_UNIT_NAMES = {"h": "hourly", "d": "daily", "wk": "weekly", "mo": "monthly"}


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


def nominal_duration(interval: str) -> pd.Timedelta:
    """The usual time between two bars as a fixed length (a month counts 365.25 / 12 days)."""
    step = bar_step(interval)
    if isinstance(step, pd.Timedelta):
        return step
    count, unit = parse_interval(interval)
    return pd.Timedelta(weeks=count) if unit == "wk" else pd.Timedelta(days=365.25 / 12 * count)


def bar_name(interval: str) -> str:
    """'1d' -> 'daily', '1h' -> 'hourly', '15m' -> '15-minute': how a refusal names the bars."""
    count, unit = parse_interval(interval)
    if count == 1 and unit in _ONE_UNIT_NAMES:
        return _ONE_UNIT_NAMES[unit]
    return f"{count}-{_UNITS[unit][2]}"


def is_intraday(interval: str) -> bool:
    """Intraday bars keep their timestamps; daily and longer bars are calendar dates."""
    return _UNITS[parse_interval(interval)[1]][1]


def bar_time_text(ts: pd.Timestamp) -> str:
    """A bar's time as JSON and the cache record write it: `YYYY-MM-DD` for a date (a daily or
    longer bar), the full ISO timestamp otherwise."""
    ts = pd.Timestamp(ts)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() and ts.tz is None else ts.isoformat()
