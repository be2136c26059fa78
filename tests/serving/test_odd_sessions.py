"""Markets whose sessions are not New York's weekdays: a seven-day market, B3 with its Carnival,
New York's half days. Every forecast step falls on the next sessions of the upload's calendar,
the spacing check measures calendar time on every market, and the band and drift count rows, so
a seven-day upload is read exactly like the same rows on weekdays. Uploads are the bundled
sample's rows re-dated onto the calendars' real sessions."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stockcast.app.layout import ProjectLayout
from stockcast.inputs.calendars import exchange_calendar, session_days
from stockcast.model.forecaster import Forecaster
from stockcast.model.network import LSTMNet
from stockcast.serving.service import Outcome, answer_batch

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[2])
SEVEN_DAYS = "always-open"
INFERRED = "inferred from the upload's sessions"


@pytest.fixture(scope="module")
def one_step(tiny_run: Path) -> Forecaster:
    return Forecaster.load(tiny_run / "artifact")


@pytest.fixture(scope="module")
def three_steps(one_step: Forecaster) -> Forecaster:
    """The tiny artifact (scaler, self-calibration, drift table, calendar) on a seeded network
    of three steps, each step's stored quantile the tiny one's: only dates and finiteness count."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = LSTMNet(**{**one_step.net.settings, "horizon": 3})
    cal = one_step.calibration
    calibration = replace(
        cal, quantiles=cal.quantiles[:1] * 3, baseline_quantiles=cal.baseline_quantiles[:1] * 3
    )
    return Forecaster(
        net,
        one_step.scaler,
        calibration,
        window=one_step.window,
        interval=one_step.interval,
        info=one_step.info,
        calendar=one_step.calendar,
        drift=one_step.drift,
    )


def redated(days: np.ndarray | pd.DatetimeIndex) -> list[str]:
    """The sample's last len(days) rows (Date..Volume), re-dated to `days`."""
    lines = LAYOUT.sample_upload(len(days)).decode().splitlines()[1:]
    dates = pd.DatetimeIndex(days).strftime("%Y-%m-%d")
    return [f"{day}{line[10:]}" for day, line in zip(dates, lines, strict=True)]


def csv(rows: list[str], ticker_column: list[str] | None = None) -> bytes:
    header = "Date,Open,High,Low,Close,Volume"
    if ticker_column is not None:
        header = f"Ticker,{header}"
        rows = [f"{ticker},{row}" for ticker, row in zip(ticker_column, rows, strict=True)]
    return "\n".join([header, *rows, ""]).encode()


def sessions_ending(calendar: str, last: str, rows: int = 300) -> np.ndarray:
    """The `rows` sessions of `calendar` up to and including day `last`."""
    days = session_days(calendar)
    end = int(days.searchsorted(np.datetime64(last, "D"), side="right"))
    assert days[end - 1] == np.datetime64(last, "D"), f"{last} is no {calendar} session"
    return days[end - rows : end]


def every_day_ending(last: str, rows: int = 300) -> pd.DatetimeIndex:
    return pd.date_range(end=last, periods=rows, freq="D")


def served(forecaster: Forecaster, body: bytes, **fields: bytes) -> Outcome:
    [outcome] = answer_batch(forecaster, [({"body": body, **fields}, "text/csv")])
    return outcome


def forecast(forecaster: Forecaster, body: bytes, **fields: bytes) -> dict:
    outcome = served(forecaster, body, **fields)
    assert outcome.status == 200, outcome.body
    return outcome.body


def step_dates(answer: dict) -> list[str]:
    return [step["date"] for step in answer["forecast"]]


# forecast dates of every step


def test_three_steps_of_a_seven_day_market_are_the_next_three_calendar_days(three_steps):
    answer = forecast(three_steps, csv(redated(every_day_ending("2024-04-19"))))  # a Friday
    assert step_dates(answer) == ["2024-04-20", "2024-04-21", "2024-04-22"]  # Sat, Sun, Mon
    assert answer["calendar"] == {"name": SEVEN_DAYS, "how": INFERRED}


def test_three_steps_of_b3_skip_carnival(three_steps):
    answer = forecast(three_steps, csv(redated(sessions_ending("BVMF", "2021-02-12"))))
    assert step_dates(answer) == ["2021-02-17", "2021-02-18", "2021-02-19"]
    assert answer["calendar"] == {"name": "BVMF", "how": INFERRED}


def test_three_steps_of_new_york_skip_independence_day(three_steps):
    answer = forecast(three_steps, csv(redated(sessions_ending("XNYS", "2021-07-02"))))
    assert step_dates(answer) == ["2021-07-06", "2021-07-07", "2021-07-08"]  # shut Mon 5th
    assert answer["calendar"]["name"] == "XNYS"


def test_asking_for_a_seven_day_market_dates_weekday_rows_on_every_day(three_steps):
    weekdays = csv(redated(sessions_ending("XNYS", "2024-04-19")))
    answer = forecast(three_steps, weekdays, exchange=b"always-open")
    assert step_dates(answer) == ["2024-04-20", "2024-04-21", "2024-04-22"]
    assert answer["calendar"] == {"name": SEVEN_DAYS, "how": "asked for"}


# bar spacing: calendar time on every market


@pytest.mark.parametrize(
    "days",
    [every_day_ending("2024-04-19"), sessions_ending("BVMF", "2021-02-12")],
    ids=["seven-day", "b3"],
)
def test_seven_day_and_b3_series_pass_the_spacing_check(one_step, days):
    answer = forecast(one_step, csv(redated(days)))
    assert answer["calendar"]["how"] == INFERRED


def without_a_month(days: np.ndarray | pd.DatetimeIndex, start: str, end: str) -> pd.DatetimeIndex:
    days = pd.DatetimeIndex(days)
    return days[(days < start) | (days > end)]


@pytest.mark.parametrize(
    ("days", "exchange"),
    [
        (pd.date_range(end="2024-04-19", periods=300, freq="7D"), None),  # weekly bars
        (pd.date_range(end="2024-04-19", periods=300, freq="7D"), b"always-open"),
        (without_a_month(every_day_ending("2024-04-19"), "2024-02-01", "2024-02-29"), None),
        (without_a_month(every_day_ending("2024-04-19"), "2024-02-01", "2024-02-29"), b"24/7"),
        (without_a_month(sessions_ending("BVMF", "2021-02-12"), "2020-10-01", "2020-10-31"), None),
        (
            without_a_month(sessions_ending("BVMF", "2021-02-12"), "2020-10-01", "2020-10-31"),
            b"BVMF",
        ),
    ],
    ids=[
        "weekly",
        "weekly-asked-always-open",
        "seven-day-missing-february",
        "seven-day-missing-february-asked",
        "b3-missing-october",
        "b3-missing-october-asked",
    ],
)
def test_gappy_series_are_refused_on_seven_day_and_b3_calendars(one_step, days, exchange):
    fields = {} if exchange is None else {"exchange": exchange}
    outcome = served(one_step, csv(redated(days)), **fields)
    assert outcome.status == 422, outcome.body
    assert outcome.rejection.reason == "bar_spacing"


# the band and drift count rows, not calendar days


def test_a_seven_day_upload_is_self_calibrated_on_its_own_last_rows(one_step):
    rows = redated(every_day_ending("2024-04-19", rows=400))
    answer = forecast(one_step, csv(rows))
    assert answer["calendar"]["name"] == SEVEN_DAYS
    calibration = answer["calibration"]
    assert calibration["band"] == "self-calibrated on the upload"
    assert calibration["rows_scored"] == one_step.calibration.self_rows  # 250 rows, not weeks
    drift = answer["drift"]
    assert drift["window"] == one_step.drift.window
    assert all(math.isfinite(value) for value in drift.values())
    # the same rows on New York's weekdays: every number the same, only the dates differ
    weekdays = forecast(one_step, csv(redated(sessions_ending("XNYS", "2024-04-19", rows=400))))
    assert weekdays["calendar"]["name"] == "XNYS"
    assert weekdays["calibration"] == calibration
    assert weekdays["drift"] == drift
    assert [step["close"] for step in weekdays["forecast"]] == [
        step["close"] for step in answer["forecast"]
    ]
    assert weekdays["forecast"][0]["upper"] == answer["forecast"][0]["upper"]


def test_a_seven_day_upload_of_three_steps_has_a_finite_band_and_drift(three_steps):
    answer = forecast(three_steps, csv(redated(every_day_ending("2024-04-19", rows=400))))
    assert answer["calibration"]["rows_scored"] == three_steps.calibration.self_rows
    for step in answer["forecast"]:
        assert 0 < step["lower"] < step["close"] < step["upper"] < math.inf
    assert all(math.isfinite(value) for value in answer["drift"].values())


# New York's half days are sessions


def half_days(year: int, month: int) -> list[str]:
    """New York's early closes in that month, from the exchange's own calendar."""
    closes = exchange_calendar("XNYS").early_closes  # the one that dates forecasts, from 1970
    return [str(day.date()) for day in closes[(closes.year == year) & (closes.month == month)]]


def test_new_yorks_2012_half_days_are_the_day_after_thanksgiving_and_christmas_eve():
    assert half_days(2012, 11) == ["2012-11-23"]
    assert half_days(2012, 12) == ["2012-12-24"]


@pytest.mark.parametrize(
    ("month", "following"), [(11, "2012-11-26"), (12, "2012-12-26")], ids=["nov", "dec"]
)
def test_an_upload_ending_on_a_half_day_is_forecast_for_the_next_full_session(
    one_step, month, following
):
    [half_day] = half_days(2012, month)
    answer = forecast(one_step, csv(redated(sessions_ending("XNYS", half_day))))
    assert answer["last_date"] == half_day
    assert step_dates(answer) == [following]
    assert answer["calendar"]["name"] == "XNYS"


@pytest.mark.parametrize("month", [11, 12], ids=["nov", "dec"])
def test_the_session_before_a_half_day_is_forecast_for_the_half_day(three_steps, month):
    [half_day] = half_days(2012, month)
    days = session_days("XNYS")
    before = str(days[days.searchsorted(np.datetime64(half_day, "D")) - 1])
    answer = forecast(three_steps, csv(redated(sessions_ending("XNYS", before))))
    assert step_dates(answer)[0] == half_day


def short_session(row: str) -> str:
    """A half day's row: a third of the volume, the range a third as wide around the close."""
    day, open_, high, low, close, volume = row.split(",")
    c, h, l_ = float(close), float(high), float(low)
    high, low = max(c, c + (h - c) / 3), min(c, c - (c - l_) / 3)
    open_ = min(max(float(open_), low), high)
    return ",".join(
        [day, f"{open_:.4f}", f"{high:.4f}", f"{low:.4f}", close, str(int(volume) // 3)]
    )


@pytest.mark.parametrize("month", [11, 12], ids=["nov", "dec"])
def test_a_short_half_day_row_is_neither_refused_nor_warned_about(one_step, month):
    [half_day] = half_days(2012, month)
    rows = redated(sessions_ending("XNYS", "2012-12-31"))
    rows = [short_session(row) if row.startswith(half_day) else row for row in rows]
    answer = forecast(one_step, csv(rows))
    assert answer["warnings"] == []
    assert answer["dropped_rows"] == []
    assert answer["last_date"] == "2012-12-31"
    assert step_dates(answer) == ["2013-01-02"]


# each ticker of one request keeps its own calendar


def test_a_b3_and_a_seven_day_ticker_in_one_long_csv_each_get_their_own_calendar(three_steps):
    b3 = redated(sessions_ending("BVMF", "2021-02-12"))
    coin = redated(every_day_ending("2024-04-19"))
    body = csv(b3 + coin, ["PETR4.SA"] * len(b3) + ["BTC-USD"] * len(coin))
    outcome = served(three_steps, body)
    assert outcome.status == 200, outcome.body
    results = {entry["ticker"]: entry for entry in outcome.body["results"]}
    assert results["PETR4.SA"]["calendar"] == {"name": "BVMF", "how": INFERRED}
    assert step_dates(results["PETR4.SA"]) == ["2021-02-17", "2021-02-18", "2021-02-19"]
    assert results["BTC-USD"]["calendar"] == {"name": SEVEN_DAYS, "how": INFERRED}
    assert step_dates(results["BTC-USD"]) == ["2024-04-20", "2024-04-21", "2024-04-22"]


def test_an_asked_exchange_dates_every_ticker_of_a_long_csv(three_steps):
    b3 = redated(sessions_ending("BVMF", "2021-02-12"))
    coin = redated(every_day_ending("2021-02-12"))
    body = csv(b3 + coin, ["PETR4.SA"] * len(b3) + ["BTC-USD"] * len(coin))
    outcome = served(three_steps, body, exchange=b"always-open")
    for entry in outcome.body["results"]:
        assert entry["calendar"] == {"name": SEVEN_DAYS, "how": "asked for"}
        assert step_dates(entry) == ["2021-02-13", "2021-02-14", "2021-02-15"]
