"""Shape limits on an uploaded CSV, checked on the raw bytes before any parsing.

Why: parsing cost is not proportional to bytes. pandas is slow on word-style dates
("Monday 01 January 1900 00:00", dateutil's slow path), and its handling of a wide line grows
worse than linearly (a header of 600,000 repeated names, or one data row of 600,000 fields under
a normal header, kept a worker busy for minutes; the measurements:
docs/decisions/2026-11-24-upload-shape-limits.md). TorchServe's `max_request_size` bounds bytes only; a
body under it could still hold a batch hostage past `responseTimeout`, after which TorchServe
kills the worker and every request of the batch fails. Counting line breaks and delimiters is a
linear scan in C, so a refusal here costs milliseconds whatever the body holds.

The limits leave room for any real price history: 10,000 daily bars is 40 years, and the
forecast itself computes on the last `Forecaster.rows_read` rows only (282 by default).

A multi-ticker request (`multi_ticker`) is bounded as a whole: at most `MAX_TICKERS` tickers and
`MAX_TOTAL_ROWS` data rows across them, on top of each ticker's own `MAX_ROWS`. Why these values:
  * over HTTP, TorchServe's `max_request_size` (2 MiB, torchserve/config.properties) binds
    first: about 35,000 rows of 60 bytes, some 120 tickers of the 282 rows a forecast reads, or
    the 500 tickers at about 70 rows each. At a few milliseconds per ticker (split, validation,
    its share of the forward pass) that is seconds of a worker's time even four such requests to
    a batch (`batchSize`), inside the 30 s `responseTimeout` (torchserve/model-config.yaml);
  * without TorchServe (an offline batch calling `answer_batch`), 500 tickers of 2,000 rows
    each (8 years of daily bars) is about 50 MB of CSV; it was answered in 8 to 10 s on the
    shared 2-core development machine at a load average of 8, which a batch job can wait for.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

MAX_ROWS = 10_000
MAX_FIELDS = 64  # the CSV needs 6 columns; extra ones are dropped, but only this many
MAX_TICKERS = 500  # tickers in one multi-ticker request
MAX_TOTAL_ROWS = 500 * 2_000  # data rows of a multi-ticker request, all tickers together
_AS_COMMA = bytes.maketrans(b";\t", b",,")


def shape_problem(body: bytes) -> str | None:
    """Why `body` is too large to parse (one sentence naming the limit), or None when it fits.

    Rows are counted as line breaks, an upper bound on what pandas reads (`\\r`, `\\n` and
    `\\r\\n` all end a line); fields as delimiters (commas, semicolons and tabs together, as
    any of them may be the file's) plus one on the widest line.
    """
    lines = _lines(body)
    if lines > MAX_ROWS + 2:  # a header, the rows, and a final line break
        return (
            f"too many rows: the CSV has {lines:,} lines and at most {MAX_ROWS:,} data rows are "
            "accepted; send the most recent rows (the forecast reads only the last few hundred)"
        )
    return _width_problem(body)


def multi_shape_problem(bodies: Sequence[bytes]) -> str | None:
    """Why the CSVs of one multi-ticker request (a long CSV, or one per upload part) are too
    large to parse, naming the limit and the count found; None when they fit. Lines are counted
    as in `shape_problem`, less a header and a final line break per CSV."""
    rows = sum(_lines(body) - 2 for body in bodies)
    if rows > MAX_TOTAL_ROWS:
        return (
            f"too many rows: the request has {rows:,} lines of data across its tickers and at "
            f"most {MAX_TOTAL_ROWS:,} are accepted in one request; send the most recent rows "
            "of each ticker (the forecast reads only the last few hundred) or split the request"
        )
    return next(filter(None, map(_width_problem, bodies)), None)


def _lines(body: bytes) -> int:
    return max(body.count(b"\n"), body.count(b"\r")) + 1


def _width_problem(body: bytes) -> str | None:
    lines_of_commas = body.replace(b"\r", b"\n").translate(_AS_COMMA).split(b"\n")
    widest = max(map(bytes.count, lines_of_commas, repeat(b","))) + 1  # no Python-level loop
    if widest > MAX_FIELDS:
        return (
            f"too many columns: a line of the CSV has {widest:,} fields and at most {MAX_FIELDS} "
            "are accepted; send Date,Open,High,Low,Close,Volume"
        )
    return None
