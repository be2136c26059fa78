"""Bars write and date their rows as the pandas path does, without building Timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockcast.inputs.bars import Bars
from stockcast.inputs.intervals import bar_time_text

NAIVE = ["1969-12-31", "1900-02-28", "2013-03-01", "2013-03-01 10:30", "1960-05-05 23:00"]


def bars_at(times: pd.DatetimeIndex) -> Bars:
    return Bars(times.as_unit("ns").asi8, np.ones((len(times), 5)), times.tz)


@pytest.mark.parametrize("tz", [None, "America/New_York", "Asia/Tokyo"])
def test_each_row_is_written_as_bar_time_text_writes_its_timestamp(tz):
    times = pd.DatetimeIndex(pd.to_datetime(NAIVE, format="mixed"))
    bars = bars_at(times if tz is None else times.tz_localize(tz))
    for row in range(len(bars)):
        assert bars.time_text(row) == bar_time_text(bars.timestamp(row))


@pytest.mark.parametrize("tz", [None, "America/New_York", "Asia/Tokyo"])
def test_a_rows_day_is_its_own_wall_clock_date(tz):
    times = pd.DatetimeIndex(pd.to_datetime(NAIVE, format="mixed"))
    bars = bars_at(times if tz is None else times.tz_localize(tz))
    for row, text in enumerate(NAIVE):
        assert bars.day(row) == np.datetime64(text[:10], "D")
