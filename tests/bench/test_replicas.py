"""The replica benchmark's pieces that need no server: the balancer's HAProxy config is one
HAProxy accepts, and the measurement docs/scaling.md shows holds what its tables need
(tests/bench/test_results.py checks the block is what the JSON renders)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stockcast.bench import replicas
from stockcast.stack.torchserve import Ports

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results" / "replicas.json"


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy: make system-deps")
def test_haproxy_accepts_the_balancer_config(tmp_path):
    servers = [replicas.Replica(f"r{i}", Ports.free(), str(i)) for i in range(2)]
    config = tmp_path / "haproxy.cfg"
    config.write_text(replicas.balancer_config(8000, servers, tmp_path / "haproxy.sock"))

    check = subprocess.run(
        ["haproxy", "-c", "-f", str(config)],
        env={**os.environ, "BENCH_KEY": "k"},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert check.returncode == 0, check.stdout + check.stderr
    assert "server r0 127.0.0.1:" in config.read_text()


def test_the_measurement_the_docs_show_has_both_replica_counts_and_both_restarts():
    record = json.loads(RESULTS.read_text())
    assert {level["replicas"] for level in record["levels"]} == {1, 2}
    assert [restart["how"] for restart in record["restarts"]] == [
        "health checks alone",
        "drained first",
    ]
    assert "| rolling restart" in replicas.table(record)
