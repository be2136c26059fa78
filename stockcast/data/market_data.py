"""Daily (or intraday) OHLCV for a ticker: read the CSV cache, or download it with yfinance.

The cache is the contract: `<data_dir>/<TICKER>.csv` (`<TICKER>_<interval>.csv` for other
intervals) with columns Date,Open,High,Low,Close,Volume. A file that exists is used without any
network access, and it goes through the same validation as a user's upload, so a truncated or
corrupt cache is refused, never trained on.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from stockcast.data.intervals import DAILY, is_intraday
from stockcast.data.validation import ADJ_CLOSE, COLUMNS, read_price_table, validate_ohlcv
from stockcast.errors import DataSourceError, DataValidationError

Downloader = Callable[..., pd.DataFrame]
log = logging.getLogger(__name__)


def cache_path(data_dir: str | Path, ticker: str, interval: str = DAILY) -> Path:
    """Where the CSV for `ticker` lives; daily data keeps the plain `<TICKER>.csv` name."""
    suffix = "" if interval == DAILY else f"_{interval}"
    return Path(data_dir) / f"{ticker.upper()}{suffix}.csv"


def load_prices(
    ticker: str,
    data_dir: str | Path = "data",
    start: str | None = None,
    end: str | None = None,
    interval: str = DAILY,
    refresh: bool = False,
    min_rows: int = 1,
    downloader: Downloader | None = None,
) -> pd.DataFrame:
    """Return validated OHLCV rows for `ticker` between `start` and `end` (inclusive dates).

    Raises:
        DataSourceError: no cache and the download failed or came back empty.
        DataValidationError: the cached CSV is malformed (the message names the file).
    """
    path = cache_path(data_dir, ticker, interval)
    if refresh or not path.exists():
        try:
            frame = download(ticker, start, end, interval, downloader=downloader)
        except DataSourceError as exc:
            raise DataSourceError(
                f"no data for ticker {ticker!r}: {exc}; looked for {path} first. Check the symbol "
                f"and date range, connect to the internet, or place a CSV with columns "
                f"{','.join(COLUMNS)} at {path}"
            ) from None
        write_csv_atomic(frame, path)
    try:
        table = read_price_table(path)
    except DataValidationError as exc:
        raise DataValidationError(
            f"{path}: {exc} — fix the file, or download it again with data.refresh=true",
            exc.reason,
        ) from None
    for note in _notes(table.dropped_rows, table.warnings):
        log.warning("%s: %s", path, note)
    frame = _between(table.frame, start, end)
    if len(frame) < min_rows:
        raise DataValidationError(
            f"{path}: too few rows for {ticker} between {start or 'the start'} and "
            f"{end or 'the end'}: got {len(frame)}, need at least {min_rows}"
        )
    return frame


def download(
    ticker: str,
    start: str | None = None,
    end: str | None = None,
    interval: str = DAILY,
    downloader: Downloader | None = None,
) -> pd.DataFrame:
    """Download with `yf.download` and normalise its frame to the CSV schema."""
    if downloader is None:
        import yfinance as yf

        downloader = yf.download
    with _quiet_yfinance_log() as reasons:
        try:
            raw = downloader(
                ticker,
                start=start,
                end=end,
                interval=interval,
                auto_adjust=True,
                progress=False,
                threads=False,
            )
        except Exception as exc:  # yfinance raises many types; the user needs one line
            raise DataSourceError(f"download failed ({type(exc).__name__}: {exc})") from None
    if raw is None or raw.empty:
        reason = reasons[-1] if reasons else "unknown ticker, empty date range, or offline"
        raise DataSourceError(f"Yahoo Finance returned no rows ({reason})")
    return normalise_yfinance(raw, ticker, interval)


def normalise_yfinance(raw: pd.DataFrame, ticker: str, interval: str = DAILY) -> pd.DataFrame:
    """Turn a yfinance frame into Date,Open,High,Low,Close,Volume rows.

    Current yfinance returns MultiIndex columns (Price, Ticker) and a tz-aware index named Date
    (Datetime for intraday). Daily rows keep the exchange-local calendar date; intraday rows keep
    their timestamps with the UTC offset. A frame downloaded without auto_adjust carries
    `Adj Close`, and the validator adjusts its prices by it, so the cache holds adjusted prices
    either way and reads back unchanged.
    """
    frame = raw
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.xs(_ticker_key(frame.columns, ticker), axis=1, level="Ticker")
    missing = [name for name in COLUMNS[1:] if name not in frame.columns]
    if missing:
        raise DataSourceError(f"yfinance frame for {ticker} lacks columns {missing}")
    extra = [ADJ_CLOSE] if ADJ_CLOSE in frame.columns else []
    frame = frame[[*COLUMNS[1:], *extra]].dropna(subset=["Close"])
    index = pd.DatetimeIndex(frame.index)
    if not is_intraday(interval):
        dates = index.tz_localize(None) if index.tz is not None else index
        date_text = dates.strftime("%Y-%m-%d")
    else:
        date_text = index.map(lambda ts: ts.isoformat())
    out = frame.reset_index(drop=True)
    out.insert(0, "Date", list(date_text))
    return validate_ohlcv(out)


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write the CSV through a temp file in the same folder and rename it into place.

    A crash mid-write leaves the previous file (or none), never half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    if pd.api.types.is_datetime64_any_dtype(out["Date"]):
        has_time = (out["Date"].dt.tz is not None) or (
            out["Date"].dt.normalize() != out["Date"]
        ).any()
        out["Date"] = out["Date"].map(
            lambda ts: ts.isoformat() if has_time else ts.strftime("%Y-%m-%d")
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            out.to_csv(handle, index=False, columns=list(COLUMNS))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _notes(dropped_rows: list[str], warnings: list[str]) -> list[str]:
    """What a training run should hear about its file: dropped empty days, suspicious moves."""
    if not dropped_rows:
        return warnings
    shown = ", ".join(dropped_rows[:5]) + (", ..." if len(dropped_rows) > 5 else "")
    return [f"dropped {len(dropped_rows)} row(s) without prices: {shown}", *warnings]


def _between(frame: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    dates = frame["Date"]
    naive = dates.dt.tz_localize(None) if dates.dt.tz is not None else dates
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= naive >= pd.Timestamp(start)
    if end is not None:
        keep &= naive <= pd.Timestamp(end) + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return frame[keep].reset_index(drop=True)


@contextmanager
def _quiet_yfinance_log() -> Iterator[list[str]]:
    """Collect yfinance's error log lines instead of printing them, so one message reaches the user."""
    reasons: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage().strip()
            if text and "Failed download" not in text:
                reasons.append(text.splitlines()[0][:200])

    logger = logging.getLogger("yfinance")
    handler, propagate = _Collect(level=logging.ERROR), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield reasons
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _ticker_key(columns: pd.MultiIndex, ticker: str) -> str:
    """The Ticker level's spelling of `ticker` (yfinance upper-cases symbols)."""
    for key in columns.get_level_values("Ticker").unique():
        if str(key).upper() == ticker.upper():
            return key
    raise DataSourceError(f"yfinance returned no columns for ticker {ticker!r}")
