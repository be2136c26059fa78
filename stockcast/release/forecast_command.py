"""`python forecast.py`: one table of forecasts for a universe of tickers, no server needed.

The settings are conf/forecast.yaml's; the work is stockcast/release/batch_forecast.py's (the
service's `answer_batch`, in chunks). Each ticker that cannot be forecast gets one
`TICKER: <detail>` line on stderr and a row in the errors table; the others are answered.

Exit status: 0 when at least one ticker was forecast, 1 when none was (the tables are written
either way), 2 for a user error before any forecast (a bad setting, no model, no input folder;
`stockcast.app.cli`). Why 0 despite failures: a universe routinely holds a delisted or too short
series, and a nightly job that failed on each would teach its owner to ignore the status; the
errors table is the record of what was left out. Why 1 when nothing was forecast, as grep's "no
line selected": the command ran, but there is nothing to use, which a script must notice.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stockcast.app.layout import ProjectLayout
from stockcast.errors import StockcastError
from stockcast.release.batch_forecast import (
    Answers,
    check_exchange,
    data_uploads,
    folder_uploads,
    forecast_uploads,
    served_forecaster,
    summary,
    write_tables,
)
from stockcast.release.versions import default_archive

NOTHING_FORECAST_EXIT = 1
TABLE_NAME = "forecasts"  # <run dir>/forecasts.csv, .parquet and .errors.csv without `output`


def run_forecast(cfg: DictConfig) -> int:
    """Read the inputs, forecast them in chunks, write the tables; the exit status (module
    docstring). Raises StockcastError for a bad setting, before anything is forecast."""
    began = time.perf_counter()
    if cfg.input_dir is not None and cfg.tickers is not None:
        raise StockcastError("give input_dir=<folder> or tickers=[...], not both")
    exchange = check_exchange(cfg.exchange)
    model_path = Path(
        cfg.model_path or default_archive(ProjectLayout.find().model_store, cfg.model_name)
    )
    output = Path(cfg.output or Path(cfg.paths.output_dir) / TABLE_NAME)
    with tempfile.TemporaryDirectory(prefix="stockcast-forecast-") as scratch:
        forecaster = served_forecaster(model_path, Path(scratch))
    with progress_bar() as progress:
        if cfg.input_dir is not None:
            uploads, failures = folder_uploads(Path(cfg.input_dir))
        else:
            tickers = list(
                cfg.tickers or ([cfg.data.ticker] if cfg.data.ticker else cfg.data.tickers)
            )
            reading = progress.add_task("reading", total=len(tickers))
            uploads, failures = data_uploads(
                cfg.data, tickers, cfg.rows, lambda: progress.advance(reading)
            )
        forecasting = progress.add_task("forecasting", total=len(uploads))
        answers = forecast_uploads(
            forecaster,
            uploads,
            exchange,
            int(cfg.chunk_size),
            lambda n: progress.advance(forecasting, n),
        )
    answers.failures[:0] = failures  # the inputs' failures first, then the service's
    return report(answers, output, time.perf_counter() - began)


def report(answers: Answers, output: Path, seconds: float) -> int:
    """Write the tables, say each failure and the summary; the exit status."""
    written = write_tables(answers, output)
    for failure in answers.failures:
        print(failure.line(), file=sys.stderr)
    print(summary(answers, seconds, written))
    return 0 if answers.forecast else NOTHING_FORECAST_EXIT


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """rich's progress on stderr, shown only on a terminal outside CI (a log stays clean)."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal or bool(os.environ.get("CI")),
    ) as progress:
        yield progress
