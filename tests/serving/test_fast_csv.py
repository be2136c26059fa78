"""The fast CSV path accepts only what the reference validator accepts, and reads it identically.

Bodies are generated around the plain case (exact header, commas, ISO dates, plain decimals) and
then bent the ways real files and hostile clients bend them, so that both the fast path and the
fallback are exercised; whatever the body, the served reader (`read_upload`) and the reference
(`read_price_table`) must give the same verdict: the same refusal (HTTP status, reason, message)
or the same arrays, bit for bit, and the same notes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from stockcast.app.layout import ProjectLayout
from stockcast.errors import DataValidationError
from stockcast.inputs.validation import read_price_table
from stockcast.serving.fast_csv import read_plain, read_upload
from stockcast.serving.service import rejection_for

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[2])
MIN_ROWS = 8
PLAIN = b"Date,Open,High,Low,Close,Volume\n" + b"".join(
    f"2013-01-0{day},10,11,9,10,5\n".encode() for day in range(1, 9)
)
HEADERS = [
    "Date,Open,High,Low,Close,Volume",  # the plain case
    "date,open,high,low,close,volume",
    "Date, Open,High,Low,Close,Volume",
    "Date,Open,High,Low,Close,Volume,Adj Close",
    "Date,Open,High,Low,Close",
    "Date,Open,High,Low,Close,Volume,",
]


def verdict(read, body: bytes) -> tuple:
    """What a client would see: a refusal's status, reason and message, or the bars and notes."""
    try:
        table = read(body, MIN_ROWS)
    except DataValidationError as error:
        return ("refused", rejection_for(error).status, error.reason, str(error))
    bars = table.bars
    return ("read", bars.stamps.tobytes(), bars.ohlcv.tobytes(), str(bars.tz), table.notes())


def price_cells() -> st.SearchStrategy[str]:
    """A price as files write it: mostly plain decimals, sometimes anything but."""
    value = st.floats(min_value=1, max_value=2000, allow_nan=False)
    return st.one_of(
        value.map(lambda x: f"{x:.2f}"),
        value.map(lambda x: f"{x:.6f}"),
        value.map(repr),  # 17 significant digits: pandas' own rounding
        st.integers(1, 10**16).map(str),
        st.sampled_from(["0", "-0", "-1.5", "", "nan", "inf", "1e3", " 12.5", "12.5 ", '"12.5"']),
        st.sampled_from([".5", "5.", "1..2", "-", "00012.50", "1,234.50", "12.5.", "1_000"]),
    )


def volume_cells() -> st.SearchStrategy[str]:
    return st.sampled_from(["0", "-0", "-0.0", "-5", "1.5", "", "null", "1e6", "0.0", "12"])


# how a whole file writes its prices: 2 or 6 decimals, whole numbers, or Python's shortest repr
# (up to 17 significant digits, where pandas' parser is not correctly rounded)
PRICE_FORMATS = [
    "{:.2f}".format,
    "{:.6f}".format,
    "{:.0f}".format,
    lambda x: repr(float(x)),
    lambda x: repr(float(x) * 1e4),
]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A plain valid upload about half the time; otherwise one thing about it bent."""
    rows = draw(st.integers(MIN_ROWS - 2, 16))
    start = draw(st.sampled_from(["2013-01-02", "1677-09-25", "1678-01-02", "2261-12-20"]))
    gaps = draw(st.lists(st.sampled_from([1, 1, 1, 2, 3]), min_size=rows, max_size=rows))
    days = [str(day) for day in np.datetime64(start) + np.cumsum(gaps).astype("timedelta64[D]")]
    close = draw(st.floats(min_value=5, max_value=1000))
    written = draw(st.sampled_from(PRICE_FORMATS))
    table = []
    for day in days:
        close *= draw(st.floats(min_value=0.9, max_value=1.1))
        prices = [close * 1.001, close * 1.02, close * 0.98, close]  # Open, High, Low, Close
        volume = draw(st.integers(0, 10**9))
        table.append([day, *(written(x) for x in prices), str(volume)])
    header = HEADERS[0]
    if rows and draw(st.booleans()):
        row, flaw = draw(st.integers(0, rows - 1)), draw(st.integers(0, 7))
        if flaw == 0:
            table[row][draw(st.integers(1, 4))] = draw(price_cells())
        elif flaw == 1:
            table[row][5] = draw(volume_cells())
        elif flaw == 2:
            table[row][0] = draw(st.sampled_from(["2013-02-30", "2013-3-1", "01/02/2013", "", "x"]))
        elif flaw == 3:
            table[row][0] = table[row - 1][0]  # a duplicate, or (row 0) the last date first
        elif flaw == 4:
            table[row][2], table[row][3] = table[row][3], table[row][2]  # High below Low
        elif flaw == 5:  # a suspicious move from here on
            factor = draw(st.sampled_from([0.5, 2.0, 12.0, 0.3, 1.4]))
            for later in table[row:]:
                later[1:5] = [f"{float(x) * factor:.4f}" for x in later[1:5]]
        elif flaw == 6:
            table[row] = table[row][: draw(st.integers(1, 5))]  # a line cut short
        else:
            header = draw(st.sampled_from(HEADERS[1:]))
    text = "\n".join([header, *(",".join(cells) for cells in table)])
    text += draw(st.sampled_from(["\n", "", "\n\n"]))
    if draw(st.integers(0, 5)) == 0:
        text = text.replace("\n", "\r\n")
    return text.encode()


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies())
@example(body=PLAIN + b"2013-01-09,10,11,9,10,-0\n")  # pandas: 0.0 in an integer column
@example(body=PLAIN + b"2013-01-09,10,11,9,10.011821624700257,5\n")  # pandas: ...255
def test_the_served_reader_and_the_reference_give_every_body_the_same_verdict(body):
    served, reference = verdict(read_upload, body), verdict(read_price_table, body)
    event(f"fast path: {read_plain(body, MIN_ROWS) is not None}, verdict: {served[0]}")
    assert served == reference


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300).map(lambda tail: b"Date,Open,High,Low,Close,Volume\n" + tail))
def test_the_fast_path_never_raises_and_never_accepts_what_the_reference_refuses(body):
    plain = read_plain(body, MIN_ROWS)
    if plain is not None:
        assert verdict(read_price_table, body)[0] == "read"


def test_the_sample_upload_takes_the_fast_path_and_reads_as_the_reference_does():
    body = LAYOUT.sample_upload()
    plain, reference = read_plain(body, MIN_ROWS), read_price_table(body, MIN_ROWS)
    assert plain is not None
    np.testing.assert_array_equal(plain.bars.stamps, reference.frame["Date"].array.asi8)
    np.testing.assert_array_equal(plain.bars.ohlcv, reference.frame.iloc[:, 1:].to_numpy())
    assert plain.notes() == reference.notes()


@pytest.mark.parametrize(
    "change",
    [
        lambda text: text.replace("\n", "\r\n"),  # Windows line ends
        lambda text: text.replace("Volume", "volume", 1),  # header case
        lambda text: "\ufeff" + text,  # a byte-order mark
        lambda text: text.replace(",", ";").replace(".", ","),  # a European export
    ],
)
def test_other_shapes_of_a_valid_file_are_left_to_the_reference(change):
    body = change(LAYOUT.sample_upload().decode()).encode()
    assert read_plain(body, MIN_ROWS) is None
    assert verdict(read_upload, body) == verdict(read_price_table, body)
