"""Forecasts for a universe of tickers without a server: the service's own code, in batches.

`python forecast.py` (and the throughput benchmark) read each ticker's prices as a CSV upload,
either a file of a folder or the project's data module's rows, and hand them to
`stockcast.serving.service.answer_batch` exactly as TorchServe's handler does: the raw body as
`{"body": csv_bytes}` with `text/csv`, one ticker per request, `chunk_size` requests per call, so
each call is one forward pass. The numbers are therefore the served numbers (the same parsing,
validation, calendar and self-calibration), from a served artifact (a `.mar` or a model
directory). Each ticker ends as forecast rows or as one `Failure` with the status, reason and
detail the service (or the data source) gave.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from stockcast.app.cli import user_error
from stockcast.errors import StockcastError
from stockcast.inputs.calendar_choice import asked_calendar
from stockcast.model.forecaster import SPEC_FILE, WEIGHTS_FILE, Forecaster
from stockcast.release.packaging import MANIFEST, artifact_dir, default_version
from stockcast.release.versions import archive_forecaster, archive_version
from stockcast.serving.multi_ticker import header_names, split_long, ticker_column
from stockcast.serving.service import CALENDAR_FIELD, RAW_BODY_FIELD, Outcome, answer_batch

CSV_TYPE = "text/csv"
FORECAST_COLUMNS = (
    "ticker",
    "origin_date",
    "last_close",
    "step",
    "target_date",
    "close",
    "lower",
    "upper",
    "level",
    "calendar",
    "calendar_how",
    "model_version",
    "band",
    "rows_scored",
    "recent_coverage",
    "quantile",
    "stored_quantile",
    "prior_rows",
    "no_network_scale",
    "network_factor",
    "dropped_rows",
    "warnings",
)
ERROR_COLUMNS = ("ticker", "status", "reason", "detail")
# why a ticker never reached the service (the service's own reasons are its metric labels)
NO_DATA, UNREADABLE, DUPLICATE = "no_data", "unreadable_file", "duplicate_ticker"


@dataclass(frozen=True)
class Upload:
    """One ticker's CSV body, as a client would POST it."""

    ticker: str
    body: bytes


@dataclass(frozen=True)
class Failure:
    """A ticker that could not be forecast. `status` is the HTTP status the service answered, or
    None when the ticker's prices never reached it (no data, an unreadable file)."""

    ticker: str
    status: int | None
    reason: str
    detail: str

    def line(self) -> str:
        """`TICKER: <detail>` on one line."""
        return f"{self.ticker}: {' '.join(self.detail.split())}"


@dataclass
class Answers:
    """What a batch run produced: the forecast rows and the failures, in input order."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    forecast: int = 0  # tickers forecast

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(FORECAST_COLUMNS))

    def errors(self) -> pd.DataFrame:
        table = pd.DataFrame([asdict(f) for f in self.failures], columns=list(ERROR_COLUMNS))
        return table.astype({"status": "Int64"})


# --- the model -----------------------------------------------------------------------------------


def served_forecaster(path: Path, scratch: Path) -> Forecaster:
    """The Forecaster at `path` (a `.mar`, a model directory or a training run), with the
    version TorchServe would report (`info.version`, as the handler sets it): the archive's
    manifest version, else the one `make package` would stamp (`default_version`)."""
    path = Path(path)
    try:
        if path.is_file():
            forecaster = archive_forecaster(path, scratch)
            version = archive_version(path)
        elif path.is_dir():
            artifact = artifact_dir(path)
            forecaster = Forecaster.load(artifact)
            manifest = path / MANIFEST  # a directory TorchServe unpacked an archive into
            version = (
                json.loads(manifest.read_text())["model"]["modelVersion"]
                if manifest.is_file()
                else default_version(artifact)
            )
        else:
            raise StockcastError(
                f"no model at {path}: give a .mar, a model directory ({WEIGHTS_FILE} and "
                f"{SPEC_FILE}) or a training run; `make package` builds model_store's archive"
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:  # not an archive of ours
        raise StockcastError(f"{path} cannot be loaded as a model: {error}") from None
    forecaster.info["version"] = version
    return forecaster


# --- the inputs ----------------------------------------------------------------------------------


def folder_uploads(folder: Path) -> tuple[list[Upload], list[Failure]]:
    """Every `*.csv` of `folder` (sorted by name), its body unchanged. A file's ticker is its
    Ticker/Symbol column's value when it has one, else the file name's stem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StockcastError(f"input_dir={folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not files:
        raise StockcastError(f"input_dir={folder} holds no .csv file")
    uploads, failures = [], []
    for path in files:
        try:
            body = path.read_bytes()
            ticker = named_ticker(body) or path.stem
        except (OSError, ValueError) as error:
            failures.append(Failure(path.stem, None, UNREADABLE, f"{path.name}: {error}"))
            continue
        uploads.append(Upload(ticker, body))
    return unique(uploads, failures)


def named_ticker(body: bytes) -> str | None:
    """The value of the body's Ticker or Symbol column, None without one; ValueError when the
    column holds several tickers (one file is one ticker's prices) or a row without one. The
    column is found and split exactly as the service finds and splits it (`multi_ticker`)."""
    names = header_names(body)
    column = ticker_column(names)
    if column is None:
        return None
    found = [upload.ticker for upload in split_long(body, column)]
    if len(found) > 1:
        raise ValueError(
            f"its {names[column]} column names {len(found)} tickers; give one per file"
        )
    return found[0] if found else None


def data_uploads(
    data: DictConfig,
    tickers: Sequence[str],
    rows: int | None,
    advance: Callable[[], None] = lambda: None,
) -> tuple[list[Upload], list[Failure]]:
    """Each ticker's rows from the project's data module (`data` instantiated with `ticker=`:
    the cache or bundled sample in data/, downloaded when missing), the last `rows` of them
    (None: all) written as a client's CSV."""
    uploads, failures = [], []
    for ticker in tickers:
        ticker = str(ticker)
        try:
            frame = hydra.utils.instantiate(data, ticker=ticker).load_frame()
        except (StockcastError, InstantiationException) as error:
            cause = user_error(error)  # the data source's error, maybe wrapped by instantiate
            if cause is None:
                raise
            failures.append(Failure(ticker, None, getattr(cause, "reason", NO_DATA), str(cause)))
        else:
            uploads.append(Upload(ticker, csv_body(frame if rows is None else frame.tail(rows))))
        advance()
    return unique(uploads, failures)


def csv_body(frame: pd.DataFrame) -> bytes:
    """A price frame as the CSV a client uploads: days as YYYY-MM-DD, times in ISO 8601."""
    dates = frame["Date"]
    daily = dates.dt.tz is None and bool((dates.dt.normalize() == dates).all())
    text = frame.assign(
        Date=dates.dt.strftime("%Y-%m-%d") if daily else dates.map(pd.Timestamp.isoformat)
    ).to_csv(index=False, columns=["Date", "Open", "High", "Low", "Close", "Volume"])
    return text.encode()


def unique(uploads: list[Upload], failures: list[Failure]) -> tuple[list[Upload], list[Failure]]:
    """Keep the first upload of each ticker; a later one is a failure (one row per ticker)."""
    kept: dict[str, Upload] = {}
    for upload in uploads:
        if upload.ticker in kept:
            failures.append(
                Failure(upload.ticker, None, DUPLICATE, "a second input for this ticker, ignored")
            )
        else:
            kept[upload.ticker] = upload
    return list(kept.values()), failures


# --- the batch -----------------------------------------------------------------------------------


def check_exchange(exchange: str | None) -> str | None:
    """Refuse an unknown calendar once, up front, rather than once per ticker."""
    if exchange is not None:
        asked_calendar(str(exchange))
    return exchange


def forecast_uploads(
    forecaster: Forecaster,
    uploads: Sequence[Upload],
    exchange: str | None = None,
    chunk_size: int = 64,
    advance: Callable[[int], None] = lambda n: None,
) -> Answers:
    """Every upload through `answer_batch`, `chunk_size` per call; `advance(n)` after each."""
    if chunk_size < 1:
        raise StockcastError(f"chunk_size={chunk_size}: it must be at least 1")
    answers = Answers()
    for start in range(0, len(uploads), chunk_size):
        chunk = uploads[start : start + chunk_size]
        requests = [(request_fields(upload, exchange), CSV_TYPE) for upload in chunk]
        for upload, outcome in zip(chunk, answer_batch(forecaster, requests), strict=True):
            for ticker, answer in ticker_outcomes(upload, outcome):
                if answer.rejection is None:
                    answers.rows += forecast_rows(ticker, answer.forecast)
                    answers.forecast += 1
                else:
                    rejection = answer.rejection
                    answers.failures.append(
                        Failure(ticker, rejection.status, rejection.reason, rejection.detail)
                    )
        advance(len(chunk))
    return answers


def ticker_outcomes(upload: Upload, outcome: Outcome) -> list[tuple[str, Outcome]]:
    """The ticker and outcome of a request: the service answers a body with a Ticker/Symbol
    column as a multi-ticker request, here of the one ticker that `named_ticker` allowed, with
    the very forecast the same rows get alone."""
    return [(upload.ticker, outcome)] if outcome.tickers is None else list(outcome.tickers)


def request_fields(upload: Upload, exchange: str | None) -> dict[str, Any]:
    """The parameters TorchServe hands the handler for a raw CSV body (and `exchange`)."""
    fields: dict[str, Any] = {RAW_BODY_FIELD: upload.body}
    if exchange is not None:
        fields[CALENDAR_FIELD] = exchange
    return fields


def forecast_rows(ticker: str, forecast: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per horizon step of a forecast response (stockcast/model/forecaster.py)."""
    model, calibration = forecast["model"], forecast["calibration"]
    shared = {
        "ticker": ticker,
        "origin_date": forecast["last_date"],
        "last_close": forecast["last_close"],
        "level": model["interval_level"],
        "calendar": forecast["calendar"]["name"],
        "calendar_how": forecast["calendar"]["how"],
        "model_version": str(model.get("version", "")),
        "band": calibration["band"],
        "rows_scored": calibration["rows_scored"],
        "recent_coverage": calibration["recent_coverage"],
        "quantile": calibration["quantile"],
        "stored_quantile": calibration["stored_quantile"],
        "prior_rows": calibration["prior_rows"],
        "no_network_scale": calibration["no_network_scale"],
        "network_factor": calibration["network_factor"],
        "dropped_rows": len(forecast.get("dropped_rows", [])),
        "warnings": "; ".join(map(str, forecast.get("warnings", []))),
    }
    return [
        shared
        | {
            "step": step,
            "target_date": point["date"],
            "close": point["close"],
            "lower": point["lower"],
            "upper": point["upper"],
        }
        for step, point in enumerate(forecast["forecast"], start=1)
    ]


# --- the tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """Where a run's tables went."""

    csv: Path
    parquet: Path
    errors: Path

    def paths(self) -> Iterable[Path]:
        return (self.csv, self.parquet, self.errors)


def output_paths(output: str | Path) -> Written:
    """`<output>.csv`, `<output>.parquet` and `<output>.errors.csv` (a .csv or .parquet suffix
    given with `output` is the table's own)."""
    stem = Path(output)
    if stem.suffix.lower() in (".csv", ".parquet"):
        stem = stem.with_suffix("")
    return Written(
        stem.with_name(f"{stem.name}.csv"),
        stem.with_name(f"{stem.name}.parquet"),
        stem.with_name(f"{stem.name}.errors.csv"),
    )


def write_tables(answers: Answers, output: str | Path) -> Written:
    """The forecast table as CSV and Parquet, and the errors table (header only when none)."""
    written = output_paths(output)
    written.csv.parent.mkdir(parents=True, exist_ok=True)
    table = answers.table()
    table.to_csv(written.csv, index=False)
    table.to_parquet(written.parquet, index=False)
    answers.errors().to_csv(written.errors, index=False)
    return written


def summary(answers: Answers, seconds: float, written: Written) -> str:
    """The run's one closing line."""
    rate = answers.forecast / seconds if seconds > 0 else float("inf")
    return (
        f"{answers.forecast} forecast, {len(answers.failures)} failed in {seconds:.2f} s "
        f"({rate:.1f} tickers/s): {', '.join(map(str, written.paths()))}"
    )
