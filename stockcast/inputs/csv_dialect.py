"""How an export writes its table: the field delimiter and the decimal mark, decided once per file.

Why: spreadsheets in most of Europe and Latin America save `Date;Open;...` with decimal commas
(`1.234,56`), Yahoo's website and yfinance write commas and decimal points, some tools write tabs,
and any of them may quote a number to keep its thousands separators (`"1,234.56"`). Deciding per
cell would read `1.234` as one thousand in one row and as one in the next, so the delimiter is
decided from the header (six names, so at least five delimiters) and the decimal mark from the
price cells, and the server states both in its answer (`read_as`). Rows are numbered for messages
here too, as a spreadsheet shows them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

DELIMITERS = (",", ";", "\t")  # a tie in the header goes to the earlier one
ROWS_NOTE = "rows numbered as in a spreadsheet, the header is row 1"
_QUOTED = re.compile(r'"[^"]*"')
# A number written with thousands separators, which pandas' own conversion does not read.
_GROUPED = {
    ".": re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?"),  # 1,234.56
    ",": re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d*)?"),  # 1.234,56  1.234
}


@dataclass(frozen=True)
class Dialect:
    """The delimiter and decimal mark one file is read with."""

    delimiter: str = ","
    decimal: str = "."

    @property
    def thousands(self) -> str:
        """The other mark: a separator of digit groups, dropped when reading a number."""
        return "," if self.decimal == "." else "."


def header_delimiter(text: str) -> str:
    """The delimiter the header line uses most (outside quotes); a comma when it uses none."""
    header = text.lstrip("\r\n").split("\n", 1)[0]
    counts = {delimiter: _QUOTED.sub("", header).count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def read_table(text: str, delimiter: str) -> pd.DataFrame:
    """Every cell as text, quotes removed, nothing converted; fields absent from a line are NaN.

    pandas fills a line cut short with empty fields, like a row whose prices were left empty:
    told apart here, a cut file is refused while a day without prices is dropped.
    """
    table = pd.read_csv(
        io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, skipinitialspace=True
    )
    counts = _field_counts(text, delimiter)
    if len(counts) == len(table) + 1:  # one line per row: no line break inside quotes
        absent = np.arange(table.shape[1])[None, :] >= counts[1:, None]  # [rows, columns]
        if absent.any():
            table = table.mask(absent)
    return table


def _field_counts(text: str, delimiter: str) -> np.ndarray:
    """Delimiters + 1 on each line pandas reads (blank lines skipped); quoted ones count too."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    newline = ord("\n") if "\n" in text else ord("\r")
    ends = np.append(np.flatnonzero(data == newline), len(data))
    starts = np.append(0, ends[:-1] + 1)
    seps = np.append(0, np.cumsum(data == ord(delimiter)))
    width = ends - starts
    first = np.append(data, 0)[starts]  # each line's first byte (0 past the end)
    blank = (width == 0) | ((width == 1) & (first == ord("\r")))
    return (seps[ends] - seps[starts] + 1)[~blank]


def decimal_mark(delimiter: str, price_cells: list[pd.Series]) -> str:
    """`,` when a semicolon or tab file writes its prices with decimal commas, else `.`.

    A comma file cannot use decimal commas outside quotes, so it always reads `.`. Otherwise the
    first price cell holding a comma decides: `1234,56` or `1.234,56` (the comma is the last mark)
    means decimal commas, `1,234.56` means decimal points with grouped thousands.
    """
    if delimiter == ",":
        return "."
    for cells in price_cells:
        with_comma = cells[cells.str.contains(",", regex=False, na=False)]
        if len(with_comma):
            first = with_comma.iloc[0]
            return "," if first.rfind(",") > first.rfind(".") else "."
    return "."


def to_float(cells: pd.Series, dialect: Dialect) -> np.ndarray:
    """Cells as float64, NaN where a cell is no number in this dialect (or is `nan` itself)."""
    if pd.api.types.is_numeric_dtype(cells):  # a frame built in code, e.g. from yfinance
        return cells.to_numpy(np.float64)
    if dialect.decimal == ",":
        return _decimal_comma_to_float(cells.str.strip())
    numbers = pd.to_numeric(cells, errors="coerce").to_numpy(np.float64)
    unread = np.isnan(numbers)
    if not unread.any():  # the usual clean column: one C-level conversion
        return numbers
    text = cells.str.strip()
    grouped = unread & text.str.fullmatch(_GROUPED["."], na=False).to_numpy(bool)  # 1,234.56
    if grouped.any():
        plain = text[grouped].str.replace(",", "", regex=False)
        numbers[grouped] = pd.to_numeric(plain, errors="coerce").to_numpy(np.float64)
    return numbers


def _decimal_comma_to_float(text: pd.Series) -> np.ndarray:
    """`1234,56` and `1.234,56` read; a dotted cell that groups no digits (`1.5`) as pandas does."""
    dotted = text.str.contains(".", regex=False, na=False).to_numpy(bool)
    local = ~dotted
    local[dotted] = text[dotted].str.fullmatch(_GROUPED[","], na=False).to_numpy(bool)
    plain = text[local].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(text.where(~local, plain), errors="coerce").to_numpy(np.float64)


def file_row(position: int) -> int:
    """The spreadsheet row of data row `position` (0-based): the header is row 1."""
    return int(position) + 2
