"""Download OHLCV bars from Yahoo Finance into stockcast's CSV cache (what `data.ticker=` reads).

    python scripts/download_data.py AAPL MSFT --start 2015-01-01 [--end 2024-12-31] [--interval 1d] [--data-dir data]

Each ticker is written atomically to <data-dir>/<TICKER>.csv (<TICKER>_<interval>.csv for other
intervals), validated, with a record of what it holds beside it (<TICKER>.meta.json: dates,
interval, Yahoo's split and dividend adjustment, download time). Bars that have not closed yet
(today's, during market hours; New York Stock Exchange calendar) are left out. A failure prints
one line per ticker, and the exit status is 2, as for train.py.
"""

from __future__ import annotations

import argparse
import sys

from stockcast.app.script import one_line, run_script
from stockcast.errors import StockcastError
from stockcast.inputs.intervals import parse_interval
from stockcast.market.prices import cache_path, load_prices

INTERVAL_HELP = (
    "bar length, as Yahoo names it: 1d (default), 5d, 1wk, 1mo, 3mo, or intraday 1h, 90m, 30m, "
    "15m, 5m, 2m, 1m (Yahoo keeps 1h bars for 730 days, 2m-90m for 60, 1m for 8)"
)


def interval(text: str) -> str:
    """argparse type: a bar interval stockcast understands (parse_interval explains a bad one)."""
    try:
        parse_interval(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tickers", nargs="+", help="Yahoo symbols, e.g. AAPL MSFT ^GSPC")
    parser.add_argument("--start", help="first day, YYYY-MM-DD (default: the whole history)")
    parser.add_argument("--end", help="last day, inclusive, YYYY-MM-DD (default: the last close)")
    parser.add_argument("--interval", type=interval, default="1d", help=INTERVAL_HELP)
    parser.add_argument("--data-dir", default="data", help="the cache directory (default: data)")
    args = parser.parse_args(argv)
    failed = 0
    for ticker in args.tickers:
        try:
            frame = load_prices(
                ticker, args.data_dir, args.start, args.end, args.interval, refresh=True
            )
        except StockcastError as exc:  # one line per ticker; the others are still downloaded
            print(f"error: {ticker}: {one_line(exc)}", file=sys.stderr)
            failed += 1
            continue
        path = cache_path(args.data_dir, ticker, args.interval)
        first, last = frame["Date"].iloc[0], frame["Date"].iloc[-1]
        print(f"{ticker}: {len(frame)} rows {first:%Y-%m-%d}..{last:%Y-%m-%d} -> {path}")
    return 2 if failed else 0


if __name__ == "__main__":
    run_script(main, expected=(OSError,))
