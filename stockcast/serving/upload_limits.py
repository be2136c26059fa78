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
"""

from __future__ import annotations

from itertools import repeat

MAX_ROWS = 10_000
MAX_FIELDS = 64  # the CSV needs 6 columns; extra ones are dropped, but only this many
_AS_COMMA = bytes.maketrans(b";\t", b",,")


def shape_problem(body: bytes) -> str | None:
    """Why `body` is too large to parse (one sentence naming the limit), or None when it fits.

    Rows are counted as line breaks, an upper bound on what pandas reads (`\\r`, `\\n` and
    `\\r\\n` all end a line); fields as delimiters (commas, semicolons and tabs together, as
    any of them may be the file's) plus one on the widest line.
    """
    lines = max(body.count(b"\n"), body.count(b"\r")) + 1
    if lines > MAX_ROWS + 2:  # a header, the rows, and a final line break
        return (
            f"too many rows: the CSV has {lines:,} lines and at most {MAX_ROWS:,} data rows are "
            "accepted; send the most recent rows (the forecast reads only the last few hundred)"
        )
    lines_of_commas = body.replace(b"\r", b"\n").translate(_AS_COMMA).split(b"\n")
    widest = max(map(bytes.count, lines_of_commas, repeat(b","))) + 1  # no Python-level loop
    if widest > MAX_FIELDS:
        return (
            f"too many columns: a line of the CSV has {widest:,} fields and at most {MAX_FIELDS} "
            "are accepted; send Date,Open,High,Low,Close,Volume"
        )
    return None
