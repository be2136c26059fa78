"""Which bars have closed: the exchange's calendar decides, not the wall clock's date.

Yahoo returns today's bar while the market is open, its "close" the last trade so far. Cached as
if final, it would train and score a model on a price that later changes. exchange_calendars
knows each exchange's sessions, holidays and early closes (XNYS, the New York Stock Exchange, by
default: `data.calendar`).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from stockcast.inputs.calendars import DEFAULT_CALENDAR, exchange_calendar
from stockcast.inputs.intervals import bar_step, is_intraday, parse_interval


def last_closed_session(now: pd.Timestamp, calendar: str = DEFAULT_CALENDAR) -> date:
    """The last session of `calendar` whose close is at or before `now` (tz-aware)."""
    return exchange_calendar(calendar).minute_to_past_session(now).date()


def closed_bars(
    frame: pd.DataFrame, interval: str, now: pd.Timestamp, calendar: str = DEFAULT_CALENDAR
) -> pd.DataFrame:
    """The rows of a normalised frame whose bar had ended by `now` (tz-aware).

    An intraday bar ends one step after its timestamp; a daily bar with its session's close; a
    weekly or monthly bar once a session of the next period has closed (a little late on a
    Friday evening, never early).
    """
    dates = frame["Date"]
    if is_intraday(interval):
        keep = dates + bar_step(interval) <= (
            now if dates.dt.tz is not None else now.tz_convert(None)
        )
    elif parse_interval(interval) == (1, "d"):
        keep = dates <= pd.Timestamp(last_closed_session(now, calendar))
    else:
        keep = dates + bar_step(interval) <= pd.Timestamp(last_closed_session(now, calendar))
    return frame[keep.to_numpy()].reset_index(drop=True)
