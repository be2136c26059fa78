"""The common upload read by NumPy's C text reader in a fraction of the reference validator's time.

Why: reading and validating a 250-row upload through pandas (`read_price_table`) was most of a
served request's CPU time. Most uploads are the
plain case: `Date,Open,High,Low,Close,Volume` exactly, commas, ISO dates, plain decimals, no
quotes, no empty cells, rows in date order, nothing to warn about. `np.loadtxt` (NumPy's C
reader) parses such a body straight into a record array, and the checks run on NumPy arrays,
in less time than pyarrow's CSV reader takes to set up at the sizes a forecast reads (why, and
the measurements: docs/decisions/2026-12-06-csv-fast-path-numpy-loadtxt.md).

The rule that keeps the guarantees: this path only ever accepts. Anything that is not the plain
case, and every body that would be refused or warned about, goes to `read_price_table`, so each
refusal, warning and message is the reference validator's own. A property test
(tests/serving/test_fast_csv.py) checks that both paths give the same status, reason, message,
notes and arrays for generated bodies.

What "plain" excludes, and why each matters for exactness:
  * bytes other than digits, `.`, `-`, `,` and line feeds after the header: spaces, quotes,
    `\\r`, exponents, `nan`/`inf`, other delimiters and non-ASCII all take the reference path;
  * any `-` but the two of each date (no negative numbers, no `-0` volume, which pandas reads as
    +0.0 in an integer column), an empty line or cell;
  * cells of more than 15 bytes (numbers of more than 15 digits): pandas' float parser, which
    the reference uses, is correctly rounded only while the digits fit a double exactly (Python's
    shortest repr, 17 digits, differs in about one cell in four); NumPy's (`PyOS_string_to_double`)
    always is;
  * a date cell that is not `YYYY-MM-DD` exactly (NumPy would read `2013-03` as March 1st), and
    dates outside 1678..2261, which pandas refuses or which need its own messages.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from stockcast.errors import DataValidationError
from stockcast.inputs.bars import OHLCV, Bars
from stockcast.inputs.date_formats import ISO
from stockcast.inputs.plausibility import calm
from stockcast.inputs.validation import COLUMNS, PriceTable, read_price_table
from stockcast.serving.upload_limits import MAX_ROWS, shape_problem

HEADER = (",".join(COLUMNS) + "\n").encode()
READ_AS = {"delimiter": ",", "decimal": ".", "dates": ISO, "prices": "as written"}
_PLAIN_BYTES = b"0123456789.-,\n"
MAX_CELL = 15  # bytes: at most 15 digits, which a double holds exactly
FIELDS = len(COLUMNS)
_RECORD = np.dtype([("Date", "datetime64[D]"), ("OHLCV", np.float64, (len(OHLCV),))])
_DASH, _NEWLINE = ord("-"), ord("\n")
_DASHES_BEFORE_END = np.array([6, 3])  # YYYY-MM-DD's dashes, counted back from the date's end
# datetime64[D] bounds of the years pandas reads and the reference reports without a special case
_FIRST_DAY, _LAST_DAY = np.datetime64("1678-01-01", "D"), np.datetime64("2261-12-31", "D")


@dataclass(frozen=True)
class PlainUpload:
    """A plain upload's bars; how it was read is the same for every plain upload."""

    bars: Bars

    def notes(self) -> dict:
        """`read_as`, `dropped_rows` and `warnings`, as `PriceTable.notes` gives them."""
        return {"read_as": dict(READ_AS), "dropped_rows": [], "warnings": []}


def read_upload(body: bytes, min_rows: int) -> PlainUpload | PriceTable:
    """The validated upload: by the fast path when it is plain and valid, else, once it is
    within the shape limits (`upload_limits`), by `read_price_table`. Raises
    `DataValidationError` for what it refuses (reason `too_large` past the limits).

    The fast path comes first because it costs less than the limits' own scan, and it never
    accepts a body the limits refuse: at most `MAX_ROWS` rows of exactly six fields.
    """
    plain = read_plain(body, min_rows)
    if plain is not None:
        return plain
    too_large = shape_problem(body)
    if too_large:
        raise DataValidationError(too_large, "too_large")
    return read_price_table(body, min_rows=min_rows)


def read_plain(body: bytes, min_rows: int) -> PlainUpload | None:
    """The bars of a plain, valid upload of at least `min_rows` rows; None for any other body."""
    if not body.startswith(HEADER):
        return None
    data = body[len(HEADER) :]
    if not data.endswith(b"\n"):
        data += b"\n"
    rows = data.count(b"\n")
    if (
        not max(min_rows, 1) <= rows <= MAX_ROWS
        or data.translate(None, _PLAIN_BYTES)
        or data.count(b"-") != 2 * rows
        or not _plain_cells(np.frombuffer(data, np.uint8), rows)
    ):
        return None
    try:  # text rather than bytes: NumPy's reader takes it ~10% faster
        table = np.loadtxt(
            io.StringIO(data.decode("ascii")), delimiter=",", dtype=_RECORD, comments=None, ndmin=1
        )
    except ValueError:  # a date that is no day (2013-02-30), a number like 1.2.3, an empty cell
        return None
    days = table["Date"]  # [N] datetime64[D]
    ohlcv = np.ascontiguousarray(table["OHLCV"])  # [N, 5]
    if not _valid(days, ohlcv, min_rows):
        return None
    return PlainUpload(Bars(days.astype("datetime64[ns]").view(np.int64), ohlcv))


def _plain_cells(text: np.ndarray, rows: int) -> bool:
    """Every line of `text` (bytes [n] of digits, `.`, `-`, `,` and line feeds, `2 * rows` of
    them `-`, each line ending in a line feed) holds six cells of at most `MAX_CELL` bytes, and
    the first is ten bytes with a `-` at the places of `YYYY-MM-DD`'s (so no other cell holds
    one). What else a cell holds is `np.loadtxt`'s to refuse: an empty cell, a stray `.` in a
    date or a number like `1.2.3` raise there."""
    ends = np.flatnonzero(text < _DASH)  # where each cell ends: "," and "\n" sort below "-"
    if len(ends) != FIELDS * rows or ends[0] != 10 or np.diff(ends).max() > MAX_CELL + 1:
        return False
    line_ends, date_ends = ends[FIELDS - 1 :: FIELDS], ends[::FIELDS]  # [rows] each
    return bool(
        (text[line_ends] == _NEWLINE).all()  # six cells a line, so the others end in commas
        and (date_ends[1:] - line_ends[:-1] == 11).all()  # ten-byte dates after the first
        and (text[date_ends[:, None] - _DASHES_BEFORE_END] == _DASH).all()
    )


def _valid(days: np.ndarray, ohlcv: np.ndarray, min_rows: int) -> bool:
    """What the reference would accept without a word: enough rows, dates in range and strictly
    ascending, positive prices, High >= Low, no suspicious move. (Prices are finite and volumes
    >= 0, and not -0, by construction: at most 15 digits and no sign.)"""
    if len(days) < max(min_rows, 1) or days[0] < _FIRST_DAY or days[-1] > _LAST_DAY:
        return False
    return bool(
        (days[1:] > days[:-1]).all()
        and ohlcv[:, :4].min() > 0
        and (ohlcv[:, 1] >= ohlcv[:, 2]).all()
        and calm(ohlcv[:, 3])
    )
