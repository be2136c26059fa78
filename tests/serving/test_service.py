"""Request handling without TorchServe: what is a CSV, what each refusal says, batch isolation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from stockcast.app.layout import ProjectLayout
from stockcast.errors import DataValidationError
from stockcast.inputs.validation import read_ohlcv_csv, read_price_table
from stockcast.model.forecaster import Forecaster
from stockcast.serving.service import (
    RequestRejected,
    extract_csv,
    forecast_batch,
    parse_request,
    rejection_for,
)

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[2])
SAMPLE = LAYOUT.sample_csv
HEADER = "Date,Open,High,Low,Close,Volume"


@pytest.fixture(scope="module")
def forecaster(tiny_run: Path) -> Forecaster:
    return Forecaster.load(tiny_run / "artifact")


@pytest.mark.parametrize("content_type", [None, "text/csv", "text/csv; charset=utf-8", "TEXT/CSV"])
def test_a_raw_body_is_the_csv(content_type):
    assert extract_csv({"body": b"x"}, content_type) == b"x"


@pytest.mark.parametrize("field", ["data", "file"])
def test_a_multipart_upload_is_read_from_its_data_or_file_field(field):
    fields = {"note": b"ignored", field: b"csv bytes"}
    assert extract_csv(fields, "multipart/form-data; boundary=abc") == b"csv bytes"


def test_text_the_server_already_decoded_is_accepted():
    assert extract_csv({"body": "Date,Open"}, "text/csv") == b"Date,Open"


@pytest.mark.parametrize(
    ("fields", "content_type", "status", "reason"),
    [
        ({"body": b"{}"}, "application/json", 415, "unsupported_content_type"),
        ({"body": b"\x89PNG"}, "image/png", 415, "unsupported_content_type"),
        ({"Date,Open": b""}, "application/x-www-form-urlencoded", 415, "unsupported_content_type"),
        ({"upload": b"x"}, "multipart/form-data; boundary=abc", 400, "missing_upload_field"),
        ({"body": {"a": 1}}, "", 415, "unsupported_content_type"),
    ],
)
def test_what_is_not_a_csv_upload_is_refused_with_a_hint(fields, content_type, status, reason):
    with pytest.raises(RequestRejected) as caught:
        extract_csv(fields, content_type)
    assert (caught.value.status, caught.value.reason) == (status, reason)
    assert "curl" in caught.value.detail or "'data'" in caught.value.detail


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"", 400, "empty_body"),
        ("Date,Open\n\xff\xfe".encode("latin-1"), 400, "not_utf8"),
        (b"Date,Open\x00\x01", 400, "not_csv"),
        (b'a,"b\n', 400, "not_csv"),
        (b"Day,Open,High,Low,Close,Volume\n2024-01-02,1,1,1,1,1", 400, "missing_columns"),
        (f"{HEADER}\nnot-a-date,1,1,1,1,1".encode(), 422, "bad_dates"),
        (f"{HEADER}\n2024-01-02,1,1,1,1,1\n2024-01-02,1,1,1,1,1".encode(), 422, "duplicate_dates"),
        (f"{HEADER}\n2024-01-02,abc,1,1,1,1".encode(), 422, "non_numeric"),
        (f"{HEADER}\n2024-01-02,inf,1,1,1,1".encode(), 422, "non_finite"),
        (f"{HEADER}\n2024-01-02,-1,1,1,1,1".encode(), 422, "non_positive_price"),
        (f"{HEADER}\n2024-01-02,1,1,1,1,-5".encode(), 422, "negative_volume"),
        (f"{HEADER}\n2024-01-02,1,1,2,1,5".encode(), 422, "inconsistent_prices"),
        (f"{HEADER}\n2024-01-02,1,1,1,1,5".encode(), 422, "too_few_rows"),
    ],
)
def test_every_validation_failure_maps_to_a_status_and_a_metric_reason(body, status, reason):
    with pytest.raises(DataValidationError) as caught:
        read_ohlcv_csv(body, min_rows=32)
    rejection = rejection_for(caught.value)
    assert (rejection.status, rejection.reason) == (status, reason)
    assert rejection.body == {
        "error": rejection.error,
        "detail": str(caught.value),
        "reason": rejection.reason,
    }


def test_a_batch_forecasts_the_good_requests_and_passes_rejections_through(
    forecaster, assert_same_forecast
):
    good = parse_request(forecaster, {"body": LAYOUT.sample_upload(250)}, "text/csv")
    rejected = RequestRejected(400, "not a CSV", "empty body", "empty_body")
    outcomes = forecast_batch(forecaster, [good, rejected, good])
    assert [outcome.status for outcome in outcomes] == [200, 400, 200]
    assert outcomes[0].body == outcomes[2].body
    reference = read_price_table(LAYOUT.sample_upload(250))  # the pandas path, one frame alone
    assert_same_forecast(outcomes[0].body, forecaster.predict(reference.frame) | reference.notes())
    assert outcomes[1].body == {
        "error": "not a CSV",
        "detail": "empty body",
        "reason": "empty_body",
    }


def test_prices_so_wild_the_forecast_overflows_are_refused_not_served(forecaster):
    """Valid but absurd data (closes jumping 300 orders of magnitude) must not emit Infinity."""
    closes = [1e-150 if day % 2 else 1e150 for day in range(60)]
    body = "\n".join(
        [HEADER]
        + [
            f"2024-{1 + d // 28:02d}-{1 + d % 28:02d},{c},{c},{c},{c},100"
            for d, c in enumerate(closes)
        ]
    ).encode()
    [outcome] = forecast_batch(forecaster, [parse_request(forecaster, {"body": body}, "text/csv")])
    assert outcome.status == 422
    assert outcome.rejection.reason == "non_finite_forecast"


def test_a_multipart_request_without_parts_is_explained():
    with pytest.raises(RequestRejected) as caught:
        extract_csv({"body": b"Date,Open"}, "multipart/form-data")
    assert caught.value.status == 400
    assert "boundary" in caught.value.detail


def test_a_frame_the_model_cannot_forecast_fails_alone_with_a_json_500(forecaster):
    good = parse_request(forecaster, {"body": LAYOUT.sample_upload(250)}, "text/csv")
    bars = good.bars
    short = replace(bars, stamps=bars.stamps[-5:], ohlcv=bars.ohlcv[-5:])  # shorter than a window
    broken = replace(good, table=replace(good.table, bars=short))  # as if never validated
    outcomes = forecast_batch(forecaster, [good, broken])
    assert [outcome.status for outcome in outcomes] == [200, 500]
    assert outcomes[0].body == forecaster.predict_bars([good.bars])[0] | good.notes()
    assert outcomes[1].body["error"] == "internal error"


def test_a_forecast_says_how_the_csv_was_read(forecaster):
    [outcome] = forecast_batch(
        forecaster, [parse_request(forecaster, {"body": LAYOUT.sample_upload(250)}, "text/csv")]
    )
    assert outcome.body["read_as"] == {
        "delimiter": ",",
        "decimal": ".",
        "dates": "YYYY-MM-DD",
        "prices": "as written",
    }
    assert outcome.body["dropped_rows"] == [] and outcome.body["warnings"] == []
    assert {"last_date", "last_close", "forecast", "backtest", "model"} <= outcome.body.keys()


@pytest.mark.parametrize(
    "shape",
    [
        {"date_format": "%d/%m/%Y"},
        {"delimiter": ";", "decimal": ",", "date_format": "%d.%m.%Y", "group_thousands": True},
        {"null_days_after": range(0, 250, 5)},
    ],
    ids=["DD/MM/YYYY", "semicolons and decimal commas", "Yahoo null days"],
)
def test_an_export_gets_exactly_the_forecast_of_its_iso_upload(forecaster, export_of, shape):
    rows = [line.split(",") for line in SAMPLE.read_text().splitlines()[-250:]]
    iso, shaped = (
        forecast_batch(forecaster, [parse_request(forecaster, {"body": body}, "text/csv")])[0]
        for body in (export_of(rows), export_of(rows, **shape))
    )
    forecast_keys = ("last_date", "last_close", "forecast", "backtest", "model")
    assert [shaped.body[key] for key in forecast_keys] == [iso.body[key] for key in forecast_keys]


def test_a_close_100x_the_day_before_is_served_with_a_warning(forecaster):
    lines = LAYOUT.sample_upload(250).decode().splitlines()
    cells = lines[-1].split(",")
    cells[1:5] = [str(float(value) * 100) for value in cells[1:5]]
    body = "\n".join([*lines[:-1], ",".join(cells)]).encode()
    [outcome] = forecast_batch(forecaster, [parse_request(forecaster, {"body": body}, "text/csv")])
    assert outcome.status == 200
    [warning] = outcome.body["warnings"]
    assert "row 251" in warning and "units" in warning


@pytest.mark.parametrize(
    "body",
    [
        f"{HEADER}\n01/02/2024,1,1,1,1,1\n02/02/2024,1,1,1,1,1".encode(),
        f"{HEADER}\n2024-01-02,1,1,1,1,1\n03/01/2024,1,1,1,1,1".encode(),
        f"{HEADER}\n2024-01-02,1,1,1,1,1\n2024-01-02,1,1,1,1,1".encode(),
        f"{HEADER}\n2024-01-02,1,1,1,1,1\n2999-01-02,1,1,1,1,1".encode(),
        f"{HEADER}\n2024-01-02,1,null,1,1,1".encode(),
    ],
    ids=["ambiguous dates", "mixed dates", "duplicate dates", "year 2999", "one null price"],
)
def test_refusals_are_422s_for_people_without_python_reprs(forecaster, body):
    with pytest.raises(RequestRejected) as caught:
        parse_request(forecaster, {"body": body}, "text/csv")
    assert caught.value.status == 422
    assert not any(text in caught.value.detail for text in ("np.", "Timestamp(", "int64"))


def hourly_upload(rows: int = 60) -> bytes:
    """EUR/USD-like hourly bars: once sent to the daily model and answered with a 200."""
    stamps = pd.date_range("2024-01-02 00:00", periods=rows, freq="h", tz="UTC")
    return "\n".join(
        [HEADER] + [f"{ts.isoformat()},1.10,1.11,1.09,1.10,0" for ts in stamps]
    ).encode()


def test_hourly_bars_sent_to_the_daily_model_get_a_422_naming_both(forecaster):
    with pytest.raises(RequestRejected) as caught:
        parse_request(forecaster, {"body": hourly_upload()}, "text/csv")
    assert (caught.value.status, caught.value.reason) == (422, "bar_spacing")
    assert caught.value.detail == (
        "this model forecasts daily bars; the upload's bars are 1 hour apart"
    )


def test_a_day_with_intraday_rows_is_refused_naming_two_rows(forecaster):
    lines = LAYOUT.sample_upload(60).decode().splitlines()
    lines.insert(31, lines[30].replace(lines[30][:10], lines[30][:10] + " 12:00", 1))
    with pytest.raises(RequestRejected) as caught:
        parse_request(forecaster, {"body": "\n".join(lines).encode()}, "text/csv")
    assert caught.value.status == 422
    assert f"rows 31 and 32 ({lines[30][:10]} and {lines[30][:10]} 12:00:00)" in caught.value.detail


def test_an_upload_ending_past_the_calendar_is_a_422_not_a_500(forecaster):
    days = pd.bdate_range(end="2200-01-02", periods=60)
    body = "\n".join([HEADER] + [f"{day:%Y-%m-%d},10,11,9,10,100" for day in days]).encode()
    with pytest.raises(RequestRejected) as caught:
        parse_request(forecaster, {"body": body}, "text/csv")
    assert (caught.value.status, caught.value.reason) == (422, "outside_calendar")
