"""The serving image under a real Prometheus: every dashboard query returns data.

The image runs as the compose stack runs it (token authorization on, the model trained into it);
a Prometheus with the repository's rules scrapes its metrics port every second while good and
refused uploads go through the inference API with the key. Each panel's PromQL is then evaluated
as Grafana would send it, as tests/monitoring/test_live_monitoring.py does for a host TorchServe.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
GOOD_CSV = (ROOT / "data" / "GOOG.csv").read_bytes()
BAD_CSVS = (b"Date,Open\n2020-01-02,1.0\n", b"", b"\x89PNG\r\n\x1a\n\x00")
RATE_WINDOW = "1m"  # stands in for Grafana's $__rate_interval; the whole test fits inside it
TRAFFIC_SECONDS = 6.0


@pytest.fixture(scope="module")
def traffic(image_container: Any, image_prometheus: Any) -> dict[int, int]:
    """Good and refused uploads with the inference key while Prometheus watches, then two scrapes."""
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + TRAFFIC_SECONDS
    while time.monotonic() < deadline:
        for body in (GOOD_CSV, *BAD_CSVS):
            status = image_container.forecast(body).status_code
            statuses[status] = statuses.get(status, 0) + 1
    time.sleep(2.5)
    return statuses


def test_the_container_answered_and_refused(traffic: dict[int, int]) -> None:
    assert traffic.get(200, 0) > 0
    assert sum(count for status, count in traffic.items() if 400 <= status < 500) > 0


def test_every_dashboard_query_returns_data_from_the_container(
    traffic: dict[int, int], image_prometheus: Any, panel_queries: list
) -> None:
    empty = [
        str(query)
        for query in panel_queries
        if not [
            value
            for series in image_prometheus.query(query.promql(RATE_WINDOW))
            if math.isfinite(value := float(series["value"][1]))
        ]
    ]
    assert not empty, "panels with no data:\n" + "\n".join(empty)
