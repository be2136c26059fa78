"""The prediction endpoint of a real TorchServe: every way to send a CSV, every way to get it wrong.

One TorchServe per test session (the `torchserve` fixture); each test talks plain HTTP to it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import pytest
import requests

from stockcast.app.layout import ProjectLayout
from stockcast.model.forecaster import Forecaster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
HEADER = "Date,Open,High,Low,Close,Volume"


def with_cell(row_from_end: int, column: str, value: str, rows: int = 60) -> bytes:
    """The last `rows` sample rows with one cell replaced."""
    table = [line.split(",") for line in LAYOUT.sample_upload(rows).decode().splitlines()]
    table[-row_from_end][table[0].index(column)] = value
    return ("\n".join(",".join(cells) for cells in table) + "\n").encode()


def redated(last_day: str, rows: int = 60) -> bytes:
    """The last `rows` sample rows, re-dated to weekdays ending on `last_day`."""
    header, *lines = LAYOUT.sample_upload(rows).decode().splitlines()
    days = pd.bdate_range(end=last_day, periods=rows).strftime("%Y-%m-%d")
    return "\n".join(
        [header, *(f"{day}{line[10:]}" for day, line in zip(days, lines, strict=True))]
    ).encode()


def hourly_bars(rows: int = 60) -> bytes:
    """EUR/USD-like hourly bars, which the daily model once answered with a 200."""
    stamps = pd.date_range("2024-01-02", periods=rows, freq="h", tz="UTC")
    return "\n".join([HEADER, *(f"{ts.isoformat()},1.1,1.11,1.09,1.1,0" for ts in stamps)]).encode()


def post_csv(url: str, body: bytes, content_type: str = "text/csv") -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=30)


def test_sample_csv_gets_a_forecast_with_model_provenance(torchserve, packaged_mar):
    response = requests.put(
        torchserve.prediction_url, data=LAYOUT.sample_csv.read_bytes(), timeout=30
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    result = response.json()
    assert result["last_date"] == "2013-03-01"
    [step] = result["forecast"]
    assert step["lower"] < step["close"] < step["upper"]
    assert result["backtest"]["actual_close"] == result["last_close"]
    model = result["model"]
    assert model["name"] == torchserve.model_name  # the configured name, as registered
    assert model["version"] == torchserve.describe()["modelVersion"]
    assert model["window"] == 30
    assert model["trained_on"].startswith("GOOG+AAPL+IBM+MSFT 2000-")
    assert model["trained_until"].startswith("20")


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(
            lambda url, body: requests.put(url, data=body, timeout=30), id="curl -T (PUT)"
        ),
        pytest.param(lambda url, body: post_csv(url, body), id="POST text/csv"),
        pytest.param(lambda url, body: post_csv(url, body, "application/octet-stream"), id="octet"),
        pytest.param(
            lambda url, body: requests.post(url, files={"data": ("p.csv", body)}, timeout=30),
            id="multipart data",
        ),
        pytest.param(
            lambda url, body: requests.post(
                url, files={"file": ("p.csv", body, "text/csv")}, timeout=30
            ),
            id="multipart file",
        ),
    ],
)
def test_every_upload_style_gets_the_same_forecast(
    torchserve, send: Callable[[str, bytes], requests.Response]
):
    body = LAYOUT.sample_upload()
    reference = post_csv(torchserve.prediction_url, body).json()
    response = send(torchserve.prediction_url, body)
    assert response.status_code == 200, response.text
    assert response.json() == reference


def test_served_forecast_equals_the_training_pipeline_for_the_last_test_window(
    torchserve, trained_run, make_cfg
):
    datamodule = hydra.utils.instantiate(make_cfg("data.ticker=GOOG").data)
    datamodule.setup()
    test = datamodule.split_arrays("test")
    forecaster = Forecaster.load(trained_run / "artifact")
    point = forecaster.forecast_windows(test.windows[-1:]).closes(test.last_close[-1:])[0]

    history = datamodule.frame[datamodule.frame["Date"] < test.target_dates.iloc[-1]]
    buffer = io.StringIO()
    history.to_csv(buffer, index=False, date_format="%Y-%m-%d")
    served = post_csv(torchserve.prediction_url, buffer.getvalue().encode()).json()
    in_process = forecaster.predict(history.reset_index(drop=True))

    assert served["last_close"] == pytest.approx(test.last_close[-1], rel=1e-12)
    [step] = served["forecast"]
    assert step["close"] == pytest.approx(point[0, 0], rel=1e-6)  # the training pipeline's
    [local] = in_process["forecast"]  # and the band the same code computes in process
    np.testing.assert_allclose(
        [step["lower"], step["upper"]], [local["lower"], local["upper"]], rtol=1e-6
    )
    assert served["calibration"] == in_process["calibration"]


def test_a_csv_ending_on_new_years_eve_is_forecast_for_the_next_session(torchserve):
    response = post_csv(torchserve.prediction_url, redated("2018-12-31"))
    assert response.status_code == 200, response.text
    assert response.json()["last_date"] == "2018-12-31"
    assert [step["date"] for step in response.json()["forecast"]] == ["2019-01-02"]


BAD_REQUESTS = {
    "empty body": (b"", "text/csv", 400, "empty body"),
    "hourly bars to the daily model": (
        hourly_bars(),
        "text/csv",
        422,
        "this model forecasts daily bars; the upload's bars are 1 hour apart",
    ),
    "a zip file, not CSV": (
        b"PK\x03\x04\x14\x00\x00\x00",
        "application/octet-stream",
        400,
        "binary",
    ),
    "JSON text labelled CSV": (b'{"Close": [1, 2, 3]}', "text/csv", 400, "missing column"),
    "missing Volume column": (
        b"Date,Open,High,Low,Close\n2024-01-02,1,1,1,1\n",
        "text/csv",
        400,
        "['Volume']",
    ),
    "misnamed column": (
        LAYOUT.sample_upload(60).replace(b"Close", b"Closing", 1),
        "text/csv",
        400,
        "['Close']",
    ),
    "non-numeric price": (with_cell(3, "Open", "12.5x"), "text/csv", 422, "non-numeric"),
    "non-finite price": (with_cell(3, "High", "inf"), "text/csv", 422, "non-finite"),
    "NaN price": (with_cell(3, "Low", "NaN"), "text/csv", 422, "Low"),
    "negative price": (with_cell(2, "Close", "-5"), "text/csv", 422, "positive price"),
    "unparseable date": (with_cell(4, "Date", "31/31/2020"), "text/csv", 422, "unparseable date"),
    "duplicate date": (
        LAYOUT.sample_upload(60) + LAYOUT.sample_upload(1).splitlines()[-1] + b"\n",
        "text/csv",
        422,
        "duplicate dates",
    ),
    "fewer rows than one window": (LAYOUT.sample_upload(10), "text/csv", 422, "too few rows"),
    "non-UTF-8 bytes": (
        LAYOUT.sample_upload(60).replace(b"Date", "Dáte".encode("latin-1"), 1),
        "text/csv",
        400,
        "not UTF-8",
    ),
    "unknown content type": (LAYOUT.sample_upload(60), "application/json", 415, "application/json"),
    "form-urlencoded (curl -d)": (
        LAYOUT.sample_upload(60),
        "application/x-www-form-urlencoded",
        415,
        "curl -d",
    ),
}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"), BAD_REQUESTS.values(), ids=BAD_REQUESTS
)
def test_bad_input_gets_its_own_4xx_json_and_the_worker_keeps_serving(
    torchserve, body, content_type, status, says
):
    workers_before = sorted(torchserve.worker_pids())
    response = post_csv(torchserve.prediction_url, body, content_type)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()
    assert set(error) == {"error", "detail", "reason"}
    assert says in error["detail"]
    assert sorted(torchserve.worker_pids()) == workers_before
    assert post_csv(torchserve.prediction_url, LAYOUT.sample_upload(60)).status_code == 200


def test_multipart_upload_without_a_data_or_file_field_is_refused(torchserve):
    response = requests.post(
        torchserve.prediction_url, files={"csv": ("p.csv", LAYOUT.sample_upload(60))}, timeout=30
    )
    assert response.status_code == 400
    assert response.json()["error"] == "missing upload field"


def test_concurrent_good_and_bad_requests_share_batches_and_each_gets_its_answer(
    torchserve, assert_same_forecast
):
    good = LAYOUT.sample_upload()
    expected = post_csv(torchserve.prediction_url, good).json()
    bad = [(b"", 400), (with_cell(2, "Close", "-5"), 422), (LAYOUT.sample_upload(10), 422)]
    requests_to_send = []
    for i in range(48):
        requests_to_send.append((good, 200) if i % 2 == 0 else bad[(i // 2) % len(bad)])
    batches_before = _scrape_total(
        torchserve.metrics_url, "stockcast_inference_duration_seconds_count"
    )

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(
            pool.map(lambda item: post_csv(torchserve.prediction_url, item[0]), requests_to_send)
        )

    for (_, status), response in zip(requests_to_send, responses, strict=True):
        assert response.status_code == status, response.text
        if status == 200:
            assert_same_forecast(response.json(), expected)
        else:
            assert set(response.json()) == {"error", "detail", "reason"}
    batches = _scrape_total(torchserve.metrics_url, "stockcast_inference_duration_seconds_count")
    assert batches - batches_before < len(requests_to_send), "no request shared a batch"


def _scrape_total(metrics_url: str, name: str) -> float:
    """Sum of one metric's samples over all label sets."""
    text = requests.get(metrics_url, timeout=10).text
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def test_the_exchange_header_or_form_field_dates_the_forecast_by_that_market(torchserve):
    """TorchServe 0.12 passes no query string on /predictions: a header or a multipart field asks
    there, and `exchange=` in the query of /invocations."""
    weekdays = redated("2021-02-12")  # Friday; B3 shut for Carnival on the 15th and 16th
    by_header = requests.post(
        torchserve.prediction_url,
        data=weekdays,
        headers={"Content-Type": "text/csv", "Exchange": "BVMF"},
        timeout=30,
    )
    by_field = requests.post(
        torchserve.prediction_url,
        files={"data": ("prices.csv", weekdays, "text/csv")},
        data={"exchange": "BVMF"},
        timeout=30,
    )
    for asked in (by_header, by_field):
        assert asked.status_code == 200, asked.text
        assert asked.json()["forecast"][0]["date"] == "2021-02-17"
        assert asked.json()["calendar"] == {"name": "BVMF", "how": "asked for"}
    unknown = requests.post(
        torchserve.prediction_url,
        data=weekdays,
        headers={"Content-Type": "text/csv", "Exchange": "B3"},
        timeout=30,
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "unknown calendar"
    assert "BVMF" in unknown.json()["detail"]
    default = post_csv(torchserve.prediction_url, weekdays)  # the worker kept serving
    assert default.status_code == 200
    assert default.json()["forecast"][0]["date"] == "2021-02-16"  # New York's next session
    assert default.json()["calendar"] == {"name": "XNYS", "how": "the model's"}
    query = requests.post(
        f"{torchserve.inference_url}/invocations",
        params={"model_name": torchserve.model_name, "exchange": "BVMF"},
        data=weekdays,
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert query.status_code == 200, query.text  # /invocations passes its query string on
    assert query.json()["calendar"] == {"name": "BVMF", "how": "asked for"}
