"""Forecast dates are exchange sessions: weekends, holidays and closures skipped, cheaply."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockcast.errors import DataValidationError
from stockcast.inputs.calendars import next_session_days, next_sessions, trading_sessions


def dates(*days: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(day) for day in days]


def test_the_session_after_new_years_eve_is_january_the_second():
    assert next_sessions("XNYS", pd.Timestamp("2018-12-31"), 1) == dates("2019-01-02")


def test_five_sessions_skip_christmas_and_the_weekend():
    assert next_sessions("XNYS", pd.Timestamp("2018-12-21"), 5) == dates(
        "2018-12-24", "2018-12-26", "2018-12-27", "2018-12-28", "2018-12-31"
    )


def test_unscheduled_closures_are_skipped_too():
    assert next_sessions("XNYS", pd.Timestamp("2001-09-10"), 1) == dates("2001-09-17")


def test_each_exchange_keeps_its_own_holidays():
    assert next_sessions("XLON", pd.Timestamp("2018-12-24"), 1) == dates("2018-12-27")
    assert next_sessions("XNYS", pd.Timestamp("2018-12-24"), 1) == dates("2018-12-26")


def test_a_time_zone_aware_date_counts_by_its_own_calendar_date():
    last = pd.Timestamp("2018-12-31", tz="America/New_York")
    assert next_sessions("XNYS", last, 1) == dates("2019-01-02")


def test_a_calendar_that_begins_after_1970_starts_at_its_own_first_date():
    assert trading_sessions("XTKS")[0] >= pd.Timestamp("1997-01-01").to_datetime64()
    assert next_sessions("XTKS", pd.Timestamp("2018-12-28"), 1) == dates("2019-01-04")


@pytest.mark.parametrize("last", ["1965-03-01", "2200-01-02"])
def test_a_date_outside_the_calendar_is_refused_naming_its_range(last):
    with pytest.raises(
        DataValidationError, match=r"outside the XNYS trading calendar \(1970-01-02\.\."
    ) as caught:
        next_sessions("XNYS", pd.Timestamp(last), 1)
    assert caught.value.reason == "outside_calendar"
    assert last in str(caught.value)


def test_an_unknown_calendar_name_is_refused_with_examples():
    with pytest.raises(DataValidationError, match="unknown exchange calendar 'XNYZ'.*XNYS"):
        trading_sessions("XNYZ")


def test_the_calendar_is_built_once_and_reused():
    assert trading_sessions("XNYS") is trading_sessions("XNYS")


def test_the_served_path_dates_sessions_as_days_the_same_way():
    for last in ("2018-12-21", "2018-12-31", "2001-09-10", "2013-03-01"):
        days = next_session_days("XNYS", np.datetime64(last, "D"), 5)
        assert [pd.Timestamp(day) for day in days] == next_sessions("XNYS", pd.Timestamp(last), 5)


def test_the_served_path_refuses_a_day_outside_the_calendar_in_the_same_words():
    with pytest.raises(DataValidationError) as served:
        next_session_days("XNYS", np.datetime64("2300-01-02", "D"), 1)
    with pytest.raises(DataValidationError) as reference:
        next_sessions("XNYS", pd.Timestamp("2300-01-02"), 1)
    assert str(served.value) == str(reference.value)
