"""`python forecast.py`: a universe of tickers forecast offline through the service's own code.

The bundled series plus one file too short to forecast, against the tiny packaged archive: the
table comes as CSV and Parquet with one row per ticker and step, each forecast is what the
service answers for the same upload, the bad file gets its one line and its errors row while the
others are answered, and a misspelt setting or a ticker with no data ends in one readable line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from stockcast.errors import StockcastError
from stockcast.release.batch_forecast import forecast_rows, served_forecaster
from stockcast.release.forecast_command import run_forecast
from stockcast.release.versions import archive_version
from stockcast.serving.service import answer_batch

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ("AAPL", "GOOG", "IBM", "MSFT")
SHORT = "DELISTED"  # a file of five rows: well-formed, too short to forecast
UNKNOWN = "NOSUCHTICKER"
NAMED = "IBMX"  # a file whose Ticker column names its ticker, not its file name
TICKERS = tuple(sorted((*BUNDLED, NAMED)))


def forecast_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python forecast.py ...` from the project root, as a user runs it."""
    return subprocess.run(
        [sys.executable, "forecast.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
    )


@pytest.fixture(scope="module")
def universe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four bundled series, IBM's last 300 rows under the name in their Ticker column, and
    one short file, as a user's folder of CSVs."""
    folder = tmp_path_factory.mktemp("universe")
    for ticker in BUNDLED:
        (folder / f"{ticker}.csv").write_bytes((ROOT / "data" / f"{ticker}.csv").read_bytes())
    lines = (ROOT / "data" / "GOOG.csv").read_text().splitlines()
    (folder / f"{SHORT}.csv").write_text("\n".join(lines[:6]) + "\n")
    ibm = pd.read_csv(ROOT / "data" / "IBM.csv").tail(300)
    ibm.insert(0, "Ticker", NAMED)
    ibm.to_csv(folder / "prices.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def batch(
    universe: Path, tiny_mar: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess, Path]:
    """One run over the folder, three uploads per `answer_batch` call (two calls)."""
    out = tmp_path_factory.mktemp("forecast")
    result = forecast_cli(
        f"input_dir={universe}",
        f"model_path={tiny_mar}",
        f"output={out / 'table'}",
        "chunk_size=3",
        f"hydra.run.dir={out / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result, out


def test_the_csv_and_parquet_tables_are_one_table_with_a_row_per_ticker_and_step(batch, tiny_mar):
    _, out = batch
    parquet = pd.read_parquet(out / "table.parquet")
    csv = pd.read_csv(out / "table.csv", dtype={"model_version": str}, keep_default_na=False)
    pd.testing.assert_frame_equal(csv, parquet, check_exact=False, rtol=1e-12)
    horizon = served_forecaster(tiny_mar, out / "model").horizon
    assert len(parquet) == len(TICKERS) * horizon
    assert sorted(parquet["ticker"].unique()) == list(TICKERS)
    assert parquet.groupby("ticker")["step"].apply(list).tolist() == [
        list(range(1, horizon + 1))
    ] * len(TICKERS)
    assert set(parquet["model_version"]) == {archive_version(tiny_mar)}
    assert (parquet["lower"] < parquet["close"]).all() and (
        parquet["close"] < parquet["upper"]
    ).all()


def test_each_forecast_is_what_the_service_answers_for_the_same_upload(
    batch, universe, tiny_mar, assert_same_forecast: Callable[[object, object], None]
):
    _, out = batch
    table = pd.read_parquet(out / "table.parquet")
    forecaster = served_forecaster(tiny_mar, out / "parity")
    for ticker in BUNDLED:
        body = (universe / f"{ticker}.csv").read_bytes()
        [alone] = answer_batch(forecaster, [({"body": body}, "text/csv")])
        expected = forecast_rows(ticker, alone.forecast)
        got = table[table["ticker"] == ticker].to_dict("records")
        assert_same_forecast(got, expected)
    # a body with a Ticker column: the service answers it as a request of that one ticker
    [named] = answer_batch(forecaster, [({"body": (universe / "prices.csv").read_bytes()}, "")])
    [(ticker, alone)] = named.tickers
    assert ticker == NAMED
    expected = forecast_rows(NAMED, alone.forecast)
    assert_same_forecast(table[table["ticker"] == NAMED].to_dict("records"), expected)


def test_a_bad_file_gets_its_line_and_errors_row_while_the_others_are_answered(batch):
    result, out = batch
    lines = result.stderr.splitlines()
    [line] = [line for line in lines if line.startswith(f"{SHORT}: ")]
    assert "rows" in line and "Traceback" not in result.stderr
    errors = pd.read_csv(out / "table.errors.csv")
    assert errors.to_dict("records") == [
        {
            "ticker": SHORT,
            "status": 422,
            "reason": errors["reason"][0],
            "detail": line.removeprefix(f"{SHORT}: "),
        }
    ]
    assert errors["reason"][0]  # the service's reason label
    [summary] = result.stdout.strip().splitlines()[-1:]
    assert summary.startswith("5 forecast, 1 failed in ")
    assert "tickers/s" in summary and str(out / "table.parquet") in summary


def test_a_misspelt_setting_is_one_line_and_status_2():
    result = forecast_cli("chunk_sise=3")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: chunk_sise is not a setting: the config has no key 'chunk_sise'; "
        "did you mean chunk_size?"
    ]


def test_a_ticker_with_no_data_alone_is_one_line_and_a_nonzero_status(tiny_mar, tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    result = forecast_cli(
        f"tickers=[{UNKNOWN}]",
        f"paths.data_dir={empty}",
        f"model_path={tiny_mar}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{UNKNOWN}: no data for ticker '{UNKNOWN}'")
    assert result.stdout.startswith("0 forecast, 1 failed in ")
    errors = pd.read_csv(tmp_path / "run" / "forecasts.errors.csv")
    assert errors[["ticker", "reason"]].values.tolist() == [[UNKNOWN, "no_data"]]


def forecast_cfg(output_dir: Path, *overrides: str) -> DictConfig:
    """conf/forecast.yaml as `python forecast.py` composes it, writing into `output_dir`."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="forecast", overrides=[f"paths.data_dir={ROOT / 'data'}", *overrides]
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def test_tickers_come_through_the_data_module_and_a_missing_one_leaves_the_rest(
    tiny_mar, tmp_path, capsys
):
    """In process: the bundled IBM from data/, its last `rows` rows, dated by the calendar asked
    for, beside a ticker with no data."""
    cfg = forecast_cfg(
        tmp_path, f"tickers=[IBM,{UNKNOWN}]", f"model_path={tiny_mar}", "rows=200", "exchange=XLON"
    )
    assert run_forecast(cfg) == 0
    table = pd.read_parquet(tmp_path / "forecasts.parquet")
    assert set(table["ticker"]) == {"IBM"}
    ibm = pd.read_csv(ROOT / "data" / "IBM.csv")
    assert table["origin_date"].iloc[0] == ibm["Date"].iloc[-1]
    assert (table["rows_scored"] <= 200).all()
    assert set(table["calendar"]) == {"XLON"} and set(table["calendar_how"]) == {"asked for"}
    assert capsys.readouterr().err.startswith(f"{UNKNOWN}: no data for ticker")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("input_dir=data", "tickers=[IBM]"), "give input_dir=<folder> or tickers=[...], not both"),
        (("exchange=NOWHERE",), "unknown exchange calendar 'NOWHERE'"),
        (("input_dir=no/such/folder",), "input_dir=no/such/folder is not a folder"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_before_any_forecast(
    tiny_mar, tmp_path, overrides, message
):
    cfg = forecast_cfg(tmp_path, f"model_path={tiny_mar}", *overrides)
    with pytest.raises(StockcastError, match=re.escape(message)):
        run_forecast(cfg)
    assert not (tmp_path / "forecasts.csv").exists()


def test_a_file_that_is_no_archive_is_refused_in_one_sentence(tmp_path):
    bogus = tmp_path / "stockcast.mar"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(StockcastError, match=r"stockcast.mar cannot be loaded as a model: File is"):
        served_forecaster(bogus, tmp_path / "model")
