"""Download daily OHLCV with yfinance into the CSV cache (the seed project's step 1).

    python scripts/download_data.py AAPL MSFT --start 2015-01-01 [--end ...] [--interval 1d] [--data-dir data]

Each ticker is written atomically to <data-dir>/<TICKER>.csv and validated; a failure prints one
line per ticker and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys

from stockcast.data.market_data import cache_path, download, write_csv_atomic
from stockcast.errors import StockcastError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tickers", nargs="+")
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--interval", default="1d")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args(argv)
    failed = 0
    for ticker in args.tickers:
        try:
            frame = download(ticker, args.start, args.end, args.interval)
        except StockcastError as exc:
            print(f"error: {ticker}: {exc}", file=sys.stderr)
            failed += 1
            continue
        path = cache_path(args.data_dir, ticker, args.interval)
        write_csv_atomic(frame, path)
        first, last = frame["Date"].iloc[0], frame["Date"].iloc[-1]
        print(f"{ticker}: {len(frame)} rows {first:%Y-%m-%d}..{last:%Y-%m-%d} -> {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
