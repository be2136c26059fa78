"""Which market dates an upload: asked for, else inferred from its rows, else the model's; real
sessions from exchange_calendars (no network)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockcast.errors import DataValidationError
from stockcast.inputs.bars import Bars
from stockcast.inputs.calendar_choice import (
    ASKED,
    INFERRED,
    MODELS,
    CalendarChoice,
    asked_calendar,
    infer_calendar,
)
from stockcast.inputs.calendars import ALWAYS_OPEN, calendar_names, session_days


def bars_on(days: pd.DatetimeIndex | np.ndarray, tz: str | None = None) -> Bars:
    """Flat bars, one per day of `days`."""
    index = pd.DatetimeIndex(days)
    if tz is not None:
        index = index.tz_localize(tz)
    return Bars(
        stamps=index.as_unit("ns").asi8,
        ohlcv=np.tile([10.0, 11.0, 9.0, 10.0, 100.0], (len(index), 1)),
        tz=index.tz,
    )


def sessions_of(calendar: str, last: str, rows: int = 250) -> np.ndarray:
    """The `rows` sessions of `calendar` ending on `last`."""
    days = session_days(calendar)
    end = int(days.searchsorted(np.datetime64(last, "D"), side="right"))
    return days[end - rows : end]


def test_rows_that_keep_b3s_holidays_are_dated_by_b3():
    assert infer_calendar(bars_on(sessions_of("BVMF", "2021-02-12")), "XNYS") == CalendarChoice(
        "BVMF", INFERRED
    )


def test_rows_on_weekends_are_a_market_open_every_day():
    days = pd.date_range(end="2024-04-19", periods=250, freq="D")
    assert infer_calendar(bars_on(days), "XNYS") == CalendarChoice(ALWAYS_OPEN, INFERRED)


def test_new_york_rows_keep_the_models_calendar():
    assert infer_calendar(bars_on(sessions_of("XNYS", "2021-02-12")), "XNYS") == CalendarChoice(
        "XNYS", MODELS
    )


def test_a_missing_row_or_a_stray_saturday_does_not_change_the_market():
    days = sessions_of("XNYS", "2021-02-12")
    missing = np.delete(days, 100)
    stray = np.sort(np.append(days, np.datetime64("2020-11-07", "D")))  # a Saturday
    for rows in (missing, stray):
        assert infer_calendar(bars_on(rows), "XNYS") == CalendarChoice("XNYS", MODELS)


def test_too_few_rows_to_tell_the_markets_apart_keep_the_models():
    # B3 and New York shared every session of 2021-01-04..15: nothing tells them apart
    assert infer_calendar(bars_on(sessions_of("BVMF", "2021-01-15", 10)), "XNYS").how == MODELS


def test_time_zone_aware_rows_count_by_their_own_dates():
    days = sessions_of("BVMF", "2021-02-12")
    assert infer_calendar(bars_on(days, tz="America/Sao_Paulo"), "XNYS").name == "BVMF"


@pytest.mark.parametrize(
    ("asked", "name"),
    [
        ("BVMF", "BVMF"),
        ("bvmf", "BVMF"),
        ("NYSE", "XNYS"),
        ("24/7", ALWAYS_OPEN),
        (" always-open ", ALWAYS_OPEN),
    ],
)
def test_an_asked_calendar_is_answered_by_its_canonical_name(asked, name):
    assert asked_calendar(asked) == CalendarChoice(name, ASKED)


def test_an_unknown_calendar_is_refused_listing_the_accepted_names():
    with pytest.raises(DataValidationError) as caught:
        asked_calendar("B3X")
    assert caught.value.reason == "unknown_calendar"
    assert "'B3X'" in str(caught.value)
    for name in ("always-open", "BVMF", "XNYS", "XLON"):
        assert name in calendar_names()
        assert name in str(caught.value)


def test_always_open_sessions_are_every_day():
    days = session_days(ALWAYS_OPEN)
    assert (np.diff(days.astype(np.int64)) == 1).all()
    assert days[0] == np.datetime64("1970-01-01")


def test_rows_on_every_weekday_keep_the_models_calendar():
    """Synthetic or holiday-filled rows fit no exchange; fewer holidays in their span is no
    evidence of another market."""
    for last in ("2018-12-21", "2021-02-12", "2024-04-19"):
        days = pd.bdate_range(end=last, periods=250)
        assert infer_calendar(bars_on(days), "XNYS") == CalendarChoice("XNYS", MODELS)


def test_a_b3_upload_with_a_missing_row_is_still_b3():
    days = np.delete(sessions_of("BVMF", "2021-02-12"), 120)
    assert infer_calendar(bars_on(days), "XNYS").name == "BVMF"


def test_a_short_b3_upload_around_carnival_is_b3():
    assert infer_calendar(bars_on(sessions_of("BVMF", "2021-02-12", 40)), "XNYS").name == "BVMF"
