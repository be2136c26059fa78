"""The serving benchmark: rounds averaged, errors summed, stockcast over the floors, and the
checks floor served by a real TorchServe as stockcast's handler without the forecast."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from stockcast.app.layout import ProjectLayout
from stockcast.bench.serving import (
    CHECKS_MODEL,
    CONCURRENCY,
    checks_archive,
    compare,
    markdown,
    model_text,
    ratios_to,
    served_model,
    summarize,
)
from stockcast.model.forecaster import Forecaster
from stockcast.release.packaging import MANIFEST
from stockcast.serving.service import parse_request
from stockcast.stack.torchserve import LocalTorchServe, Ports

LAYOUT = ProjectLayout.find()


def level(concurrency: int, rps: float, p50: float, cpu: float, errors: int = 0) -> dict:
    return {
        "concurrency": concurrency,
        "requests": int(rps * 10),
        "requests_per_s": rps,
        "p50_ms": p50,
        "p95_ms": 2 * p50,
        "p99_ms": 3 * p50,
        "non_2xx": errors,
        "socket_errors": 0,
        "server_cpu_ms_per_request": cpu,
    }


def one_round(scale: float, errors: int = 0) -> list[dict]:
    return [level(c, 1000 * scale * c**0.5, 2 / scale, 0.3 / scale, errors) for c in CONCURRENCY]


def test_a_server_is_summarised_by_the_median_of_its_rounds_and_the_sum_of_its_errors():
    """A round a neighbour disturbed (here one at a tenth of the speed) does not move it."""
    summary = summarize([one_round(1.0), one_round(0.1), one_round(0.5, errors=3)])
    assert summary["p50_ms_c1"] == 4
    assert summary["requests_per_s_c8"] == pytest.approx(500 * 8**0.5)
    assert summary["server_cpu_ms_per_request_c8"] == pytest.approx(0.6)
    assert summary["errors"] == 3 * len(CONCURRENCY)


def test_stockcast_is_divided_by_the_floor_and_judged_against_the_latency_targets():
    floor = summarize([one_round(1.0)])
    ratios, met = compare(summarize([one_round(0.5)]), floor)
    assert ratios["p50_c1"] == pytest.approx(2.0)
    assert ratios["requests_per_s_c8"] == pytest.approx(0.5)
    assert met == {
        "p50_c1_at_most_1.5x": False,
        "requests_per_s_c8_at_least_0.35x": True,
        "zero_errors": True,
    }
    assert not compare(summarize([one_round(1.0, errors=1)]), floor)[1]["zero_errors"]


def test_the_report_prints_the_three_servers_the_ratios_and_what_the_checks_leave():
    empty, checks, ours = (summarize([one_round(scale)]) for scale in (1.0, 0.5, 0.25))
    ratios, _ = compare(ours, empty)
    report = {
        "csv_rows": 250,
        "model": {"trained_on": "GOOG", "shrink": 0.0, "network_windows_per_request": 2},
        "workers": 2,
        "batch_size": 8,
        "max_batch_delay_ms": 1,
        "duration_s": 10,
        "rounds": 1,
        "cpus": 2,
        "load_average_1m_before": 1.0,
        "load_average_1m_after": 1.5,
        "in_process_p50_ms": 1.0,
        "in_process_p95_ms": 1.2,
        "in_process_cold_p50_ms": 2.5,
        "in_process_cold_stages_p50_ms": {"read_and_check": 0.8, "forecast": 1.2, "network": 0.6},
        "servers": {"empty": empty, "checks": checks, "stockcast": ours},
        "ratios": ratios,
        "checks_ratios": ratios_to(checks, empty),
        "rounds_detail": {
            "empty": [one_round(1.0)],
            "checks": [one_round(0.5)],
            "stockcast": [one_round(0.25)],
        },
    }
    text = markdown(report)
    assert "| empty handler | 2.00 |" in text and "| stockcast | 8.00 |" in text
    assert "| read + checks only | 4.00 |" in text
    assert "| stockcast / empty | **4.00x** (target <= 1.5x) | **0.25x** (target >= 0.35x)" in text
    assert "| read + checks / empty | 2.00x | 0.50x |" in text
    assert (
        "The targets: p50 at c=1 at most 3.00 ms, and 990 requests/s at c=8. Read + checks "
        "alone: 4.00 ms and 1,414 requests/s, which leaves -1.00 ms of the p50 for the forecast, "
        "its JSON and metrics; they take 4.00 ms (stockcast minus read + checks), and 0.60 ms of "
        "server CPU per request at c=8." in text
    )
    assert "| 1 | checks | 8 | 1,414 |" in text
    assert "1-min load average 1.0 before, 1.5 after" in text
    assert "shrink 0.0: the network forecasts 2 windows per request" in text
    assert (
        "p50 1.00 ms, p95 1.20 ms; with the caches emptied before each request: p50 2.50 ms" in text
    )
    assert "(read and check 0.80, forecast 1.20, network 0.60 ms, each alone)" in text


def test_the_report_says_how_much_network_work_a_request_of_the_model_costs(tiny_run):
    """A model that calibrates each upload's band on its recent days (self_rows > 0) runs the
    network on those days' windows too; without that it runs the latest windows only."""
    tiny = Forecaster.load(tiny_run / "artifact")
    layout = ProjectLayout.find()
    bars = parse_request(tiny, {"body": layout.sample_upload()}, "text/csv").bars

    def with_self_rows(self_rows: int) -> Forecaster:
        calibration = replace(tiny.calibration, self_rows=self_rows)
        return Forecaster(tiny.net, tiny.scaler, calibration, tiny.window)

    latest_only = served_model(with_self_rows(0), bars)
    assert latest_only["self_rows"] == 0
    assert latest_only["network_windows_per_request"] == max(2, tiny.horizon)
    self_calibrated = served_model(with_self_rows(40), bars)
    # the 40 scored days' windows, and H more whose targets the backtest's band needs
    assert self_calibrated["network_windows_per_request"] == 40 + 2 * tiny.horizon
    assert "self-calibrated on up to 40 days: the network forecasts" in model_text(self_calibrated)
    assert "no self-calibration: the network forecasts" in model_text(latest_only)


@pytest.mark.integration
@pytest.mark.slow
def test_the_checks_floor_serves_the_archive_with_stockcasts_reads_and_checks_only(
    packaged_mar: Path, torchserve: LocalTorchServe, tmp_path: Path
):
    """The second floor runs the benchmarked archive's own code: a valid upload gets `{"ok":
    true}` and no forecast, a bad one the very refusal stockcast's server gives."""
    store = tmp_path / "store"
    mar = checks_archive(LAYOUT, packaged_mar, store, tmp_path)
    with zipfile.ZipFile(mar) as checks, zipfile.ZipFile(packaged_mar) as served:
        manifest = json.loads(checks.read(MANIFEST))["model"]
        assert manifest["handler"] == "checks_handler.py"
        assert (
            manifest["modelVersion"] == json.loads(served.read(MANIFEST))["model"]["modelVersion"]
        )
        shared = set(served.namelist()) - {MANIFEST}
        assert shared <= set(checks.namelist())
        assert all(checks.read(name) == served.read(name) for name in shared)

    server = LocalTorchServe.start(
        LAYOUT, store, tmp_path / "state", ports=Ports.free(), model_name=CHECKS_MODEL
    )
    try:
        valid = LAYOUT.sample_upload()
        too_short = LAYOUT.sample_upload(10)  # fewer rows than one window needs
        headers = {"Content-Type": "text/csv"}
        checked = requests.post(server.prediction_url, data=valid, headers=headers, timeout=30)
        assert (checked.status_code, checked.json()) == (200, {"ok": True})
        for body in (too_short, b"", b"Date,Open\n2013-01-02,1\n"):
            floor = requests.post(server.prediction_url, data=body, headers=headers, timeout=30)
            ours = requests.post(torchserve.prediction_url, data=body, headers=headers, timeout=30)
            assert floor.status_code == ours.status_code >= 400
            assert floor.json() == ours.json()
    finally:
        server.stop()
