"""What a downloaded CSV holds, recorded beside it, and a fingerprint of the rows a model saw.

`data/XYZ.csv` gets `data/XYZ.meta.json`: the ticker, interval, the days it covers (`start` as
asked, None for the whole history; `end` inclusive), Yahoo's price adjustment, when and with what
it was downloaded. A later request is checked against it, so a wider range is downloaded again
instead of silently trained on the narrower cache (stockcast/market/prices.py). The bundled samples
ship with a record whose `source` marks them as such (`BUNDLED_SAMPLE`): a request for dates beyond
them downloads like any cache, while a run that asks for no dates trains on the sample as it is. A
CSV with no record (a user's file) covers exactly the rows it holds.

`ohlcv_sha256` is stored in each serving artifact: a refreshed download whose history was rewritten
(a dividend adjusts every earlier price) gives another fingerprint for the same dates.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from stockcast.errors import DataValidationError

# yf.download(auto_adjust=True): Open/High/Low/Close scaled for splits and dividends, so every
# earlier price changes after each dividend
YAHOO_ADJUSTMENT = "auto_adjust: OHLC adjusted for splits and dividends"
# how a bundled sample's record starts its `source`: no download made it, so no run refreshes it
# unless it asks for dates the sample lacks
BUNDLED_SAMPLE = "bundled sample"


def record_path(csv_path: Path) -> Path:
    """`data/XYZ.csv` -> `data/XYZ.meta.json`."""
    return csv_path.with_suffix(".meta.json")


@dataclass(frozen=True)
class CacheRecord:
    """What a downloaded CSV covers (dates are ISO `YYYY-MM-DD`; `end` inclusive)."""

    ticker: str
    interval: str
    start: str | None  # the first day asked for; None: the ticker's whole history
    end: str  # the last day covered: the day asked for, or the last session closed at download
    first_row: str
    last_row: str
    rows: int
    adjustment: str
    downloaded_at: str  # UTC, ISO 8601
    source: str  # e.g. "yfinance 1.7.0"
    # the market calendar that decided which bars had closed (`symbol_calendar`); None in records
    # written before it was kept
    calendar: str | None = None

    def missing(self, start: str | None, end: str) -> list[str]:
        """The parts of [start, end] (inclusive; start None: the whole history) not covered."""
        gaps = []
        if self.start is not None and (start is None or start < self.start):
            before = (date.fromisoformat(self.start) - timedelta(days=1)).isoformat()
            gaps.append(f"{start or 'the start of its history'}..{before}")
        if end > self.end:
            after = (date.fromisoformat(self.end) + timedelta(days=1)).isoformat()
            gaps.append(f"{after}..{end}")
        return gaps

    @property
    def bundled(self) -> bool:
        """Whether this is a sample shipped with stockcast rather than a download."""
        return self.source.startswith(BUNDLED_SAMPLE)

    def describe(self) -> str:
        """One phrase for messages: what the file holds and since when."""
        if self.bundled:
            return f"{self.start}..{self.end} ({self.rows} rows, the {self.source})"
        return (
            f"{self.start or 'the start of its history'}..{self.end} "
            f"({self.rows} rows, downloaded {self.downloaded_at[:16]} UTC)"
        )

    def write(self, csv_path: Path) -> None:
        """Write the record beside the CSV, atomically."""
        path = record_path(csv_path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
        os.replace(tmp, path)

    @classmethod
    def read(cls, csv_path: Path) -> CacheRecord | None:
        """The record beside `csv_path`; None for a CSV without one (a bundled or user's file)."""
        path = record_path(csv_path)
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise DataValidationError(
                f"{path}: unreadable cache record ({exc}); download again with data.refresh=true"
            ) from None


def ohlcv_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of the Date,Open,High,Low,Close,Volume rows, written with round-trip precision."""
    text = frame[["Date", "Open", "High", "Low", "Close", "Volume"]].to_csv(
        index=False, float_format="%.17g", date_format="%Y-%m-%dT%H:%M:%S%z"
    )
    return hashlib.sha256(text.encode()).hexdigest()
