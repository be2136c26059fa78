"""Spreadsheet and Yahoo-website exports: read exactly as their ISO twin, or refused clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from stockcast.errors import DataValidationError
from stockcast.inputs.validation import read_price_table

ROOT = Path(__file__).resolve().parents[2]
ROWS = [line.split(",") for line in (ROOT / "data" / "GOOG.csv").read_text().splitlines()[-120:]]
HEADER = "Date,Open,High,Low,Close,Volume"
REPR = re.compile(r"np\.|numpy|Timestamp\(|datetime\.|dtype|array\(")


def body(*rows: str, header: str = HEADER) -> bytes:
    return "\n".join([header, *rows]).encode()


def refusal(data: bytes) -> DataValidationError:
    with pytest.raises(DataValidationError) as caught:
        read_price_table(data)
    assert not REPR.search(str(caught.value)), str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    ("shape", "read_as"),
    [
        ({"date_format": "%d/%m/%Y"}, {"delimiter": ",", "decimal": ".", "dates": "DD/MM/YYYY"}),
        ({"date_format": "%m/%d/%Y"}, {"delimiter": ",", "decimal": ".", "dates": "MM/DD/YYYY"}),
        (
            {"delimiter": ";", "decimal": ",", "date_format": "%d.%m.%Y"},
            {"delimiter": ";", "decimal": ",", "dates": "DD.MM.YYYY"},
        ),
        (
            {"delimiter": ";", "decimal": ",", "group_thousands": True, "quote_all": True},
            {"delimiter": ";", "decimal": ",", "dates": "YYYY-MM-DD"},
        ),
        ({"delimiter": "\t"}, {"delimiter": "\t", "decimal": ".", "dates": "YYYY-MM-DD"}),
        ({"group_thousands": True}, {"delimiter": ",", "decimal": ".", "dates": "YYYY-MM-DD"}),
        ({"date_format": "%d-%b-%Y"}, {"delimiter": ",", "decimal": ".", "dates": "DD-Mon-YYYY"}),
    ],
    ids=["DD/MM", "MM/DD", "German Excel", "quoted 1.234,56", "tabs", "quoted 1,234", "02-Jan"],
)
def test_an_export_reads_exactly_as_its_iso_twin_and_says_how(export_of, shape, read_as):
    table = read_price_table(export_of(ROWS, **shape))
    pd.testing.assert_frame_equal(table.frame, read_price_table(export_of(ROWS)).frame)
    assert table.read_as == read_as | {"prices": "as written"}


def test_decimal_commas_with_and_without_thousands_dots():
    table = read_price_table(
        body("02/01/2024;1.234,56;1240;1200,5;1234,5;1.000.000", header=HEADER.replace(",", ";"))
        + b"\n15/01/2024;10;11;9;10,25;7"
    )
    assert table.frame.iloc[0, 1:].tolist() == [1234.56, 1240.0, 1200.5, 1234.5, 1_000_000.0]
    assert table.frame["Close"].iloc[1] == 10.25


def test_a_semicolon_file_with_decimal_points_keeps_them():
    table = read_price_table(body("2024-01-02;1.5;2;1;1.25;100", header=HEADER.replace(",", ";")))
    assert table.read_as["decimal"] == "."
    assert table.frame["Close"].iloc[0] == 1.25


def test_a_quoted_decimal_comma_in_a_comma_file_is_refused_not_read_as_thousands():
    error = refusal(body('2024-01-02,1,2,1,"1,5",100'))
    assert error.reason == "non_numeric"
    assert "'1,5'" in str(error)


def test_yahoo_null_days_are_dropped_and_reported_by_date(export_of):
    fridays = [i for i, row in enumerate(ROWS) if pd.Timestamp(row[0]).dayofweek == 4][:2]
    table = read_price_table(export_of(ROWS, null_days_after=fridays))
    saturdays = [str((pd.Timestamp(ROWS[i][0]) + pd.Timedelta(days=1)).date()) for i in fridays]
    assert table.dropped_rows == saturdays
    pd.testing.assert_frame_equal(table.frame, read_price_table(export_of(ROWS)).frame)


def test_a_row_of_empty_cells_is_a_day_without_prices():
    table = read_price_table(
        body("2024-01-02,1,2,1,1.5,100", "2024-01-03,,,,,", "2024-01-04,1,2,1,1.5,9")
    )
    assert table.dropped_rows == ["2024-01-03"]
    assert len(table.frame) == 2


def test_a_row_with_only_some_prices_is_refused_naming_it():
    error = refusal(body("2024-01-02,1,2,1,1.5,100", "2024-01-03,1,null,1,1.5,100"))
    assert error.reason == "missing_values"
    assert "column 'High', row 3 (2024-01-03" in str(error)


def test_a_file_cut_mid_row_is_refused_not_dropped():
    error = refusal(body("2024-01-02,1,2,1,1.5,100", "2024-01-0"))
    assert error.reason == "short_row"
    assert "row 3 has fewer fields" in str(error)


def test_only_empty_days_leave_too_few_rows_and_say_so():
    with pytest.raises(DataValidationError, match=r"got 0, .*2 row\(s\) without prices"):
        read_price_table(body("2024-01-02,null,null,null,null,null", "2024-01-03,,,,,"), 1)


def test_a_column_whose_days_never_pass_12_is_refused_asking_for_iso():
    error = refusal(body("01/02/2024,1,2,1,1.5,100", "02/02/2024,1,2,1,1.5,100"))
    assert error.reason == "ambiguous_dates"
    assert "DD/MM/YYYY" in str(error) and "MM/DD/YYYY" in str(error)
    assert "YYYY-MM-DD" in str(error)


@pytest.mark.parametrize(
    ("dates", "named"),
    [
        (("2024-01-02", "2024-01-03", "04/01/2024"), ("row 2 '2024-01-02'", "row 4 '04/01/2024'")),
        (("02/01/2024", "13/01/2024", "01/14/2024"), ("row 3 '13/01/2024'", "row 4 '01/14/2024'")),
    ],
    ids=["ISO then DD/MM", "day-first then month-first"],
)
def test_two_date_formats_in_one_column_are_refused_naming_two_rows(dates, named):
    error = refusal(body(*(f"{day},1,2,1,1.5,100" for day in dates)))
    assert error.reason == "mixed_date_formats"
    assert all(row in str(error) for row in named), str(error)


def test_a_real_date_in_year_2999_is_out_of_range_not_unparseable():
    error = refusal(body("2024-01-02,1,2,1,1.5,100", "2999-01-03,1,2,1,1.5,100"))
    assert error.reason == "date_out_of_range"
    assert "row 3: '2999-01-03'" in str(error) and "unparseable" not in str(error)


def test_intraday_times_across_a_clock_change_are_read_as_utc():
    table = read_price_table(
        body("2024-03-08 09:30:00-05:00,1,2,1,1.5,100", "2024-03-11 09:30:00-04:00,1,2,1,1.5,9")
    )
    assert table.frame["Date"].iloc[1] == pd.Timestamp("2024-03-11 13:30", tz="UTC")
    assert "UTC" in table.read_as["dates"]


def test_a_close_100x_the_day_before_carries_a_warning_naming_the_row():
    rows = [f"2024-01-{day:02d},10,11,9,10,100" for day in range(2, 6)]
    table = read_price_table(body(*rows, "2024-01-08,1000,1100,900,1000,100"))
    [warning] = table.warnings
    assert "row 6" in warning and "2024-01-08" in warning and "100x" in warning
    assert "units" in warning and "split" in warning


@pytest.mark.parametrize(
    ("close", "split"), [(50.4, "2:1"), (33.1, "3:1"), (1000.0, "1:10")], ids=["2:1", "3:1", "1:10"]
)
def test_a_split_like_move_without_adj_close_gets_a_warning(close, split):
    table = read_price_table(
        body("2024-01-02,100,101,99,100,5", f"2024-01-03,{close},{close},{close},{close},10")
    )
    [warning] = table.warnings
    assert f"{split} split" in warning and "Adj Close" in warning and "row 3" in warning


def test_ordinary_moves_carry_no_warning():
    assert read_price_table(ROOT / "data" / "GOOG.csv").warnings == []


@pytest.mark.parametrize(
    "data",
    [
        body("2024-01-02,1,2,1,1.5,100", "2024-01-02,1,2,1,1.5,100"),
        body("2024-01-02,1,2,1,1.5,100", "2024-01-03,1,2,1,-1,100"),
        body("2024-01-02,1,2,1,1.5,100", "2024-01-03,1,2,1,inf,100"),
        body("2024-01-02,1,2,1,1.5,100", "2024-01-03,1,2,1,x,100"),
        body("2024-01-02,1,2,1,1.5,100", "2024-01-03,1,1,2,1.5,100"),
        body("2024-01-02,1,2,1,1.5,100", "2024-01-03 10:00:00+01:00,1,2,1,1,100"),
    ],
    ids=["duplicate", "negative", "inf", "text", "High<Low", "offset and none"],
)
def test_refusals_hold_no_python_repr_and_count_rows_from_the_header(data):
    message = str(refusal(data))
    assert "header is row 1" in message
    assert re.search(r"\brows? (2, )?3\b", message), message
