"""A worker killed with SIGKILL under load is replaced by TorchServe itself; only the requests it
held fail, and every request sent once the replacement is ready succeeds.

That the monitoring stack sees the restart (the StockcastWorkerRestarted alert firing in a real
Prometheus) is proven by tests/monitoring/test_container_config.py; this test measures the
client's side of the same event.
"""

from __future__ import annotations

import json

import pytest

from stockcast.bench.soak import kill_worker_under_load
from stockcast.stack.torchserve import LocalTorchServe

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_a_worker_killed_under_load_is_replaced_and_then_nothing_fails(
    dedicated_torchserve: LocalTorchServe, load_csv: bytes
) -> None:
    report = kill_worker_under_load(
        dedicated_torchserve, load_csv, concurrency=8, before_s=3, after_s=8
    )
    print(report.summary())
    assert report.recovery_s < 60
    assert report.replacement in dedicated_torchserve.worker_pids()
    assert report.failed_after_recovery == []
    killed = report.killed_at_s
    for sample in report.failed:
        # only what the dead worker held fails: requests in flight when it died (TorchServe sees
        # the dropped connection within moments and sends new batches to the live worker) ...
        assert sample.sent_s <= killed + 0.5 and sample.sent_s + sample.latency_s >= killed, sample
        # ... and they get TorchServe's own JSON error, never a hang or a reset connection
        assert sample.status in (500, 507), sample
        assert json.loads(sample.error)["message"] == "Worker died.", sample
    assert len([s for s in report.samples if s.sent_s >= report.recovered_at_s]) > 8
