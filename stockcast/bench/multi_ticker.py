"""What a ticker costs in one multi-ticker request against a request of its own: `make
bench-multi-ticker`.

CLI: `python -m stockcast.bench.multi_ticker [--mar path/to/stockcast.mar] [--tickers 100]
[--rows 250] [--repetitions 5] [--json out.json]`.

One fresh TorchServe on free loopback ports serves the archive with torchserve/config.properties
and its model-config (workers, batch size). The tickers are the bundled series (data/*.csv) in
turn, each ticker's rows a window of `rows` days ending a few days before the previous one of
the same file, so no two tickers send the same rows. Each repetition times, back to back and in
alternating order (so a change in the shared machine's load falls on both):
  * one request: the long CSV of every ticker (a `Ticker` column), POSTed once;
  * one request per ticker: each ticker's rows alone, POSTed one after another over one
    keep-alive connection, as a client looping over its tickers would;
and reports the wall time per ticker of each side (the median over repetitions), their ratio,
and that both answered every ticker with the same numbers. A request is timed from sending to
the parsed JSON, as the client sees it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.app.stamp import load_average, write_stamped

NAME = "multi-ticker"
HEADER = "Date,Open,High,Low,Close,Volume"
STEP_DAYS = 5  # how much earlier each file's next ticker's window ends
# `post(body) -> (status, JSON)`: one request to the server under test
Post = Callable[[bytes], tuple[int, dict]]


def ticker_rows(data_dir: Path, tickers: int, rows: int) -> dict[str, list[str]]:
    """`tickers` series named T000.. from the bundled files in turn, Date..Volume rows each."""
    files = sorted(data_dir.glob("*.csv"))
    lines = {path: path.read_text().splitlines()[1:] for path in files}
    series = {}
    for number in range(tickers):
        history = lines[files[number % len(files)]]
        end = len(history) - STEP_DAYS * (number // len(files))
        if end < rows:
            raise ValueError(f"{tickers} tickers of {rows} rows need more history than data/ has")
        series[f"T{number:03d}"] = [
            ",".join(line.split(",")[:6]) for line in history[end - rows : end]
        ]
    return series


def long_csv(series: dict[str, list[str]]) -> bytes:
    """Every ticker's rows in one CSV with a Ticker column, ticker by ticker."""
    rows = [f"{ticker},{row}" for ticker, lines in series.items() for row in lines]
    return "\n".join([f"Ticker,{HEADER}", *rows, ""]).encode()


def single_csv(rows: list[str]) -> bytes:
    return "\n".join([HEADER, *rows, ""]).encode()


def measure(post: Post, series: dict[str, list[str]], repetitions: int = 5) -> dict:
    """Per-ticker wall milliseconds of one request holding every ticker against one request per
    ticker, alternated `repetitions` times; medians, the ratio and a check of the answers."""
    if repetitions < 1 or not series:
        raise ValueError("at least one repetition and one ticker")
    together_body = long_csv(series)
    alone_bodies = [single_csv(rows) for rows in series.values()]
    together_ms: list[float] = []
    alone_ms: list[float] = []
    for repetition in range(repetitions):
        sides = [("together", together_ms), ("alone", alone_ms)]
        for side, timings in sides if repetition % 2 == 0 else sides[::-1]:
            started = time.perf_counter()
            if side == "together":
                together = _answer(post, together_body)
            else:
                alone = [_answer(post, body) for body in alone_bodies]
            timings.append((time.perf_counter() - started) * 1000 / len(series))
    same = _same_forecasts(together, alone, list(series))
    median_together, median_alone = statistics.median(together_ms), statistics.median(alone_ms)
    return {
        "tickers": len(series),
        "rows_per_ticker": len(next(iter(series.values()))),
        "repetitions": repetitions,
        "request_bytes": {
            "together": len(together_body),
            "alone_total": sum(map(len, alone_bodies)),
        },
        "ms_per_ticker": {"together": median_together, "alone": median_alone},
        "alone_over_together": median_alone / median_together,
        "repetitions_ms_per_ticker": {"together": together_ms, "alone": alone_ms},
        "all_answered": together["answered"] == len(series),  # and every single one: 200
        "same_forecasts": same,
    }


def _answer(post: Post, body: bytes) -> dict:
    status, answer = post(body)
    if status != 200:
        raise RuntimeError(f"the server answered {status}: {answer}")
    return answer


def _same_forecasts(together: dict, alone: Sequence[dict], tickers: list[str]) -> bool:
    """Each ticker's forecast in the long request equals its own request's (to float rounding:
    the forward pass runs on batches of different sizes)."""
    entries = together["results"]
    if [entry["ticker"] for entry in entries] != tickers:
        return False
    return all(
        abs(entry["forecast"][0]["close"] - single["forecast"][0]["close"])
        <= max(1e-9 * abs(single["forecast"][0]["close"]), 1e-6)
        for entry, single in zip(entries, alone, strict=True)
    )


def summary(figures: dict) -> str:
    ms = figures["ms_per_ticker"]
    return (
        f"{figures['tickers']} tickers of {figures['rows_per_ticker']} rows, "
        f"{figures['repetitions']} repetitions (median): one request {ms['together']:.2f} ms per "
        f"ticker, one request each {ms['alone']:.2f} ms per ticker "
        f"({figures['alone_over_together']:.1f}x); all answered: {figures['all_answered']}, "
        f"same forecasts: {figures['same_forecasts']}"
    )


def served(layout: ProjectLayout, mar: Path | None, scratch: Path) -> tuple[Post, Callable]:
    """A fresh TorchServe serving `mar` (default: a new archive of the newest run), how to POST
    to it, and how to stop it."""
    import requests

    from stockcast.bench.serving import resolve_mar
    from stockcast.stack.torchserve import LocalTorchServe, Ports

    archive = resolve_mar(layout, mar, None, scratch / "build")
    store = scratch / "store"
    store.mkdir()
    (store / f"{layout.model_name}.mar").write_bytes(archive.read_bytes())
    server = LocalTorchServe.start(layout, store, scratch / "state", ports=Ports.free())
    session = requests.Session()

    def post(body: bytes) -> tuple[int, dict]:
        response = session.post(
            server.prediction_url, data=body, headers={"Content-Type": "text/csv"}, timeout=120
        )
        return response.status_code, response.json()

    return post, server.stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mar", type=Path, help="archive to serve (default: the newest run's)")
    parser.add_argument("--tickers", type=int, default=100)
    parser.add_argument("--rows", type=int, default=None, help="rows per ticker (upload_rows)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the stamped figures here")
    args = parser.parse_args(argv)
    layout = ProjectLayout.find()
    load_before = load_average()
    series = ticker_rows(layout.data_dir, args.tickers, args.rows or layout.upload_rows)
    with tempfile.TemporaryDirectory(prefix="stockcast-multi-ticker-") as scratch:
        post, stop = served(layout, args.mar, Path(scratch))
        try:
            warm = dict(list(series.items())[:4])
            for _ in range(4):  # both workers, both paths
                _answer(post, long_csv(warm))
                _answer(post, single_csv(next(iter(warm.values()))))
            figures = measure(post, series, args.repetitions)
        finally:
            stop()
    print(summary(figures))
    if args.json is not None:
        write_stamped(args.json, NAME, figures, load_before)
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
