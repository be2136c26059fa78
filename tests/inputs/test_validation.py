"""One validation path: each refusal names the problem; only order and headers are repaired."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from stockcast.errors import DataValidationError
from stockcast.inputs.validation import COLUMNS, read_ohlcv_csv

ROOT = Path(__file__).resolve().parents[2]
GOOD_ROWS = [
    "2024-01-02,10,11,9,10.5,100",
    "2024-01-03,10.5,11.5,10,11,120",
    "2024-01-04,11,12,10.5,11.8,90",
]


def csv(*rows: str, header: str = ",".join(COLUMNS)) -> bytes:
    return "\n".join([header, *rows]).encode()


def test_bundled_sample_is_valid_real_data():
    frame = read_ohlcv_csv(ROOT / "data" / "GOOG.csv")
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 2148
    assert frame["Date"].iloc[0] == pd.Timestamp("2004-08-19")
    assert frame["Date"].iloc[-1] == pd.Timestamp("2013-03-01")
    assert frame["Date"].is_monotonic_increasing


def test_rows_out_of_order_are_sorted():
    frame = read_ohlcv_csv(csv(GOOD_ROWS[2], GOOD_ROWS[0], GOOD_ROWS[1]))
    assert list(frame["Close"]) == [10.5, 11.0, 11.8]


def test_header_case_whitespace_and_extra_columns_are_repaired():
    data = csv(
        *[row + ",1.0" for row in GOOD_ROWS], header=" date,OPEN,High ,low,Close,volume,Adj Close"
    )
    frame = read_ohlcv_csv(data)
    assert list(frame.columns) == list(COLUMNS)


def test_intraday_timestamps_keep_their_offset():
    data = csv(
        "2024-01-02 09:30:00-05:00,10,11,9,10.5,100", "2024-01-02 10:30:00-05:00,10,11,9,10.6,100"
    )
    frame = read_ohlcv_csv(data)
    assert frame["Date"].iloc[1] == pd.Timestamp("2024-01-02 10:30:00-05:00")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty body"),
        (b"   \n  ", "empty body"),
        ("Date,Open\n\xff\xfe".encode("latin-1"), "not UTF-8"),
        (b"\x00\x01\x02binary", "binary data"),
        (csv(*GOOD_ROWS, header="Date,Open,High,Low,Price,Volume"), "missing column(s) ['Close']"),
        (b"just some text without commas\nmore text", "missing column(s)"),
        (
            csv("2024-01-02,10,11,9,abc,100", *GOOD_ROWS[1:]),
            "non-numeric value in column 'Close', row 2",
        ),
        (
            csv(GOOD_ROWS[0], "2024-01-03,10,11,9,,100", GOOD_ROWS[2]),
            "missing value in column 'Close', row 3",
        ),
        (
            csv(GOOD_ROWS[0], "2024-01-03,10,inf,9,10,100", GOOD_ROWS[2]),
            "non-finite value in column 'High', row 3",
        ),
        (
            csv(GOOD_ROWS[0], "2024-01-03,10,11,9,nan,100", GOOD_ROWS[2]),
            "non-finite value in column 'Close', row 3",
        ),
        (
            csv(GOOD_ROWS[0], "2024-01-03,-10,11,9,10,100", GOOD_ROWS[2]),
            "Open must be a positive price: row 3",
        ),
        (
            csv(GOOD_ROWS[0], "2024-01-03,10,11,0,10,100", GOOD_ROWS[2]),
            "Low must be a positive price: row 3",
        ),
        (
            csv(GOOD_ROWS[0], "2024-01-03,10,11,9,10,-5", GOOD_ROWS[2]),
            "Volume must not be negative: row 3",
        ),
        (csv(GOOD_ROWS[0], "2024-01-03,10,9,11,10,100", GOOD_ROWS[2]), "High is below Low: row 3"),
        (
            csv(GOOD_ROWS[0], "yesterday,10,11,9,10,100", GOOD_ROWS[2]),
            "unparseable date in column 'Date', row 3",
        ),
        (csv(GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[1]), "duplicate dates in column 'Date'"),
        (b'Date,Open,High,Low,Close,Volume\n"2024-01-02,10,11,9,10,100', "not a readable CSV"),
    ],
)
def test_each_problem_is_refused_with_a_message_that_names_it(data, message):
    with pytest.raises(DataValidationError) as error:
        read_ohlcv_csv(data)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_too_few_rows_says_how_many_are_needed():
    with pytest.raises(DataValidationError, match=r"too few rows: got 3, need at least 32"):
        read_ohlcv_csv(csv(*GOOD_ROWS), min_rows=32)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_body"),
        (b"\xff\xfe\x00", "not_utf8"),
        (csv(*GOOD_ROWS, header="Date,Open,High,Low,Price,Volume"), "missing_columns"),
        (csv(GOOD_ROWS[0], "2024-01-03,10,11,9,abc,100", GOOD_ROWS[2]), "non_numeric"),
        (csv(GOOD_ROWS[0], "2024-01-03,10,inf,9,10,100", GOOD_ROWS[2]), "non_finite"),
        (csv(GOOD_ROWS[0], "2024-01-03,-10,11,9,10,100", GOOD_ROWS[2]), "non_positive_price"),
        (csv(GOOD_ROWS[0], "2024-01-03,10,9,11,10,100", GOOD_ROWS[2]), "inconsistent_prices"),
        (csv(GOOD_ROWS[0], "yesterday,10,11,9,10,100", GOOD_ROWS[2]), "bad_dates"),
        (csv(GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[1]), "duplicate_dates"),
    ],
)
def test_each_refusal_carries_a_machine_reason(data, reason):
    with pytest.raises(DataValidationError) as error:
        read_ohlcv_csv(data)
    assert error.value.reason == reason
