"""Throughput of `python forecast.py`'s batch path: tickers forecast per second, in one process.

CLI: `python -m stockcast.bench batch [--tickers 100] [--rows 260] [--chunk-size 64]
[--rounds 3] [--mar PATH] [--json out.json]`.

A universe of `--tickers` names is made from the four bundled series (each name one of them, its
last `--rows` rows), written as a folder of CSVs, and run through what forecast.py runs after its
start-up: reading the folder, `answer_batch` in chunks, writing the CSV, Parquet and errors
tables. The same universe one upload per call (`chunk_size` 1) is measured in the same rounds,
alternated, so the gain of batching the forward pass is read on the same machine load. Python's
and the model's start-up are left out: they are paid once per command, not per ticker.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from stockcast.app.layout import ProjectLayout
from stockcast.model.forecaster import Forecaster
from stockcast.release.batch_forecast import (
    folder_uploads,
    forecast_uploads,
    served_forecaster,
    write_tables,
)

BUNDLED = ("GOOG", "AAPL", "IBM", "MSFT")


def write_universe(data_dir: Path, folder: Path, tickers: int, rows: int) -> list[str]:
    """`tickers` CSVs in `folder`, named `<SERIES><n>`, each the last `rows` rows of a bundled
    series in turn; the names, in order."""
    tails = {}
    for series in BUNDLED:
        lines = (data_dir / f"{series}.csv").read_text().splitlines()
        if len(lines) - 1 < rows:
            raise ValueError(f"{series}.csv has {len(lines) - 1} rows, fewer than --rows {rows}")
        tails[series] = "\n".join([lines[0], *lines[-rows:]]) + "\n"
    names = []
    for n in range(tickers):
        series = BUNDLED[n % len(BUNDLED)]
        name = f"{series}{n:04d}"
        (folder / f"{name}.csv").write_text(tails[series])
        names.append(name)
    return names


def one_pass(forecaster: Forecaster, folder: Path, output: Path, chunk_size: int) -> dict:
    """Read, forecast and write the universe once: the seconds of each stage."""
    began = time.perf_counter()
    uploads, failures = folder_uploads(folder)
    read = time.perf_counter()
    answers = forecast_uploads(forecaster, uploads, chunk_size=chunk_size)
    forecast = time.perf_counter()
    write_tables(answers, output)
    written = time.perf_counter()
    answers.failures[:0] = failures
    if answers.failures:
        first = answers.failures[0].line()
        raise RuntimeError(f"{len(answers.failures)} ticker(s) not forecast, first: {first}")
    return {
        "tickers": answers.forecast,
        "read_s": read - began,
        "forecast_s": forecast - read,
        "write_s": written - forecast,
        "total_s": written - began,
    }


def measure(
    mar: Path | None,
    tickers: int,
    rows: int,
    chunk_size: int,
    rounds: int,
    progress: Callable[[str], None] = print,
) -> dict:
    """Alternate the batched and one-per-call passes `rounds` times; the figures (medians)."""
    layout = ProjectLayout.find()
    mar = mar or layout.model_store / f"{layout.model_name}.mar"
    with tempfile.TemporaryDirectory(prefix="stockcast-batch-bench-") as scratch:
        scratch = Path(scratch)
        forecaster = served_forecaster(mar, scratch / "model")
        folder = scratch / "universe"
        folder.mkdir()
        write_universe(layout.data_dir, folder, tickers, rows)
        one_pass(forecaster, folder, scratch / "warmup", chunk_size)  # first-call costs out
        passes: dict[str, list[dict]] = {"batched": [], "one_per_call": []}
        for round_ in range(1, rounds + 1):
            for kind, size in (("batched", chunk_size), ("one_per_call", 1)):
                passes[kind].append(one_pass(forecaster, folder, scratch / kind, size))
            batched = passes["batched"][-1]
            progress(
                f"round {round_}/{rounds}: {tickers / batched['total_s']:.1f} tickers/s end to "
                f"end, {tickers / passes['one_per_call'][-1]['total_s']:.1f} one per call"
            )
    figures = {
        kind: {
            "tickers_per_s": round(tickers / statistics.median(p["total_s"] for p in runs), 2),
            "forecast_tickers_per_s": round(
                tickers / statistics.median(p["forecast_s"] for p in runs), 2
            ),
            "median_s": {
                stage: round(statistics.median(p[stage] for p in runs), 4)
                for stage in ("read_s", "forecast_s", "write_s", "total_s")
            },
        }
        for kind, runs in passes.items()
    }
    return {
        "settings": {
            "tickers": tickers,
            "rows": rows,
            "chunk_size": chunk_size,
            "rounds": rounds,
            "mar": str(mar),
            "model_version": forecaster.info.get("version"),
            "torch_threads": torch.get_num_threads(),
        },
        "tickers_per_s": figures["batched"]["tickers_per_s"],
        "batching_speedup": round(
            figures["batched"]["tickers_per_s"] / figures["one_per_call"]["tickers_per_s"], 2
        ),
        **figures,
    }


def summary(figures: dict) -> str:
    """The figures in three lines."""
    settings, batched, alone = figures["settings"], figures["batched"], figures["one_per_call"]
    return (
        f"{settings['tickers']} tickers x {settings['rows']} rows, {settings['chunk_size']} per "
        f"answer_batch call: {batched['tickers_per_s']} tickers/s end to end "
        f"(forecast alone {batched['forecast_tickers_per_s']}/s)\n"
        f"one per call: {alone['tickers_per_s']} tickers/s "
        f"(forecast alone {alone['forecast_tickers_per_s']}/s)\n"
        f"batching: {figures['batching_speedup']}x"
    )
