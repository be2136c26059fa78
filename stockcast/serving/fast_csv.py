"""The common upload read by pyarrow in a fraction of the reference validator's time.

Why: reading and validating a 250-row upload through pandas (`read_price_table`) was most of a
served request's CPU time (issue 12, py-spy: 72-86%; 3.4 ms for 250 rows, ~0.25 ms here). Most
uploads are the plain case: `Date,Open,High,Low,Close,Volume` exactly, commas, ISO dates, plain
decimals, no quotes, no empty cells, rows in date order, nothing to warn about. pyarrow's CSV
reader parses such a body straight into typed columns, and the checks run on NumPy arrays.

The rule that keeps the guarantees: this path only ever accepts. Anything that is not the plain
case, and every body that would be refused or warned about, goes to `read_price_table`, so each
refusal, warning and message is the reference validator's own. A property test
(tests/serving/test_fast_csv.py) checks that both paths give the same status, reason, message,
notes and arrays for generated bodies.

What "plain" excludes, and why each matters for exactness:
  * bytes other than digits, `.`, `-`, `,` and line feeds after the header: spaces, quotes,
    `\\r`, exponents, `nan`/`inf`, other delimiters and non-ASCII all take the reference path;
  * cells of more than 15 bytes (numbers of more than 15 digits): pandas' float parser, which
    the reference uses, is correctly rounded only while the digits fit a double exactly (Python's
    shortest repr, 17 digits, differs in about one cell in four); pyarrow's always is;
  * dates outside 1678..2261, which pandas refuses or which need its own messages;
  * a negative zero volume, which pandas reads as +0.0 in an integer column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from stockcast.data.bars import OHLCV, Bars
from stockcast.data.date_formats import ISO
from stockcast.data.plausibility import calm
from stockcast.data.validation import COLUMNS, PriceTable, read_price_table
from stockcast.errors import DataValidationError
from stockcast.serving.upload_limits import MAX_ROWS, shape_problem

HEADER = (",".join(COLUMNS) + "\n").encode()
READ_AS = {"delimiter": ",", "decimal": ".", "dates": ISO, "prices": "as written"}
_PLAIN_BYTES = b"0123456789.-,\n"
MAX_CELL = 15  # bytes: at most 15 digits, which a double holds exactly
# datetime64[D] bounds of the years pandas reads and the reference reports without a special case
_FIRST_DAY, _LAST_DAY = np.datetime64("1678-01-01", "D"), np.datetime64("2261-12-31", "D")
_READ = pa_csv.ReadOptions(use_threads=False, column_names=list(COLUMNS))  # the rows after HEADER
_PARSE = pa_csv.ParseOptions(quote_char=False)  # a quote is not a digit: the body fails the reading
_CONVERT = pa_csv.ConvertOptions(
    column_types={"Date": pa.date32(), **{name: pa.float64() for name in OHLCV}},
    null_values=[],  # an empty cell or `null` fails the conversion instead of reading as null
    strings_can_be_null=False,
)


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
    if not body.startswith(HEADER) or body.count(b"\n") > MAX_ROWS + 1:
        return None
    data = body[len(HEADER) :]
    if data.translate(None, _PLAIN_BYTES) or _widest_cell(data) > MAX_CELL:
        return None
    try:  # open_csv(...).read_all() sets up in about half the time of read_csv
        table = pa_csv.open_csv(
            pa.py_buffer(data), read_options=_READ, parse_options=_PARSE, convert_options=_CONVERT
        ).read_all()
    except pa.ArrowInvalid:  # a field count, date or number the plain case does not have
        return None
    days = table.column("Date").to_numpy().astype("datetime64[D]")  # [N]
    ohlcv = np.column_stack([table.column(name).to_numpy() for name in OHLCV])  # [N, 5]
    if not _valid(days, ohlcv, min_rows):
        return None
    return PlainUpload(Bars(days.astype("datetime64[ns]").view(np.int64), ohlcv))


def _widest_cell(data: bytes) -> int:
    """Bytes in the longest cell of comma- and line-separated `data`."""
    text = np.frombuffer(data, np.uint8)  # [bytes]
    ends = np.flatnonzero((text == ord(",")) | (text == ord("\n")))  # where each cell ends
    return int(np.diff(ends, prepend=-1, append=len(text)).max()) - 1


def _valid(days: np.ndarray, ohlcv: np.ndarray, min_rows: int) -> bool:
    """What the reference would accept without a word: enough rows, dates in range and strictly
    ascending, positive finite prices, High >= Low, a volume >= 0 (not -0), no suspicious move."""
    if len(days) < max(min_rows, 1) or days[0] < _FIRST_DAY or days[-1] > _LAST_DAY:
        return False
    prices, volume = ohlcv[:, :4], ohlcv[:, 4]
    high, low = ohlcv[:, 1], ohlcv[:, 2]
    return bool(
        (np.diff(days) > np.timedelta64(0, "D")).all()
        and np.isfinite(ohlcv).all()
        and (prices > 0).all()
        and (volume >= 0).all()
        and not np.signbit(volume).any()
        and (high >= low).all()
        and calm(ohlcv[:, 3])
    )
