"""Several tickers in one prediction request, split into one ordinary upload per ticker.

Why split rather than read a long table at once: every ticker must get exactly what a single
upload of its rows gets (the same validation, refusals, warnings, calendar and forecast), so each
ticker's rows become a CSV of their own, the Ticker column removed, and that CSV goes through the
single-upload path unchanged. Two ways to ask:

  * long format: a CSV (the raw body, or a multipart upload part) with a `Ticker` or `Symbol`
    column (any case or spacing, as the other column names), rows of several tickers in any
    order. Rows are grouped by that column's value (spaces around it stripped, case kept: `aapl`
    and `AAPL` are two tickers), each group keeping the file's row order, which the validator
    then sorts by date as it sorts any upload. A Ticker column naming a single ticker is still a
    multi-ticker request: the client chose the column, so it gets the multi-ticker answer.
  * several multipart parts: each part other than the reserved `exchange` field that is an
    upload is one ticker (or several, when the part has a Ticker column of its own). A part is an
    upload when it is named `data` or `file`, or when its first line is a CSV header naming a
    `Date` column; other form fields (a note, a checkbox) are ignored, as before. A part's ticker
    is the Ticker/Symbol value inside it when there is one, else the part's field name
    (`curl -F AAPL=@aapl.csv -F MSFT=@msft.csv`). A lone part not named `data` or `file` is still
    refused as a misnamed upload field, as it was before several parts were read.

Messages about a ticker's rows number them within that ticker's own CSV (its header row 1), as if
its rows had been uploaded alone. A row without a ticker value and a ticker named twice (in two
parts) make the whole request ambiguous, so they refuse it (400), as does a request past the
limits of `upload_limits` (413, counted before any price is parsed).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from stockcast.errors import DataValidationError
from stockcast.inputs.csv_dialect import header_delimiter
from stockcast.inputs.validation import decode_csv_text
from stockcast.serving.upload_limits import MAX_TICKERS, multi_shape_problem

TICKER_COLUMNS = ("ticker", "symbol")  # header names, lower case without spaces; first one wins
Row = TypeVar("Row", str, list[str])  # a row as a line of text, or as its cells


@dataclass(frozen=True)
class TickerUpload:
    """One ticker's rows as a CSV of their own, ready for the single-upload path."""

    ticker: str
    body: bytes


def header_names(body: bytes) -> list[str] | None:
    """The names of `body`'s header line, lower case without spaces; None when its first
    non-blank line is not UTF-8 text (the single-upload path then says what is wrong)."""
    start = len(body) - len(body.lstrip(b"\r\n"))
    end = min((i for i in (body.find(b"\n", start), body.find(b"\r", start)) if i >= 0), default=-1)
    try:
        line = body[start : end if end >= 0 else len(body)].decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    cells = next(csv.reader([line], delimiter=header_delimiter(line)), [])
    return ["".join(cell.lower().split()) for cell in cells]


def ticker_column(names: Sequence[str] | None) -> int | None:
    """Where the Ticker (else Symbol) column is among the header's `names`, if anywhere."""
    for wanted in TICKER_COLUMNS:
        if names and wanted in names:
            return list(names).index(wanted)
    return None


def is_long_format(body: bytes) -> bool:
    """Whether `body` is a CSV whose header has a Ticker or Symbol column."""
    return ticker_column(header_names(body)) is not None


def looks_like_prices(body: bytes) -> bool:
    """Whether `body` starts with a CSV header naming a Date column: an upload part of any name."""
    names = header_names(body)
    return bool(names) and "date" in names


def split_parts(parts: Sequence[tuple[str, bytes]]) -> list[TickerUpload]:
    """The per-ticker uploads of a request's upload parts (`(field name, bytes)`, one part for a
    raw body), in the order tickers first appear.

    Raises `DataValidationError`: `too_large` past the total rows or fields, `too_many_tickers`
    past `MAX_TICKERS` (both before any price is parsed), `not_utf8` for a long CSV that is not
    UTF-8 text, `missing_ticker` for a row without a ticker value or a Ticker column without
    rows, `duplicate_ticker` for a ticker named in two parts.
    """
    _refuse_past_limits(len(parts), multi_shape_problem([body for _, body in parts]))
    uploads: list[TickerUpload] = []
    for name, body in parts:
        column = ticker_column(header_names(body))
        uploads += [TickerUpload(name, body)] if column is None else split_long(body, column)
    if not uploads:
        raise DataValidationError(
            "the CSV has a Ticker column but no rows: send one row per ticker and day",
            "missing_ticker",
        )
    _refuse_past_limits(len(uploads), None)
    seen: set[str] = set()
    for upload in uploads:
        if upload.ticker in seen:
            raise DataValidationError(
                f"ticker {upload.ticker!r} is named by more than one upload part; send each "
                "ticker's rows once",
                "duplicate_ticker",
            )
        seen.add(upload.ticker)
    return uploads


def split_long(body: bytes, column: int) -> list[TickerUpload]:
    """A long CSV's rows grouped by its ticker `column`, each group a CSV with the same header
    and delimiter less that column, rows in file order, tickers in order of first appearance.

    A file without quotes or carriage returns (what code and most exports write) is split as
    lines of text, which is several times faster than tokenizing it; any other goes through
    Python's `csv` module, and a cell it unquotes is quoted again on the way out where the
    delimiter needs it, so the validator reads the same cells either way.
    """
    text = decode_csv_text(body)
    delimiter = header_delimiter(text)
    if '"' in text or "\r" in text:
        records = _records(text, delimiter)
        header, _ = next(records, ([], 1))
        del header[column]
        groups = _grouped(((_cut(record, column), line) for record, line in records))
        return [
            TickerUpload(ticker, _csv_bytes(header, rows, delimiter))
            for ticker, rows in groups.items()
        ]
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if line.strip())  # the header's
    header = _cut_line(lines[first], column, delimiter)[1]
    groups = _grouped(
        (_cut_line(line, column, delimiter), number)
        for number, line in enumerate(lines[first + 1 :], start=first + 2)
        if line.strip()  # a blank line, which the validator skips too
    )
    return [
        TickerUpload(ticker, "\n".join([header, *rows, ""]).encode())
        for ticker, rows in groups.items()
    ]


def _cut_line(line: str, column: int, delimiter: str) -> tuple[str, str]:
    """The ticker in `column` of an unquoted `line` and the line without that cell."""
    if column == 0:  # the usual long format, Ticker first: no need to split every cell
        ticker, _, rest = line.partition(delimiter)
        return ticker.strip(), rest
    ticker, cells = _cut(line.split(delimiter), column)
    return ticker, delimiter.join(cells)


def _records(text: str, delimiter: str) -> Iterator[tuple[list[str], int]]:
    """Each non-blank record of `text` and the line it ends on (the csv module's count)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    for record in reader:
        if record and (len(record) > 1 or record[0].strip()):
            yield record, reader.line_num


def _cut(cells: list[str], column: int) -> tuple[str, list[str]]:
    """The ticker in `column` (stripped; empty when the row is too short) and the other cells."""
    return (cells.pop(column).strip() if len(cells) > column else ""), cells


def _grouped(rows: Iterable[tuple[tuple[str, Row], int]]) -> dict[str, list[Row]]:
    """Rows by ticker, in order of first appearance; `DataValidationError` naming the first row
    (numbered as in a spreadsheet) that has no ticker value."""
    groups: dict[str, list[Row]] = {}
    for (ticker, cells), line in rows:
        if not ticker:
            raise DataValidationError(
                f"row {line} has no ticker value: every row of a CSV with a Ticker column names "
                "its ticker (rows numbered as in a spreadsheet, the header is row 1)",
                "missing_ticker",
            )
        groups.setdefault(ticker, []).append(cells)
    return groups


def _csv_bytes(header: list[str], rows: list[list[str]], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _refuse_past_limits(tickers: int, shape: str | None) -> None:
    if shape:
        raise DataValidationError(shape, "too_large")
    if tickers > MAX_TICKERS:
        raise DataValidationError(
            f"too many tickers: the request has {tickers:,} and at most "
            f"{MAX_TICKERS:,} are accepted in one request; split it into several requests",
            "too_many_tickers",
        )
