"""Bar-interval strings: how long a bar is and what refusals call it."""

from __future__ import annotations

import pandas as pd
import pytest

from stockcast.inputs.intervals import bar_name, nominal_duration


@pytest.mark.parametrize(
    ("interval", "name", "duration"),
    [
        ("1d", "daily", pd.Timedelta(days=1)),
        ("1h", "hourly", pd.Timedelta(hours=1)),
        ("15m", "15-minute", pd.Timedelta(minutes=15)),
        ("5d", "5-day", pd.Timedelta(days=5)),
        ("1wk", "weekly", pd.Timedelta(days=7)),
        ("1mo", "monthly", pd.Timedelta(days=30.4375)),
        ("3mo", "3-month", pd.Timedelta(days=91.3125)),
    ],
)
def test_each_interval_has_a_name_and_a_usual_length(interval, name, duration):
    assert bar_name(interval) == name
    assert nominal_duration(interval) == duration
