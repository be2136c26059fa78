"""One validation path for every OHLCV table: the download cache, a user's file, a served upload.

Policy (documented in docs/data.md):
  * read as written: comma, semicolon or tab delimiters, decimal commas and quoted thousands
    separators (`csv_dialect`), one date format for the whole column (`date_formats`);
  * repaired: header whitespace and letter case (`close ` -> `Close`), extra columns (dropped),
    rows out of date order (sorted), rows whose prices are all empty or `null` (Yahoo's
    placeholder: dropped and reported), and prices next to an `Adj Close` column (scaled by
    Adj Close / Close, as yfinance's auto_adjust does, so a split is not read as a crash);
  * warned about: one-day moves beyond a stated bound, split-like ones (`plausibility`);
  * refused: everything else that would make a forecast meaningless — missing columns or fields,
    ambiguous, mixed, out-of-range, unparseable or duplicate dates, rows with only some prices,
    non-numeric / non-finite / non-positive prices, negative volume, High < Low, and too few rows
    for one window.
Every refusal is a `DataValidationError` whose message names the column, the row (numbered as a
spreadsheet shows it) and the count, and holds no Python repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast.errors import DataValidationError
from stockcast.inputs.bars import Bars
from stockcast.inputs.csv_dialect import (
    ROWS_NOTE,
    Dialect,
    decimal_mark,
    file_row,
    header_delimiter,
    read_table,
    to_float,
)
from stockcast.inputs.date_formats import date_label, parse_date_column
from stockcast.inputs.plausibility import move_warnings

COLUMNS = ("Date", "Open", "High", "Low", "Close", "Volume")
PRICE_COLUMNS = ("Open", "High", "Low", "Close")
ADJ_CLOSE = "Adj Close"
EMPTY_CELLS = ("", "null")  # what spreadsheets and Yahoo's website write for a day without data


@dataclass(frozen=True)
class PriceTable:
    """A validated OHLCV frame and what its sender should know about how it was read."""

    frame: pd.DataFrame
    read_as: dict[str, str]
    dropped_rows: list[str] = field(default_factory=list)  # dates of rows with no prices
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def bars(self) -> Bars:
        """The frame as the arrays the forecaster reads."""
        return Bars.from_frame(self.frame)

    def notes(self) -> dict:
        """`read_as`, `dropped_rows` and `warnings`: what the server adds to a forecast."""
        return {
            "read_as": dict(self.read_as),
            "dropped_rows": list(self.dropped_rows),
            "warnings": list(self.warnings),
        }


def read_ohlcv_csv(source: str | Path | bytes, min_rows: int = 1) -> pd.DataFrame:
    """The validated frame of a CSV (path or raw bytes); see `read_price_table`."""
    return read_price_table(source, min_rows).frame


def read_price_table(source: str | Path | bytes, min_rows: int = 1) -> PriceTable:
    """Parse a CSV (path or raw bytes) into a validated OHLCV frame and how it was read.

    Raises:
        DataValidationError: the bytes are empty, not UTF-8, not a table, or fail `check_table`.
    """
    text = decode_csv_text(source if isinstance(source, bytes) else Path(source).read_bytes())
    delimiter = header_delimiter(text)
    try:
        table = read_table(text, delimiter)
    except pd.errors.EmptyDataError:
        raise DataValidationError("the CSV has no header row and no data", "not_csv") from None
    except pd.errors.ParserError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise DataValidationError(f"not a readable CSV table: {first_line}", "not_csv") from None
    return check_table(table, min_rows=min_rows, delimiter=delimiter)


def validate_ohlcv(frame: pd.DataFrame, min_rows: int = 1) -> pd.DataFrame:
    """Check an OHLCV table built in code (e.g. from yfinance); see `check_table`."""
    return check_table(frame, min_rows=min_rows).frame


def check_table(frame: pd.DataFrame, min_rows: int = 1, delimiter: str = ",") -> PriceTable:
    """Check an OHLCV table and return it typed, sorted by date, with exactly `COLUMNS`.

    `Date` becomes datetime64 (tz-aware when the input carries an offset, as intraday data does);
    prices and volume become float64, scaled by Adj Close / Close when that column is there. The
    checks run on NumPy arrays: the server validates every upload, and per-call pandas overhead
    was most of its compute time.
    """
    cells = _canonical_columns(frame)
    _refuse_short_rows(frame)
    dates, date_format = parse_date_column(cells["Date"])
    numeric = [name for name in cells if name != "Date"]  # Open..Volume, then Adj Close if any
    prices = [name for name in numeric if name != "Volume"]
    dialect = Dialect(delimiter, decimal_mark(delimiter, [cells[name] for name in prices]))
    values = {name: to_float(cells[name], dialect) for name in numeric}
    blank = {name: _blank(cells[name], np.isnan(numbers)) for name, numbers in values.items()}
    empty_day = np.logical_and.reduce([blank[name] for name in PRICE_COLUMNS])
    dropped = [date_label(day) for day in dates[empty_day]]
    keep = ~empty_day
    rows = np.flatnonzero(keep)  # the file position of each kept row, for messages
    if empty_day.any():
        dates = dates[keep].reset_index(drop=True)
        cells = {name: column[keep] for name, column in cells.items()}
        values = {name: numbers[keep] for name, numbers in values.items()}
        blank = {name: mask[keep] for name, mask in blank.items()}
    for name in numeric:
        _refuse_unreadable(name, cells[name], values[name], blank[name], rows, dates)
    _refuse_impossible_prices(values, prices, rows)
    adjusted = ADJ_CLOSE in values
    if adjusted:  # what yfinance's auto_adjust does: OHLC scaled alike, Volume as traded
        factor = values.pop(ADJ_CLOSE) / values["Close"]
        values |= {name: values[name] * factor for name in PRICE_COLUMNS}

    stamps = pd.DatetimeIndex(dates).asi8  # int64 ns since the epoch (UTC for tz-aware dates)
    order = np.argsort(stamps, kind="stable")
    _refuse_duplicates(dates, stamps[order], rows)
    if len(stamps) < min_rows:
        raise DataValidationError(
            f"too few rows: got {len(stamps)}, need at least {min_rows} (one input window plus "
            f"the rows features and backtest consume)"
            + (f"; {len(dropped)} row(s) without prices were dropped" if dropped else ""),
            "too_few_rows",
        )
    if not (np.diff(stamps) > 0).all():  # out of order: sort (skipped when already sorted)
        dates = dates.iloc[order].reset_index(drop=True)
        values = {name: numbers[order] for name, numbers in values.items()}
        rows = rows[order]
    read_as = {
        "delimiter": dialect.delimiter,
        "decimal": dialect.decimal,
        "dates": date_format,
        "prices": "adjusted by Adj Close / Close" if adjusted else "as written",
    }
    return PriceTable(
        frame=pd.DataFrame({"Date": dates} | {name: values[name] for name in COLUMNS[1:]}),
        read_as=read_as,
        dropped_rows=dropped,
        warnings=move_warnings(dates, values["Close"], rows, adjusted),
    )


def decode_csv_text(source: bytes) -> str:
    """`source` as text (UTF-8, a BOM dropped), or `DataValidationError` for an empty body, bytes
    that are not UTF-8 and binary data: the one place uploads are decoded."""
    if not source.strip():
        raise DataValidationError(
            "empty body: send a CSV with columns " + ",".join(COLUMNS), "empty_body"
        )
    try:
        text = source.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            f"the CSV is not UTF-8 text (undecodable byte at offset {exc.start})", "not_utf8"
        ) from None
    if "\x00" in text:
        raise DataValidationError(
            "the body is binary data (NUL bytes), not a CSV text file", "not_csv"
        )
    return text


def _canonical_columns(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The needed columns (and Adj Close if present) by canonical name, any case or spacing."""
    by_key = {"".join(str(col).lower().split()): col for col in frame.columns}
    missing = [name for name in COLUMNS if name.lower() not in by_key]
    if missing:
        found = ", ".join(repr(str(col)) for col in frame.columns[:10]) or "none"
        raise DataValidationError(
            f"missing column(s) {missing}: the CSV needs {','.join(COLUMNS)} (found: {found})",
            "missing_columns",
        )
    wanted = [*COLUMNS, ADJ_CLOSE] if "adjclose" in by_key else COLUMNS
    return {name: frame[by_key["".join(name.lower().split())]] for name in wanted}


def _refuse_short_rows(frame: pd.DataFrame) -> None:
    """A row with fewer fields than the header is a cut file, not a day without prices.

    `read_table` leaves the fields a line lacks NaN, so such a row lacks the file's last column.
    """
    last = frame.iloc[:, -1]
    absent = last.isna().to_numpy() if not pd.api.types.is_numeric_dtype(last) else []
    if np.any(absent):
        position = int(np.flatnonzero(absent)[0])
        raise DataValidationError(
            f"row {file_row(position)} has fewer fields than the header ({int(absent.sum())} "
            f"row(s) like it): is the file cut short? ({ROWS_NOTE})",
            "short_row",
        )


def _blank(cells: pd.Series, unread: np.ndarray) -> np.ndarray:
    """Where a cell is empty or `null` (looked at only where no number was read)."""
    blank = np.zeros(len(cells), dtype=bool)
    if unread.any() and not pd.api.types.is_numeric_dtype(cells):
        text = cells[unread].str.strip().str.lower()
        blank[unread] = text.isin(EMPTY_CELLS).to_numpy(bool)
    return blank


def _refuse_unreadable(
    name: str,
    cells: pd.Series,
    numbers: np.ndarray,
    blank: np.ndarray,
    rows: np.ndarray,
    dates: pd.Series,
) -> None:
    if np.isfinite(numbers).all():
        return
    if blank.any():
        at = int(np.flatnonzero(blank)[0])
        raise DataValidationError(
            f"missing value in column '{name}', row {file_row(rows[at])} "
            f"({date_label(dates.iloc[at])}; {int(blank.sum())} row(s) like it): a row with some "
            f"prices must have all of them, only rows with no prices at all are dropped "
            f"({ROWS_NOTE})",
            "missing_values",
        )
    text = cells.astype(str).str.strip()
    nan_text = text.str.lower().isin(["nan", "+nan", "-nan"]).to_numpy(bool)  # NaN is non-finite
    bad = np.isnan(numbers) & ~nan_text
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"non-numeric value in column '{name}', row {file_row(rows[at])}: "
            f"{text.iloc[at]!r} ({int(bad.sum())} bad value(s); {ROWS_NOTE})",
            "non_numeric",
        )
    infinite = ~np.isfinite(numbers)
    at = int(np.flatnonzero(infinite)[0])
    raise DataValidationError(
        f"non-finite value in column '{name}', row {file_row(rows[at])}: {float(numbers[at])} "
        f"({int(infinite.sum())} bad value(s); {ROWS_NOTE})",
        "non_finite",
    )


def _refuse_impossible_prices(
    values: dict[str, np.ndarray], prices: list[str], rows: np.ndarray
) -> None:
    checks = [
        (values[name] <= 0, f"{name} must be a positive price", name, "non_positive_price")
        for name in prices
    ] + [
        (values["Volume"] < 0, "Volume must not be negative", "Volume", "negative_volume"),
        (values["High"] < values["Low"], "High is below Low", "High", "inconsistent_prices"),
    ]
    for mask, problem, name, reason in checks:
        if mask.any():
            at = int(np.flatnonzero(mask)[0])
            raise DataValidationError(
                f"{problem}: row {file_row(rows[at])} has {name}={float(values[name][at])} "
                f"({int(mask.sum())} row(s) affected; {ROWS_NOTE})",
                reason,
            )


def _refuse_duplicates(dates: pd.Series, sorted_stamps: np.ndarray, rows: np.ndarray) -> None:
    if (sorted_stamps[1:] == sorted_stamps[:-1]).any():
        duplicated = dates.duplicated(keep=False).to_numpy()
        where = ", ".join(str(file_row(row)) for row in rows[duplicated][:6])
        raise DataValidationError(
            f"duplicate dates in column 'Date': {date_label(dates[duplicated].iloc[0])} appears "
            f"more than once ({int(duplicated.sum())} rows involved: rows {where}; {ROWS_NOTE})",
            "duplicate_dates",
        )
