"""Trading sessions of an exchange, so that daily forecasts fall on days its market is open.

`exchange_calendars` keeps each exchange's weekends, holidays and unscheduled closures (the NYSE's
2001-09-11..14, for one). Building a calendar takes about half a second, so each is built once per
process and kept as a sorted array of session dates; dating a forecast is then one binary search.
"""

from __future__ import annotations

from functools import cache

import exchange_calendars
import numpy as np
import pandas as pd

from stockcast.errors import DataValidationError

DEFAULT_CALENDAR = "XNYS"  # the New York Stock Exchange; artifacts that name no calendar used it
# Uploads reach back decades (IBM trades from 1962 on Yahoo); exchanges whose calendar begins later
# start at their own first date.
EARLIEST = pd.Timestamp("1970-01-01")


@cache
def exchange_calendar(name: str) -> exchange_calendars.ExchangeCalendar:
    """Calendar `name` from EARLIEST (or its own first date), built once per process.

    Raises:
        DataValidationError: `name` is not an `exchange_calendars` calendar.
    """
    try:
        return exchange_calendars.get_calendar(name, start=EARLIEST)
    except exchange_calendars.errors.InvalidCalendarName:
        raise DataValidationError(
            f"unknown exchange calendar {name!r}: use an exchange_calendars name such as XNYS "
            "(New York), XLON (London), XTKS (Tokyo) or 24/7",
            "unknown_calendar",
        ) from None
    except ValueError:  # this exchange's calendar begins after EARLIEST
        first = type(exchange_calendars.get_calendar(name)).bound_min()
        return exchange_calendars.get_calendar(name, start=first)


@cache
def trading_sessions(name: str) -> np.ndarray:
    """The session dates of calendar `name`, ascending, as datetime64[ns] [S]."""
    return exchange_calendar(name).sessions.to_numpy(dtype="datetime64[ns]")


@cache
def session_days(name: str) -> np.ndarray:
    """`trading_sessions` as calendar days, datetime64[D] [S]: what forecasts are dated with."""
    return trading_sessions(name).astype("datetime64[D]")


def next_sessions(name: str, after: pd.Timestamp, count: int) -> list[pd.Timestamp]:
    """The `count` sessions of calendar `name` that follow the date of `after`.

    A time-zone-aware `after` counts by its own wall-clock date (daily bars carry the exchange's
    local date).

    Raises:
        DataValidationError: `after` is outside the calendar's range, so its sessions are unknown.
    """
    stamp = pd.Timestamp(after)
    day = (stamp.tz_localize(None) if stamp.tz is not None else stamp).to_datetime64()
    return [
        pd.Timestamp(day) for day in next_session_days(name, day.astype("datetime64[D]"), count)
    ]


def next_session_days(name: str, day: np.datetime64, count: int) -> np.ndarray:
    """The `count` sessions of calendar `name` after calendar day `day` (datetime64[D]), as
    datetime64[D] [count]: one binary search, what a served request pays (no Timestamp).

    Raises:
        DataValidationError: `day` is outside the calendar's range, so its sessions are unknown.
    """
    sessions = session_days(name)
    first = int(sessions.searchsorted(day, side="right"))
    if first == 0 or first + count > len(sessions):
        known = "{}..{}".format(*sessions[[0, -1]])
        raise DataValidationError(
            f"the data end on {day}, outside the {name} trading calendar ({known}), "
            f"so the next {count} session(s) cannot be dated; send rows that end within it",
            "outside_calendar",
        )
    return sessions[first : first + count]
