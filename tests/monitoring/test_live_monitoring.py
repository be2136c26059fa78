"""Against a live TorchServe and Prometheus: every dashboard query returns data.

The session's TorchServe serves the packaged model; a real Prometheus scrapes it every second
with the repository's rules. Good and broken CSVs go through the real HTTP API, then each panel's
PromQL (Grafana's $__rate_interval set to a concrete window) is evaluated by Prometheus's HTTP
API, exactly as Grafana would send it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
GOOD_CSV = (ROOT / "data" / "GOOG.csv").read_bytes()
# Uploads the handler refuses, each with the reason label it counts them under.
BAD_CSVS = {
    "missing_columns": b"Date,Open\n2020-01-02,1.0\n2020-01-03,1.1\n",
    "empty_body": b"",
    "not_utf8": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
}
RATE_WINDOW = "1m"  # stands in for $__rate_interval; the whole test fits inside it
TRAFFIC_SECONDS = 6.0

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def send_traffic(prediction_url: str, seconds: float) -> dict[int, int]:
    """Alternate good and bad uploads for `seconds`; how many responses of each status."""
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for body in (GOOD_CSV, *BAD_CSVS.values()):
            response = requests.post(
                prediction_url, data=body, headers={"Content-Type": "text/csv"}, timeout=30
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return statuses


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    return [
        float(series["value"][1]) for series in result if math.isfinite(float(series["value"][1]))
    ]


@pytest.fixture(scope="module")
def traffic(torchserve: Any, prometheus: Any) -> dict[int, int]:
    """Traffic sent while Prometheus watches, and at least two scrapes after its last request."""
    statuses = send_traffic(torchserve.prediction_url, TRAFFIC_SECONDS)
    time.sleep(2.5)
    return statuses


def test_traffic_had_successes_and_rejections(traffic: dict[int, int]) -> None:
    assert traffic.get(200, 0) > 0
    assert sum(count for status, count in traffic.items() if 400 <= status < 500) > 0


def test_every_dashboard_query_returns_data(
    traffic: dict[int, int], prometheus: Any, panel_queries: list
) -> None:
    empty = [
        str(query)
        for query in panel_queries
        if not finite_values(prometheus.query(query.promql(RATE_WINDOW)))
    ]
    assert not empty, "panels with no data:\n" + "\n".join(empty)


def test_request_rate_panel_splits_successes_from_rejections(
    traffic: dict[int, int], prometheus: Any, panel_queries: list
) -> None:
    by_ref = {q.ref_id: q for q in panel_queries if q.panel == "Request rate by status class"}
    result = prometheus.query(by_ref["A"].promql(RATE_WINDOW))
    rates = {series["metric"]["status"]: float(series["value"][1]) for series in result}
    assert rates["2xx"] > 0
    assert rates["4xx"] > 0
    for ref_id in ("B", "C"):  # forecasts and rejections of the predictions API alone
        assert finite_values(prometheus.query(by_ref[ref_id].promql(RATE_WINDOW)))[0] > 0


def test_rejections_are_counted_by_reason(traffic: dict[int, int], prometheus: Any) -> None:
    result = prometheus.query('sum by (reason) (stockcast_rejected_requests{job="torchserve"})')
    assert set(BAD_CSVS) <= {series["metric"]["reason"] for series in result}


def test_every_forecast_is_counted_as_a_prediction(
    traffic: dict[int, int], prometheus: Any
) -> None:
    served = prometheus.query('sum(stockcast_predictions{job="torchserve"})')
    assert finite_values(served)[0] >= traffic[200]
