"""Many tickers in one request: each answered exactly as its rows uploaded alone would be."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl

from stockcast.app.layout import ProjectLayout
from stockcast.model.forecaster import Forecaster
from stockcast.serving.prometheus_metrics import PREDICTIONS, REJECTED, HandlerMetrics
from stockcast.serving.service import Outcome, answer_batch
from stockcast.serving.upload_limits import MAX_TICKERS, MAX_TOTAL_ROWS

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[2])
HEADER = "Date,Open,High,Low,Close,Volume"
MULTIPART = "multipart/form-data; boundary=abc"
TICKERS = ("GOOG", "AAPL", "IBM", "MSFT")
METRICS_YAML = LAYOUT.root / "torchserve" / "metrics.yaml"


@pytest.fixture(scope="module")
def forecaster(tiny_run: Path) -> Forecaster:
    return Forecaster.load(tiny_run / "artifact")


def rows_of(ticker: str, rows: int = 250) -> list[str]:
    """The bundled file's last `rows` rows, Date..Volume (Adj Close left out: GOOG has none)."""
    lines = (LAYOUT.data_dir / f"{ticker}.csv").read_text().splitlines()[-rows:]
    return [",".join(line.split(",")[:6]) for line in lines]


def single(rows: list[str]) -> bytes:
    return "\n".join([HEADER, *rows, ""]).encode()


def long_csv(series: dict[str, list[str]], column: str = "Ticker") -> tuple[bytes, list[str]]:
    """Every series' rows in one file, newest first across tickers (so they interleave and each
    ticker's rows are out of date order), the ticker in the first column."""
    rows = [(row[:10], ticker, row) for ticker, lines in series.items() for row in lines]
    rows.sort(key=lambda item: item[0], reverse=True)
    first_seen = list(dict.fromkeys(ticker for _, ticker, _ in rows))
    body = "\n".join([f"{column},{HEADER}", *(f"{t},{row}" for _, t, row in rows), ""])
    return body.encode(), first_seen


def answer(forecaster: Forecaster, fields: dict, content_type: str = "text/csv") -> Outcome:
    [outcome] = answer_batch(forecaster, [(fields, content_type)])
    return outcome


def alone(forecaster: Forecaster, body: bytes, **fields: bytes) -> Outcome:
    return answer(forecaster, {"body": body, **fields})


def entry_of(outcome: Outcome) -> dict:
    """What a ticker's entry holds besides its name: status and the single upload's body (and
    the reason of a refusal)."""
    if outcome.rejection is None:
        return {"status": 200, **outcome.body}
    return {"status": outcome.status, **outcome.body, "reason": outcome.rejection.reason}


def test_a_long_csv_answers_each_ticker_as_its_rows_alone_and_a_bad_one_alone_fails(
    forecaster, assert_same_forecast
):
    series = {ticker: rows_of(ticker) for ticker in TICKERS}
    series["SHORT"] = rows_of("IBM", 10)  # fewer rows than one window
    nan = rows_of("MSFT")
    nan[-3] = ",".join([*nan[-3].split(",")[:4], "NaN", nan[-3].split(",")[5]])
    series["NANCLOSE"] = nan
    body, first_seen = long_csv(series)

    outcome = answer(forecaster, {"body": body})

    assert outcome.status == 200
    reply = outcome.body
    assert (reply["tickers"], reply["answered"], reply["failed"]) == (6, 4, 2)
    assert [result["ticker"] for result in reply["results"]] == first_seen
    by_ticker = {result.pop("ticker"): result for result in reply["results"]}
    for ticker, rows in series.items():
        # the same rows in the same (newest first) order, alone: messages number the same rows
        expected = entry_of(alone(forecaster, single(sorted(rows, reverse=True))))
        assert_same_forecast(by_ticker[ticker], expected)
    assert by_ticker["SHORT"]["status"] == 422
    assert by_ticker["SHORT"]["reason"] == "too_few_rows"
    assert by_ticker["NANCLOSE"]["status"] == 422
    assert set(by_ticker["NANCLOSE"]) == {"status", "error", "detail", "reason"}


def test_the_same_numbers_whatever_else_shares_the_request(forecaster, assert_same_forecast):
    """The forward pass is batched across tickers; each ticker's numbers stay its own."""
    series = {ticker: rows_of(ticker) for ticker in TICKERS}
    together = answer(forecaster, {"body": long_csv(series)[0]}).body["results"]
    for result in together:
        body, _ = long_csv({result["ticker"]: series[result["ticker"]]})
        [only] = answer(forecaster, {"body": body}).body["results"]
        assert_same_forecast(only, result)


@pytest.mark.parametrize(
    "shape",
    ["ticker last", "CRLF line ends and a BOM", "blank lines"],
)
def test_where_the_ticker_column_sits_and_how_lines_end_do_not_change_the_answers(
    forecaster, assert_same_forecast, shape
):
    series = {"IBM": rows_of("IBM"), "GOOG": rows_of("GOOG")}
    if shape == "ticker last":
        lines = [f"{HEADER},Ticker", *(f"{r},{t}" for t, rows in series.items() for r in rows)]
        body = "\n".join(lines).encode()
    else:
        body, _ = long_csv(series)
        if shape == "blank lines":
            body = body.replace(b"\n", b"\n\n")
        else:
            body = b"\xef\xbb\xbf" + body.replace(b"\n", b"\r\n")
    reply = answer(forecaster, {"body": body}).body
    assert reply["answered"] == 2
    for result in reply["results"]:
        expected = alone(forecaster, single(rows_of(result.pop("ticker"))))
        assert_same_forecast(result["forecast"], expected.body["forecast"])
        assert_same_forecast(result["backtest"], expected.body["backtest"])


def test_a_ticker_column_with_one_ticker_still_gets_the_multi_ticker_shape(forecaster):
    body, _ = long_csv({"GOOG": rows_of("GOOG")})
    reply = answer(forecaster, {"body": body}).body
    assert (reply["tickers"], reply["answered"], reply["failed"]) == (1, 1, 0)
    assert reply["results"][0]["ticker"] == "GOOG"
    assert reply["results"][0]["status"] == 200


def test_a_symbol_column_in_a_semicolon_export_with_quotes_reads_as_that_export_alone(
    forecaster, assert_same_forecast
):
    def european(row: str) -> str:
        return ";".join(cell.replace(".", ",") for cell in row.split(","))

    rows = rows_of("AAPL")
    header = HEADER.replace(",", ";")
    body = "\n".join([f"Symbol;{header}", *(f'"AAPL";{european(row)}' for row in rows)]).encode()
    reply = answer(forecaster, {"body": body}).body
    [result] = reply["results"]
    assert result.pop("ticker") == "AAPL"
    expected = alone(forecaster, "\n".join([header, *map(european, rows)]).encode())
    assert expected.body["read_as"]["decimal"] == ","
    assert_same_forecast(result, entry_of(expected))


def test_several_multipart_files_are_one_ticker_each_named_by_field_or_ticker_column(
    forecaster, assert_same_forecast
):
    ibm_long, _ = long_csv({"IBM": rows_of("IBM")})
    fields = {
        "AAPL": single(rows_of("AAPL")),
        "data": ibm_long,  # named by its Ticker column
        "MSFT": single(rows_of("MSFT")),
        "note": b"a form field, not a CSV",
        "exchange": b"XNYS",
    }
    reply = answer(forecaster, fields, MULTIPART).body
    assert [result["ticker"] for result in reply["results"]] == ["AAPL", "IBM", "MSFT"]
    for result in reply["results"]:
        ticker = result.pop("ticker")
        expected = alone(forecaster, single(rows_of(ticker)), exchange=b"XNYS")
        assert_same_forecast(result, entry_of(expected))
        assert result["calendar"] == {"name": "XNYS", "how": "asked for"}


def test_when_every_ticker_fails_the_request_is_still_a_200_listing_each_refusal(forecaster):
    body, _ = long_csv({"A": rows_of("GOOG", 5), "B": rows_of("IBM", 5)})
    outcome = answer(forecaster, {"body": body})
    assert outcome.status == 200
    assert (outcome.body["answered"], outcome.body["failed"]) == (0, 2)
    assert {result["reason"] for result in outcome.body["results"]} == {"too_few_rows"}


@pytest.mark.parametrize(
    ("fields", "content_type", "status", "reason"),
    [
        (
            {"body": b"Ticker,Date,Open,High,Low,Close,Volume\n,2024-01-02,1,1,1,1,1\n"},
            "text/csv",
            400,
            "missing_ticker",
        ),
        (
            {"body": b"Ticker,Date,Open,High,Low,Close,Volume\n\n"},
            "text/csv",
            400,
            "missing_ticker",
        ),
        (
            {"data": b"Ticker,Date\nA,2024-01-02\n", "file": b"Ticker,Date\nA,2024-01-03\n"},
            MULTIPART,
            400,
            "duplicate_ticker",
        ),
        (
            {"body": b"Ticker,Date\nA,2024-01-02\n", "exchange": b"NOPE"},
            "text/csv",
            422,
            "unknown_calendar",
        ),
        ({"body": b"Ticker,Date\nA,\xff\xfe\n"}, "text/csv", 400, "not_utf8"),
        ({"body": b"Ticker,Date\nA,1\n"}, "application/json", 415, "unsupported_content_type"),
    ],
    ids=[
        "row without ticker",
        "no rows",
        "ticker in two parts",
        "unknown exchange",
        "not UTF-8",
        "JSON",
    ],
)
def test_what_is_wrong_with_the_whole_request_keeps_the_single_error_json(
    forecaster, fields, content_type, status, reason
):
    outcome = answer(forecaster, fields, content_type)
    assert (outcome.status, outcome.rejection.reason) == (status, reason)
    assert set(outcome.body) == {"error", "detail", "reason"}


def test_more_tickers_than_the_limit_are_a_413_naming_limit_and_count(forecaster):
    body = "\n".join(["Ticker,Date", *(f"T{i},2024-01-02" for i in range(MAX_TICKERS + 1))])
    outcome = answer(forecaster, {"body": body.encode()})
    assert (outcome.status, outcome.body["error"]) == (413, "too many tickers")
    assert f"{MAX_TICKERS + 1:,}" in outcome.body["detail"]
    assert f"at most {MAX_TICKERS:,}" in outcome.body["detail"]


def test_more_upload_parts_than_the_ticker_limit_are_a_413(forecaster):
    parts = {f"T{i}": b"Date,Close\n2024-01-02,1\n" for i in range(MAX_TICKERS + 1)}
    outcome = answer(forecaster, parts, MULTIPART)
    assert (outcome.status, outcome.rejection.reason) == (413, "too_many_tickers")


def test_more_rows_than_the_limit_are_a_413_counted_before_parsing(forecaster):
    body = b"Ticker,Date\n" + b"A,1\n" * (MAX_TOTAL_ROWS + 1)  # no row would parse as a price
    outcome = answer(forecaster, {"body": body})
    assert (outcome.status, outcome.rejection.reason) == (413, "too_large")
    assert f"{MAX_TOTAL_ROWS + 1:,}" in outcome.body["detail"]
    assert f"at most {MAX_TOTAL_ROWS:,}" in outcome.body["detail"]


def test_one_forward_pass_answers_every_ticker_of_every_request_of_a_batch(forecaster, monkeypatch):
    passes: list[int] = []
    predict = forecaster.predict_bars

    def counted(bars, calendars=None):
        passes.append(len(bars))
        return predict(bars, calendars)

    monkeypatch.setattr(forecaster, "predict_bars", counted)
    multi, _ = long_csv({ticker: rows_of(ticker) for ticker in TICKERS[:3]})
    outcomes = answer_batch(
        forecaster,
        [
            ({"body": single(rows_of("MSFT"))}, "text/csv"),
            ({"body": multi}, "text/csv"),
            ({"body": b""}, "text/csv"),
        ],
    )
    assert [outcome.status for outcome in outcomes] == [200, 200, 400]
    assert "forecast" in outcomes[0].body and outcomes[1].body["answered"] == 3
    assert passes == [4]


def test_metrics_count_each_ticker_as_a_forecast_or_a_rejection(forecaster, caplog):
    cache = MetricsCacheYamlImpl(str(METRICS_YAML))
    cache.initialize_cache()
    body, _ = long_csv({"GOOG": rows_of("GOOG"), "IBM": rows_of("IBM"), "X": rows_of("IBM", 5)})
    outcomes = answer_batch(forecaster, [({"body": body}, "text/csv"), ({"body": b""}, None)])
    metrics = HandlerMetrics(cache, "stockcast", "1.0", 0.8)
    with caplog.at_level(logging.INFO, logger="ts.metrics"):
        metrics.record_batch(outcomes, 0.01)
        metrics.flush()
    lines = [line for record in caplog.records for line in record.getMessage().splitlines()]
    assert not [line for line in lines if "Failed" in line]
    predictions = [line for line in lines if line.startswith(f"[METRICS]{PREDICTIONS}.")]
    assert [line.split(":", 1)[1].split("|")[0] for line in predictions] == ["2"]
    rejected = sorted(
        line.split("reason:")[1].split(",")[0]
        for line in lines
        if line.startswith(f"[METRICS]{REJECTED}.")
    )
    assert rejected == ["empty_body", "too_few_rows"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_served_long_csv_answers_the_good_tickers_and_refuses_the_bad_one_alone(torchserve):
    series = {ticker: rows_of(ticker) for ticker in ("GOOG", "AAPL", "IBM")}
    series["SHORT"] = rows_of("MSFT", 10)
    body, first_seen = long_csv(series)
    workers_before = sorted(torchserve.worker_pids())

    response = requests.post(
        torchserve.prediction_url, data=body, headers={"Content-Type": "text/csv"}, timeout=60
    )

    assert response.status_code == 200, response.text
    reply = response.json()
    assert (reply["tickers"], reply["answered"], reply["failed"]) == (4, 3, 1)
    assert [result["ticker"] for result in reply["results"]] == first_seen
    statuses = {result["ticker"]: result["status"] for result in reply["results"]}
    assert statuses == {"GOOG": 200, "AAPL": 200, "IBM": 200, "SHORT": 422}
    [short] = [result for result in reply["results"] if result["ticker"] == "SHORT"]
    assert short["reason"] == "too_few_rows" and "too few rows" in short["detail"]
    assert sorted(torchserve.worker_pids()) == workers_before
    single_answer = requests.post(
        torchserve.prediction_url,
        data=single(rows_of("GOOG")),
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert single_answer.status_code == 200
    assert "results" not in single_answer.json()
    assert single_answer.json()["last_date"] == rows_of("GOOG")[-1][:10]
