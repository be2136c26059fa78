"""Bar spacing: an upload's rows must be the bars the model reads, with room for market closures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockcast.errors import DataValidationError
from stockcast.inputs.bars import OHLCV, Bars
from stockcast.inputs.spacing import (
    MAX_CLOSED_DAYS,
    SHORTEST,
    TYPICAL_MAX,
    _plainly_regular,
    check_bar_spacing,
    check_stamp_spacing,
)
from stockcast.inputs.validation import read_ohlcv_csv

DATA = Path(__file__).resolve().parents[2] / "data"


def refusal(dates, interval: str = "1d", **wording) -> str:
    """The refusal's message, which the served path (timestamps, no Series) words the same way."""
    with pytest.raises(DataValidationError) as caught:
        check_bar_spacing(pd.Series(dates), interval, **wording)
    assert caught.value.reason == "bar_spacing"
    bars = Bars.from_frame(pd.DataFrame({"Date": dates, **dict.fromkeys(OHLCV, 1.0)}))
    with pytest.raises(DataValidationError) as served:
        check_stamp_spacing(bars.stamps, bars.tz, interval, **wording)
    assert str(served.value) == str(caught.value)
    return str(caught.value)


def trading_hours(days: int) -> pd.DatetimeIndex:
    """Hourly bars 09:30..15:30 New York time on weekdays, as yfinance gives them (EUR/USD-like)."""
    stamps = pd.date_range("2024-01-02 09:30", periods=24 * days, freq="h", tz="America/New_York")
    return stamps[(stamps.hour >= 9) & (stamps.hour < 16) & (stamps.dayofweek < 5)]


@pytest.mark.parametrize("ticker", ["GOOG", "AAPL", "IBM", "MSFT"])
def test_every_bundled_daily_sample_passes_holidays_and_the_2001_closure_included(ticker):
    check_bar_spacing(read_ohlcv_csv(DATA / f"{ticker}.csv")["Date"], "1d")


@pytest.mark.parametrize(
    ("dates", "interval"),
    [
        pytest.param(pd.date_range("2020-01-01", periods=60, freq="D"), "1d", id="7-day week"),
        pytest.param(pd.bdate_range("2020-01-01", periods=60), "1d", id="business days"),
        pytest.param(
            pd.date_range("1980-01-01", periods=10_000, freq="D"), "1d", id="the largest upload"
        ),
        pytest.param(
            pd.date_range("2024-02-20", periods=60, freq="D", tz="America/New_York"),
            "1d",
            id="daylight saving",
        ),
        pytest.param(trading_hours(20), "1h", id="hourly with nights and weekends"),
        pytest.param(pd.date_range("2020-01-06", periods=60, freq="W-MON"), "1wk", id="weekly"),
        pytest.param(pd.date_range("2010-01-01", periods=60, freq="MS"), "1mo", id="monthly"),
    ],
)
def test_bars_of_the_models_interval_pass(dates, interval):
    check_bar_spacing(pd.Series(dates), interval)


def test_hourly_bars_sent_to_a_daily_model_are_refused_naming_both():
    assert refusal(trading_hours(20)) == (
        "this model forecasts daily bars; the upload's bars are 1 hour apart"
    )


@pytest.mark.parametrize(
    ("dates", "interval", "named"),
    [
        (
            pd.bdate_range("2020-01-01", periods=60),
            "1h",
            "hourly bars; the upload's bars are 1 day",
        ),
        (
            pd.date_range("2020-01-06", periods=60, freq="W"),
            "1d",
            "daily bars; the upload's bars are 7 days",
        ),
        (pd.date_range("2020-01-01", periods=60, freq="30min"), "1h", "bars are 30 minutes apart"),
    ],
)
def test_other_spacings_are_refused_naming_both(dates, interval, named):
    assert named in refusal(dates, interval)


def test_mixed_spacing_names_two_rows_as_a_spreadsheet_counts_them():
    days = list(pd.bdate_range("2024-01-01", periods=40))
    days.insert(10, days[9] + pd.Timedelta(hours=1))  # data row 11: the header is row 1
    message = refusal(days)
    assert "the upload's bars are mixed" in message
    assert "rows 11 and 12 (2024-01-12 and 2024-01-12 01:00:00) are 1 hour apart" in message
    assert "most are 1 day apart" in message


def test_a_hole_longer_than_a_closure_is_refused_with_the_bound():
    days = list(pd.bdate_range("2024-01-01", periods=20)) + list(
        pd.bdate_range("2024-03-01", periods=20)
    )
    message = refusal(days)
    assert "rows 21 and 22 (2024-01-26 and 2024-03-01) are 35 days apart" in message
    assert "at most 15 days apart (one bar plus 14 days of weekends, holidays or halts)" in message


def test_a_closure_of_up_to_two_weeks_passes_a_longer_one_does_not():
    before = list(pd.bdate_range("2024-01-01", periods=30))  # ends Friday 2024-02-09
    check_bar_spacing(pd.Series(before + list(pd.bdate_range("2024-02-23", periods=30))), "1d")
    assert "17 days apart" in refusal(before + list(pd.bdate_range("2024-02-26", periods=30)))


def test_training_words_the_refusal_for_its_setting():
    message = refusal(
        trading_hours(20),
        expects="data.interval=1d asks for",
        source="GOOG",
        hint="set data.interval to match",
    )
    assert message == (
        "data.interval=1d asks for daily bars; GOOG's bars are 1 hour apart; set data.interval to match"
    )


@settings(max_examples=500, deadline=None)
@given(
    hours=st.lists(
        st.sampled_from([1, 12, 18, 23, 24, 25, 36, 37, 48, 72, 96, 24 * 15, 24 * 16]),
        min_size=1,
        max_size=12,
    )
)
def test_the_quick_pass_only_passes_gaps_the_full_rules_accept(hours: list[int]) -> None:
    """The served check skips the median when no gap is out of bounds and fewer than half are
    long; whenever it does, the median-based rules hold too (`SHORTEST`, `TYPICAL_MAX`, holes)."""
    step = 86_400 * 10**9
    gaps = np.array(hours, dtype=np.int64) * 3_600 * 10**9
    if _plainly_regular(gaps, step):
        assert SHORTEST * step <= np.median(gaps) <= TYPICAL_MAX * step
        assert gaps.min() >= SHORTEST * step
        assert gaps.max() <= step + MAX_CLOSED_DAYS * 86_400 * 10**9
