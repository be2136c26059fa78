"""Which format a Date column is written in, decided once for the whole column, never per cell.

Why: parsing each cell on its own (`format="mixed"`) reads the 1st to the 12th of every month of a
DD/MM/YYYY export as months, re-sorts the rows and scrambles the window without a word. So ISO
dates are tried first (the fast and unambiguous case); otherwise each known format is tried on the
whole column and exactly one must read every row. A column that reads both day-first and
month-first (no day above 12) is refused, asking for ISO dates; so is a column that needs two
formats, and a real date outside the years pandas can hold gets its own message.
"""

from __future__ import annotations

import warnings
from datetime import datetime

import numpy as np
import pandas as pd

from stockcast.errors import DataValidationError
from stockcast.inputs.csv_dialect import ROWS_NOTE, file_row

ISO = "YYYY-MM-DD"
ISO_UTC = "YYYY-MM-DD hh:mm with UTC offsets (read as UTC)"
_TIMES = {"": "", " hh:mm": " %H:%M", " hh:mm:ss": " %H:%M:%S"}
# label (what the response states) -> strptime format; ISO 8601 is handled apart
FORMATS: dict[str, str] = {
    **{
        f"{first}{sep}{second}{sep}YYYY{time}": f"%{first[0].lower()}{sep}%{second[0].lower()}{sep}%Y{code}"
        for sep in "/.-"
        for first, second in (("DD", "MM"), ("MM", "DD"))
        for time, code in _TIMES.items()
    },
    "DD Mon YYYY": "%d %b %Y",
    "Mon DD, YYYY": "%b %d, %Y",
    "DD-Mon-YYYY": "%d-%b-%Y",
}
_OFFSET = r"(?:[+-]\d{2}:?\d{2}|Z)$"


def parse_date_column(column: pd.Series) -> tuple[pd.Series, str]:
    """The column as datetime64 and the label of the one format that reads all of it.

    Raises:
        DataValidationError: ambiguous (`ambiguous_dates`), mixed (`mixed_date_formats`),
            out of range (`date_out_of_range`) or unreadable (`bad_dates`) dates.
    """
    text = column.astype(str).str.strip()
    iso = _parse(text, "ISO8601")
    if iso.dtype == object:  # several UTC offsets (intraday data across a DST change)
        return _with_offsets(text), ISO_UTC
    if iso.notna().all():
        return iso, ISO
    # the formats worth trying on the whole column: those that read its first cell
    candidates = [label for label, fmt in FORMATS.items() if _strptime_reads(text.iloc[0], fmt)]
    parsed = {ISO: iso} | {label: _parse(text, FORMATS[label]) for label in candidates}
    complete = [label for label, dates in parsed.items() if dates.notna().all()]
    if len(complete) == 1:
        return parsed[complete[0]], complete[0]
    if complete:
        raise DataValidationError(
            f"the dates in column 'Date' read both as {' and as '.join(complete)} (no day is "
            f"above 12), so day and month cannot be told apart: write them as YYYY-MM-DD",
            "ambiguous_dates",
        )
    best = max(parsed, key=lambda label: int(parsed[label].notna().sum()))  # ISO wins a tie
    raise _unread_error(text, parsed[best], best)


def date_label(stamp: pd.Timestamp) -> str:
    """`2024-01-02` for a day, the full ISO timestamp for an intraday bar: how messages show it."""
    stamp = pd.Timestamp(stamp)
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat()


def _parse(text: pd.Series, fmt: str) -> pd.Series:
    with warnings.catch_warnings():  # pandas warns about mixed UTC offsets; they are handled
        warnings.simplefilter("ignore", FutureWarning)
        return pd.to_datetime(text, format=fmt, errors="coerce")


def _with_offsets(text: pd.Series) -> pd.Series:
    has_offset = text.str.contains(_OFFSET).to_numpy(bool)
    if not has_offset.all():
        naive, aware = int(np.argmin(has_offset)), int(np.argmax(has_offset))
        raise DataValidationError(
            f"column 'Date' mixes times with and without a UTC offset: row {file_row(aware)} "
            f"{text.iloc[aware]!r}, row {file_row(naive)} {text.iloc[naive]!r}; give every row "
            f"an offset or none ({ROWS_NOTE})",
            "mixed_date_formats",
        )
    dates = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    if dates.isna().any():
        raise _unread_error(text, dates, ISO)
    return dates


def _unread_error(text: pd.Series, dates: pd.Series, label: str) -> DataValidationError:
    """Why `label` does not read every row: another format, an out-of-range year, or junk."""
    unread = dates.isna().to_numpy()
    bad = int(np.flatnonzero(unread)[0])
    cell = text.iloc[bad]
    other = next((name for name in [ISO, *FORMATS] if name != label and _reads(cell, name)), None)
    if other is not None and not unread.all():
        only_label = ~unread & _parse(text, _format(other)).isna().to_numpy()
        good = int(np.flatnonzero(only_label if only_label.any() else ~unread)[0])
        return DataValidationError(
            f"column 'Date' mixes date formats: row {file_row(good)} {text.iloc[good]!r} is "
            f"{label} but row {file_row(bad)} {cell!r} is {other}; write every date one way, "
            f"best as YYYY-MM-DD ({ROWS_NOTE})",
            "mixed_date_formats",
        )
    if _out_of_range(cell):
        return DataValidationError(
            f"date out of range in column 'Date', row {file_row(bad)}: {cell!r} is a date, but "
            f"only years {pd.Timestamp.min.year + 1} to {pd.Timestamp.max.year - 1} can be "
            f"read; check the year ({ROWS_NOTE})",
            "date_out_of_range",
        )
    return DataValidationError(
        f"unparseable date in column 'Date', row {file_row(bad)}: {cell!r} "
        f"({int(unread.sum())} bad value(s); use YYYY-MM-DD; {ROWS_NOTE})",
        "bad_dates",
    )


def _strptime_reads(cell: str, fmt: str) -> bool:
    try:
        datetime.strptime(cell, fmt)
    except ValueError:
        return False
    return True


def _format(label: str) -> str:
    return "ISO8601" if label == ISO else FORMATS[label]


def _reads(cell: str, label: str) -> bool:
    return bool(_parse(pd.Series([cell]), _format(label)).notna().all())


def _out_of_range(cell: str) -> bool:
    for label in [ISO, *FORMATS]:
        try:
            pd.to_datetime(cell, format=_format(label))
        except pd.errors.OutOfBoundsDatetime:
            return True
        except ValueError:
            continue
    return False
