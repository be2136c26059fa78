"""Trading sessions of an exchange, so that daily forecasts fall on days its market is open.

`exchange_calendars` keeps each exchange's weekends, holidays and unscheduled closures (the NYSE's
2001-09-11..14, for one). Building a calendar takes about half a second, so each is built once per
process and kept as a sorted array of session dates; dating a forecast is then one binary search.
`always-open` (crypto, which trades every day) is every calendar day, built without
`exchange_calendars`.
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
ALWAYS_OPEN = "always-open"  # a market open every calendar day
_ALWAYS_OPEN_NAMES = frozenset({ALWAYS_OPEN, "24/7"})  # 24/7: exchange_calendars' own name


@cache
def calendar_names() -> tuple[str, ...]:
    """The names a client may ask for: `always-open`, then `exchange_calendars`' own (aliases
    such as NYSE are accepted too, and answered by these names)."""
    names = set(exchange_calendars.get_calendar_names(include_aliases=False)) - _ALWAYS_OPEN_NAMES
    return (ALWAYS_OPEN, *sorted(names))


def resolve_calendar(name: str) -> str:
    """The canonical name of calendar `name` (case-insensitive; aliases resolved).

    Raises:
        DataValidationError(reason="unknown_calendar"): no such calendar; the message lists the
            accepted names.
    """
    wanted = name.strip()
    if wanted.lower() in _ALWAYS_OPEN_NAMES:
        return ALWAYS_OPEN
    for candidate in (wanted, wanted.upper()):
        if candidate in _known_names():
            canonical = exchange_calendars.resolve_alias(candidate)
            return ALWAYS_OPEN if canonical in _ALWAYS_OPEN_NAMES else canonical
    raise DataValidationError(
        f"unknown exchange calendar {name!r}: use one of {', '.join(calendar_names())}",
        "unknown_calendar",
    )


@cache
def _known_names() -> frozenset[str]:
    return frozenset(exchange_calendars.get_calendar_names(include_aliases=True))


@cache
def exchange_calendar(name: str) -> exchange_calendars.ExchangeCalendar:
    """Calendar `name` from EARLIEST (or its own first date), built once per process.

    `always-open` is `exchange_calendars`' 24/7 here (its sessions' opens and closes decide which
    bars have closed); forecasts are dated by `session_days`, which builds it without one.

    Raises:
        DataValidationError: `name` is not an `exchange_calendars` calendar.
    """
    name = "24/7" if name == ALWAYS_OPEN else name
    try:
        return exchange_calendars.get_calendar(name, start=EARLIEST)
    except exchange_calendars.errors.InvalidCalendarName:
        resolve_calendar(name)  # raises, listing the accepted names
        raise
    except ValueError:  # this exchange's calendar begins after EARLIEST
        first = type(exchange_calendars.get_calendar(name)).bound_min()
        return exchange_calendars.get_calendar(name, start=first)


@cache
def trading_sessions(name: str) -> np.ndarray:
    """The session dates of calendar `name`, ascending, as datetime64[ns] [S]."""
    if name == ALWAYS_OPEN:
        return _every_day().astype("datetime64[ns]")
    return exchange_calendar(name).sessions.to_numpy(dtype="datetime64[ns]")


def _every_day() -> np.ndarray:
    """Every day from EARLIEST to a year from now, datetime64[D]: `exchange_calendars`' own span
    for a calendar built today."""
    end = (pd.Timestamp.today().normalize() + pd.DateOffset(years=1)).to_datetime64()
    return np.arange(EARLIEST.to_datetime64(), end, np.timedelta64(1, "D")).astype("datetime64[D]")


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
