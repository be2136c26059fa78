"""What a Prometheus scrape of the live TorchServe shows: the handler's metrics and TorchServe's."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "GOOG.csv"
SAMPLE_LINE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for line in requests.get(url, timeout=10).text.splitlines():
        match = SAMPLE_LINE.match(line)
        if match:
            labels = dict(LABEL.findall(match["labels"] or ""))
            samples.append((match["name"], labels, float(match["value"])))
    return samples


def values(samples, name: str, **labels: str) -> list[float]:
    return [
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and labels.items() <= sample_labels.items()
    ]


@pytest.fixture(scope="module")
def scraped(torchserve):
    """Metrics after one forecast and one empty upload, once the frontend has parsed both.

    The two may reach different workers, each writing its lines within 0.1 s on its own clock,
    so the scrape waits for the lines of both."""
    url = torchserve.prediction_url
    assert requests.put(url, data=SAMPLE.read_bytes(), timeout=30).status_code == 200
    assert requests.put(url, data=b"", timeout=30).status_code == 400
    deadline = time.monotonic() + 20
    while True:
        samples = scrape(torchserve.metrics_url)
        both = values(samples, "stockcast_rejected_requests", reason="empty_body") and values(
            samples, "stockcast_backtest_abs_error_hist_count"
        )
        if both or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


def test_forecasts_rejections_and_handler_time_are_counted(scraped, torchserve):
    name = torchserve.model_name
    assert sum(values(scraped, "stockcast_predictions", ModelName=name)) >= 1
    assert sum(values(scraped, "stockcast_rejected_requests", reason="empty_body")) >= 1
    assert sum(values(scraped, "stockcast_inference_duration_seconds_count")) >= 2
    # seconds on the Prometheus client's default buckets
    assert values(scraped, "stockcast_inference_duration_seconds_bucket", le="0.005")
    assert values(scraped, "stockcast_inference_duration_seconds_bucket", le="10.0")


def test_backtest_error_is_a_gauge_and_a_histogram(scraped, torchserve):
    [gauge] = values(scraped, "stockcast_backtest_abs_error", ModelName=torchserve.model_name)
    assert gauge >= 0
    assert sum(values(scraped, "stockcast_backtest_abs_error_hist_count")) >= 1


def test_every_worker_reports_its_own_health(scraped, torchserve):
    for name in (
        "stockcast_worker_cpu_seconds",
        "stockcast_worker_resident_memory_bytes",
        "stockcast_worker_gc_collections",
    ):
        reported = {labels["WorkerPid"] for n, labels, _ in scraped if n == name}
        assert reported == {str(pid) for pid in torchserve.worker_pids()}, name
    memory = values(scraped, "stockcast_worker_resident_memory_bytes")
    assert all(50e6 < value < 4e9 for value in memory)


def test_torchserve_frontend_metrics_are_exported(scraped, torchserve):
    for name in (
        "ts_inference_requests_total",
        "ts_inference_latency_microseconds",
        "ts_queue_latency_microseconds",
        "Requests2XX",
        "Requests4XX",
    ):
        assert values(scraped, name), name
    assert values(scraped, "ts_inference_requests_total", model_name=torchserve.model_name)


def test_every_stockcast_metric_names_the_version_that_answered(scraped, torchserve):
    version = torchserve.describe()["modelVersion"]
    ours = [labels for name, labels, _ in scraped if name.startswith("stockcast_")]
    assert ours and all(labels.get("version") == version for labels in ours)


def test_each_forecast_checks_its_band_and_places_its_upload_in_the_training_data(
    scraped, torchserve
):
    version = torchserve.describe()["modelVersion"]
    scored = sum(values(scraped, "stockcast_backtest_scored", version=version))
    covered = sum(values(scraped, "stockcast_backtest_covered", version=version))
    assert scored >= 1 and 0 <= covered <= scored
    assert values(scraped, "stockcast_band_nominal_coverage", version=version) == [0.8]
    for name in ("stockcast_input_volatility_percentile", "stockcast_input_return_percentile"):
        assert sum(values(scraped, f"{name}_count", version=version)) >= 1, name
        assert 0 <= sum(values(scraped, f"{name}_sum", version=version)) <= scored, name
