"""Daily (or intraday) OHLCV for a ticker: read the CSV cache, or download it with yfinance.

The cache is the contract: `<data_dir>/<TICKER>.csv` (`<TICKER>_<interval>.csv` for other
intervals) with columns Date,Open,High,Low,Close,Volume, and beside a downloaded one its record
`<TICKER>.meta.json` (stockcast/market/cache_record.py). A request the cache covers is served from
it without any network access; one it does not cover (an earlier start, a later end) downloads
again, or, offline, says exactly which days are missing. The bundled samples carry a record too,
marked as samples: a run that asks for no dates trains on the sample, one that asks for days beyond
it is treated like any cache. A CSV without a record (a user's file) covers what it holds and is
never downloaded over. Every file goes
through the same validation as a user's upload, so a truncated or corrupt cache is refused, never
trained on. A bar that has not closed yet (today's, during market hours) is never cached.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from stockcast.errors import DataSourceError, DataValidationError
from stockcast.inputs.intervals import DAILY, bar_time_text, is_intraday
from stockcast.inputs.validation import ADJ_CLOSE, COLUMNS, read_price_table, validate_ohlcv
from stockcast.market.cache_record import YAHOO_ADJUSTMENT, CacheRecord
from stockcast.market.sessions import closed_bars, last_closed_session
from stockcast.market.symbols import symbol_calendar

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
    path: str | Path | None = None,
    calendar: str | None = None,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Return validated OHLCV rows for `ticker` between `start` and `end` (inclusive dates).

    `path` reads that CSV instead of the cache, with no network access. `now` (tz-aware, default
    the clock) and `calendar` (default: the ticker's market, `symbol_calendar`) decide which bars
    have closed; the cache record keeps the calendar.

    Raises:
        DataSourceError: no cache and the download failed or came back empty, or the cache does
            not cover an explicit `start`/`end` and the download failed (the message names the
            missing days).
        DataValidationError: the CSV is malformed (the message names the file).
    """
    now = now if now is not None else pd.Timestamp.now(tz=UTC)
    calendar = calendar or symbol_calendar(ticker)
    csv = Path(path) if path is not None else cache_path(data_dir, ticker, interval)
    if path is None:
        _update_cache(ticker, csv, start, end, interval, refresh, downloader, calendar, now)
    elif not csv.is_file():
        raise DataSourceError(f"data.path={csv} is not a file")
    try:
        table = read_price_table(csv)
    except DataValidationError as exc:
        advice = "fix the file" + ("" if path else ", or download it again with data.refresh=true")
        raise DataValidationError(f"{csv}: {exc} — {advice}", exc.reason) from None
    for note in _notes(table.dropped_rows, table.warnings):
        log.warning("%s: %s", csv, note)
    frame = _between(table.frame, start, end)
    if len(frame) < min_rows:
        raise DataValidationError(
            f"{csv}: too few rows for {ticker} between {start or 'the start'} and "
            f"{end or 'the end'}: got {len(frame)}, need at least {min_rows}"
        )
    return frame


def _update_cache(
    ticker: str,
    csv: Path,
    start: str | None,
    end: str | None,
    interval: str,
    refresh: bool,
    downloader: Downloader | None,
    calendar: str,
    now: pd.Timestamp,
) -> None:
    """Download into the cache when it is missing, refreshed, or short of the request."""
    start, end = _day(start), _day(end)  # Hydra may hand over 2020 as an int; records hold days
    if refresh or not csv.exists():
        try:
            _download_into(csv, ticker, start, end, interval, downloader, calendar, now)
        except DataSourceError as exc:
            looked = "" if refresh else f"; looked for {csv} first"
            raise DataSourceError(
                f"no data for ticker {ticker!r}: {exc}{looked}. Check the symbol and date range, "
                f"connect to the internet, or place a CSV with columns {','.join(COLUMNS)} at {csv}"
            ) from None
        return
    record = CacheRecord.read(csv)
    if record is None:  # a user's file: it covers what it holds
        return
    if record.bundled and start is None and end is None:  # no dates asked: the sample as it is
        return
    wanted_end = end if end is not None and end <= record.end else None
    if wanted_end is None:  # beyond the record: only a closed session can be missing
        latest = last_closed_session(now, calendar).isoformat()
        wanted_end = min(end, latest) if end is not None else latest
    # a sample's history begins where the sample does, so no start asks for nothing before it
    gaps = record.missing(record.start if record.bundled and start is None else start, wanted_end)
    if not gaps:
        return
    union_start = None if start is None or record.start is None else min(start, record.start)
    union_end = None if end is None else max(end, record.end)
    try:
        _download_into(csv, ticker, union_start, union_end, interval, downloader, calendar, now)
    except DataSourceError as exc:
        missing = f"{csv} holds {record.describe()}; missing {' and '.join(gaps)}"
        holds_some = start is None or start <= record.end
        if end is None and holds_some and not record.missing(start, record.end):
            # no end asked: "up to the latest close", and offline the cache is the latest there is
            log.warning("%s; download failed (%s): using the cache as it is", missing, exc)
            return
        raise DataSourceError(
            f"{missing}, and the download failed ({exc}): connect to the internet, or ask for "
            f"dates inside the cache (data.start / data.end)"
        ) from None


def _download_into(
    csv: Path,
    ticker: str,
    start: str | None,
    end: str | None,
    interval: str,
    downloader: Downloader | None,
    calendar: str,
    now: pd.Timestamp,
) -> None:
    """Download [start, end], keep the closed bars, write the CSV and its record."""
    frame = closed_bars(download(ticker, start, end, interval, downloader), interval, now, calendar)
    if frame.empty:
        raise DataSourceError("Yahoo Finance returned no closed bars (the session has not closed)")
    latest = last_closed_session(now, calendar).isoformat()
    write_csv_atomic(frame, csv)
    CacheRecord(
        ticker=ticker.upper(),
        interval=interval,
        start=start,
        end=min(end, latest) if end is not None else latest,
        first_row=bar_time_text(frame["Date"].iloc[0]),
        last_row=bar_time_text(frame["Date"].iloc[-1]),
        rows=len(frame),
        adjustment=YAHOO_ADJUSTMENT,
        downloaded_at=now.isoformat(timespec="seconds"),
        source=f"yfinance {version('yfinance')}",
        calendar=calendar,
    ).write(csv)


def download(
    ticker: str,
    start: str | None = None,
    end: str | None = None,
    interval: str = DAILY,
    downloader: Downloader | None = None,
) -> pd.DataFrame:
    """Download with `yf.download` and normalise its frame to the CSV schema.

    `end` is inclusive, as everywhere in stockcast; yfinance's is exclusive, so it is asked for
    the day after. No `start` means the whole history (`period="max"`): yfinance alone would
    return one month.
    """
    if downloader is None:
        import yfinance as yf

        downloader = yf.download
    exclusive_end = None if end is None else (pd.Timestamp(end) + pd.Timedelta(days=1)).date()
    with _quiet_yfinance_log() as reasons:
        try:
            raw = downloader(
                ticker,
                **({"period": "max"} if start is None else {"start": start}),
                end=None if exclusive_end is None else exclusive_end.isoformat(),
                interval=interval,
                auto_adjust=True,
                progress=False,
                threads=False,
            )
        except Exception as exc:  # yfinance raises many types; the user needs one line
            raise DataSourceError(f"download failed ({type(exc).__name__}: {exc})") from None
    if raw is None or raw.empty:
        unreachable = _unreachable(reasons)
        if unreachable is not None:
            raise DataSourceError(f"Yahoo Finance could not be reached ({unreachable})")
        reason = _plain(reasons[-1]) if reasons else "unknown ticker or empty date range"
        raise DataSourceError(f"Yahoo Finance returned no rows ({reason})")
    return normalise_yfinance(raw, ticker, interval)


# how libcurl (yfinance's transport) words a failed connection: "curl: (6) Could not resolve
# host: query2.finance.yahoo.com", "curl: (7) Failed to connect to ...", "curl: (28) ... timed out"
_CURL_FAILURE = re.compile(r"curl: \(\d+\) (.+?)(?: \(|\. |\.?'|$)")


def _unreachable(reasons: list[str]) -> str | None:
    """libcurl's own words when yfinance's requests never reached Yahoo, else None.

    Offline, yfinance words it two ways: the transport error's repr, or, when it could not look
    up the ticker's time zone, "possibly delisted; no timezone found" (for AAPL as for a typo).
    Either way one of its lines carries libcurl's message, which is what the user needs.
    """
    for reason in reasons:
        found = _CURL_FAILURE.search(reason)
        if found:
            return found.group(1).strip()
    return None


def _plain(reason: str) -> str:
    """yfinance's "['NOPE']: possibly delisted; ..." without its list-of-tickers prefix."""
    return re.sub(r"^\[[^]]*\]:\s*|^\$\S+:\s*", "", reason)


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


def _day(value: str | int | None) -> str | None:
    """'2020-03-01', 2020 or a timestamp -> its ISO day; None stays None."""
    return None if value is None else pd.Timestamp(str(value)).date().isoformat()


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
                reasons.append(text.splitlines()[0])

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
