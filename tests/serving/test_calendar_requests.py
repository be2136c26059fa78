"""A request's forecast is dated by its market: the `exchange` parameter, else the calendar its
rows keep, else the model's; the response says which and how."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.app.layout import ProjectLayout
from stockcast.inputs.calendars import session_days
from stockcast.model.forecaster import Forecaster
from stockcast.serving.service import RequestRejected, answer_batch, parse_request

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[2])
MULTIPART = "multipart/form-data; boundary=abc"


@pytest.fixture(scope="module")
def forecaster(tiny_run: Path) -> Forecaster:
    return Forecaster.load(tiny_run / "artifact")


def redated(days: np.ndarray | pd.DatetimeIndex) -> bytes:
    """The sample's last len(days) rows, re-dated to `days`."""
    header, *lines = LAYOUT.sample_upload(len(days)).decode().splitlines()
    dates = pd.DatetimeIndex(days).strftime("%Y-%m-%d")
    rows = [f"{day}{line[10:]}" for day, line in zip(dates, lines, strict=True)]
    return ("\n".join([header, *rows]) + "\n").encode()


def b3_rows(last: str = "2021-02-12", rows: int = 250) -> bytes:
    days = session_days("BVMF")
    end = int(days.searchsorted(np.datetime64(last, "D"), side="right"))
    return redated(days[end - rows : end])


def forecast(forecaster: Forecaster, fields: dict, content_type: str = "text/csv") -> dict:
    [outcome] = answer_batch(forecaster, [(fields, content_type)])
    assert outcome.status == 200, outcome.body
    return outcome.body


def test_a_b3_upload_is_forecast_for_the_day_after_carnival(forecaster):
    answer = forecast(forecaster, {"body": b3_rows()})
    assert answer["last_date"] == "2021-02-12"
    assert answer["forecast"][0]["date"] == "2021-02-17"  # B3 shut on the 15th and 16th
    assert answer["calendar"] == {"name": "BVMF", "how": "inferred from the upload's sessions"}


@pytest.mark.parametrize("value", [b"BVMF", "BVMF", b"bvmf"])
def test_asking_for_b3_dates_new_york_weekday_rows_by_b3(forecaster, value):
    weekdays = redated(pd.bdate_range(end="2021-02-12", periods=250))
    answer = forecast(forecaster, {"body": weekdays, "exchange": value})
    assert answer["forecast"][0]["date"] == "2021-02-17"
    assert answer["calendar"] == {"name": "BVMF", "how": "asked for"}


def test_the_exchange_may_come_as_a_multipart_field(forecaster):
    answer = forecast(forecaster, {"data": b3_rows(), "exchange": b"XNYS"}, MULTIPART)
    assert answer["forecast"][0]["date"] == "2021-02-16"  # New York's next session
    assert answer["calendar"] == {"name": "XNYS", "how": "asked for"}


def test_a_seven_day_series_passes_its_checks_and_is_forecast_for_saturday(forecaster):
    every_day = redated(pd.date_range(end="2024-04-19", periods=250, freq="D"))  # a Friday
    answer = forecast(forecaster, {"body": every_day})
    assert answer["forecast"][0]["date"] == "2024-04-20"
    assert answer["calendar"] == {
        "name": "always-open",
        "how": "inferred from the upload's sessions",
    }


def test_the_default_upload_keeps_the_models_calendar(forecaster):
    body = LAYOUT.sample_upload()
    answer = forecast(forecaster, {"body": body})
    last = np.datetime64(answer["last_date"], "D")
    days = session_days("XNYS")
    assert answer["forecast"][0]["date"] == str(days[days.searchsorted(last, side="right")])
    assert answer["calendar"] == {"name": "XNYS", "how": "the model's"}
    assert forecast(forecaster, {"body": body, "exchange": b""})["calendar"]["how"] == "the model's"


def test_an_unknown_calendar_is_a_422_listing_the_names_and_its_neighbours_are_answered(
    forecaster,
):
    body = LAYOUT.sample_upload()
    refused, answered = answer_batch(
        forecaster, [({"body": body, "exchange": b"B3"}, "text/csv"), ({"body": body}, "text/csv")]
    )
    assert refused.status == 422
    assert refused.rejection.reason == "unknown_calendar"
    assert refused.body["error"] == "unknown calendar"
    assert "'B3'" in refused.body["detail"]
    assert all(name in refused.body["detail"] for name in ("always-open", "BVMF", "XNYS"))
    assert answered.status == 200


def test_an_unknown_calendar_is_refused_before_the_csv_is_read(forecaster):
    with pytest.raises(RequestRejected) as caught:
        parse_request(forecaster, {"body": b"not a csv", "exchange": b"XXXX"}, "text/csv")
    assert caught.value.reason == "unknown_calendar"


def test_an_asked_calendar_that_ends_before_the_rows_is_a_422(forecaster):
    late = redated(pd.bdate_range(end="2030-06-28", periods=250))
    with pytest.raises(RequestRejected) as caught:
        parse_request(forecaster, {"body": late, "exchange": b"BVMF"}, "text/csv")
    assert (caught.value.status, caught.value.reason) == (422, "outside_calendar")
