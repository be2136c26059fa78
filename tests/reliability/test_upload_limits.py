"""Bodies too large to parse safely are refused on their shape, before any parser, with a 413.

The live half (TorchServe's own byte limit, and a worker's memory while it serves the largest
accepted CSV) is in test_size_limits_live.py; these tests call the service directly.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from stockcast.model.forecaster import Forecaster
from stockcast.serving.fast_csv import read_plain
from stockcast.serving.service import RequestRejected, parse_request
from stockcast.serving.upload_limits import MAX_FIELDS, MAX_ROWS, shape_problem

ROOT = Path(__file__).resolve().parents[2]
HEADER = b"Date,Open,High,Low,Close,Volume"


def rows(count: int, line_end: bytes = b"\n") -> bytes:
    """The header and `count` valid rows, one a day from 1900-01-01."""
    days = (date(1900, 1, 1) + timedelta(days=i) for i in range(count))
    lines = [HEADER] + [f"{day.isoformat()},10,11,9,10,1000".encode() for day in days]
    return line_end.join(lines) + line_end


@pytest.fixture(scope="module")
def forecaster(tiny_run: Path) -> Forecaster:
    return Forecaster.load(tiny_run / "artifact")


def test_the_largest_accepted_csv_passes_the_shape_check() -> None:
    assert shape_problem(rows(MAX_ROWS)) is None
    assert shape_problem(rows(MAX_ROWS, b"\r\n")) is None
    assert shape_problem(b",".join([b"x"] * MAX_FIELDS)) is None


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_one_row_over_the_cap_is_refused_whatever_ends_its_lines(line_end: bytes) -> None:
    problem = shape_problem(rows(MAX_ROWS + 1, line_end))
    assert problem is not None
    assert problem.startswith("too many rows") and f"{MAX_ROWS:,}" in problem


def test_a_wide_line_is_refused_wherever_it_is() -> None:
    wide = b",".join([b"1"] * (MAX_FIELDS + 1))
    for body in (wide + b"\n", HEADER + b"\n" + wide + b"\n", rows(40) + wide):
        problem = shape_problem(body)
        assert problem is not None and problem.startswith("too many columns"), body[:40]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\n" * 3_000_000, id="3M blank lines"),
        pytest.param(
            HEADER + b"," + b",".join([b"a"] * 600_000) + b"\n1\n", id="600k header names"
        ),
        pytest.param(HEADER + b"\n" + b",".join([b"1"] * 600_000) + b"\n", id="600k-field row"),
    ],
)
def test_bodies_that_would_stall_pandas_are_refused_on_their_shape(
    forecaster: Forecaster, body: bytes
) -> None:
    """Each of these kept pandas busy for seconds to minutes before the check existed: the
    refusal is the shape scan's, so no parser reads them."""
    with pytest.raises(RequestRejected) as refused:
        parse_request(forecaster, {"body": body}, "text/csv")
    assert refused.value.detail == shape_problem(body) is not None
    assert refused.value.status == 413
    assert refused.value.reason == "too_large"
    assert refused.value.body["error"] == "CSV too large"


def test_the_cap_leaves_room_for_a_real_history(forecaster: Forecaster) -> None:
    sample = (ROOT / "data" / "GOOG.csv").read_bytes()
    table = parse_request(forecaster, {"body": sample}, "text/csv")
    assert len(table.bars) == sample.count(b"\n") - 1 < MAX_ROWS


def test_the_fast_path_reads_up_to_the_cap_and_leaves_the_refusal_above_it(
    forecaster: Forecaster,
) -> None:
    """Plain bodies skip the shape scan (it costs more than the fast read), so the fast path
    must stop at the same row cap."""
    assert len(read_plain(rows(MAX_ROWS), forecaster.min_rows).bars) == MAX_ROWS
    assert read_plain(rows(MAX_ROWS + 1), forecaster.min_rows) is None
    with pytest.raises(RequestRejected) as refused:
        parse_request(forecaster, {"body": rows(MAX_ROWS + 1)}, "text/csv")
    assert (refused.value.status, refused.value.reason) == (413, "too_large")
