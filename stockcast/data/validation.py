"""One validation path for every OHLCV table: the download cache, a user's file, a served upload.

Policy (documented in the README):
  * repaired: header whitespace and letter case (`close ` -> `Close`), extra columns (dropped),
    rows out of date order (sorted ascending);
  * refused: everything else that would make a forecast meaningless — missing columns, unparseable or
    duplicate dates, non-numeric / non-finite / non-positive prices, negative volume, High < Low,
    and too few rows for one window.
Every refusal is a `DataValidationError` whose message names the column, the row and the count.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast.errors import DataValidationError

COLUMNS = ("Date", "Open", "High", "Low", "Close", "Volume")
PRICE_COLUMNS = ("Open", "High", "Low", "Close")


def read_ohlcv_csv(source: str | Path | bytes, min_rows: int = 1) -> pd.DataFrame:
    """Parse a CSV (path or raw bytes) into a validated OHLCV frame.

    Raises:
        DataValidationError: the bytes are empty, not UTF-8, not a table, or fail `validate_ohlcv`.
    """
    if isinstance(source, bytes):
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
        buffer: io.StringIO | Path = io.StringIO(text)
    else:
        buffer = Path(source)
    try:
        frame = pd.read_csv(buffer, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataValidationError("the CSV has no header row and no data", "not_csv") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise DataValidationError(f"not a readable CSV table: {first_line}", "not_csv") from None
    return validate_ohlcv(frame, min_rows=min_rows)


def validate_ohlcv(frame: pd.DataFrame, min_rows: int = 1) -> pd.DataFrame:
    """Check an OHLCV table and return it typed, sorted by date, with exactly `COLUMNS`.

    `Date` becomes datetime64 (tz-aware when the input carries an offset, as intraday data does);
    prices and volume become float64. Row numbers in messages count data rows from 1, as a
    spreadsheet user sees them below the header. The checks run on NumPy arrays: the server
    validates every upload, and per-call pandas overhead was most of its compute time.
    """
    frame = _canonical_columns(frame)
    dates = _parse_dates(frame["Date"])
    values = {name: _parse_numbers(frame[name], name) for name in COLUMNS[1:]}

    for name in PRICE_COLUMNS:
        _refuse_rows(
            values[name] <= 0,
            f"{name} must be a positive price",
            name,
            values[name],
            "non_positive_price",
        )
    _refuse_rows(
        values["Volume"] < 0,
        "Volume must not be negative",
        "Volume",
        values["Volume"],
        "negative_volume",
    )
    _refuse_rows(
        values["High"] < values["Low"],
        "High is below Low",
        "High",
        values["High"],
        "inconsistent_prices",
    )

    stamps = pd.DatetimeIndex(dates).asi8  # int64 ns since the epoch (UTC for tz-aware dates)
    order = np.argsort(stamps, kind="stable")
    repeated = stamps[order][1:] == stamps[order][:-1]
    if repeated.any():
        duplicated = dates.duplicated(keep=False).to_numpy()
        rows = list(np.flatnonzero(duplicated)[:6] + 1)
        raise DataValidationError(
            f"duplicate dates in column 'Date': {dates[duplicated].iloc[0]} "
            f"appears more than once ({int(duplicated.sum())} rows involved, rows {rows})",
            "duplicate_dates",
        )
    if len(stamps) < min_rows:
        raise DataValidationError(
            f"too few rows: got {len(stamps)}, need at least {min_rows} "
            f"(one input window plus the rows features and backtest consume)",
            "too_few_rows",
        )
    if (np.diff(stamps) > 0).all():  # already in order: skip the reindexing copies
        return pd.DataFrame({"Date": dates} | values)
    return pd.DataFrame(
        {"Date": dates.iloc[order].reset_index(drop=True)}
        | {name: column[order] for name, column in values.items()}
    )


def _canonical_columns(frame: pd.DataFrame) -> pd.DataFrame:
    by_key = {str(col).strip().lower(): col for col in frame.columns}
    missing = [name for name in COLUMNS if name.lower() not in by_key]
    if missing:
        found = ", ".join(repr(str(col)) for col in frame.columns[:10]) or "none"
        raise DataValidationError(
            f"missing column(s) {missing}: the CSV needs {','.join(COLUMNS)} (found: {found})",
            "missing_columns",
        )
    return frame[[by_key[name.lower()] for name in COLUMNS]].set_axis(list(COLUMNS), axis=1)


def _parse_dates(column: pd.Series) -> pd.Series:
    text = column.astype(str).str.strip()
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    except (ValueError, TypeError) as exc:  # e.g. mixed time zones in one column
        raise DataValidationError(f"column 'Date' cannot be parsed: {exc}", "bad_dates") from None
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise DataValidationError(
            f"unparseable date in column 'Date', row {row}: {text.iloc[row - 1]!r} "
            f"({int(bad.sum())} bad value(s); use YYYY-MM-DD)",
            "bad_dates",
        )
    return parsed.reset_index(drop=True)


def _parse_numbers(column: pd.Series, name: str) -> np.ndarray:
    # Fast path for the usual clean column: one vectorised conversion, which tolerates
    # surrounding whitespace. Anything it cannot turn into finite numbers goes through the slower
    # path below, which words the refusal.
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
    if np.isfinite(numbers).all():
        return numbers
    text = column.astype(str).str.strip()
    parsed = pd.to_numeric(text, errors="coerce")
    bad = parsed.isna() & ~text.str.lower().isin(["nan", "+nan", "-nan"])  # NaN is non-finite
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise DataValidationError(
            f"non-numeric value in column '{name}', row {row}: {text.iloc[row - 1]!r} "
            f"({int(bad.sum())} bad value(s))",
            "non_numeric",
        )
    infinite = ~np.isfinite(numbers)
    row = int(np.flatnonzero(infinite)[0]) + 1
    raise DataValidationError(
        f"non-finite value in column '{name}', row {row}: {numbers[row - 1]} "
        f"({int(infinite.sum())} bad value(s))",
        "non_finite",
    )


def _refuse_rows(
    mask: np.ndarray, problem: str, name: str, values: np.ndarray, reason: str
) -> None:
    if mask.any():
        row = int(np.flatnonzero(mask)[0])
        raise DataValidationError(
            f"{problem}: row {row + 1} has {name}={values[row]} ({int(mask.sum())} row(s) affected)",
            reason,
        )
