"""Size limits on the live endpoint: bytes over `max_request_size` never reach a worker, a
million-row CSV under it is refused by the handler's row cap, and the largest CSV the cap admits
is served inside a bounded amount of worker memory."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest
import requests

from stockcast.app.layout import ProjectLayout
from stockcast.serving.upload_limits import MAX_ROWS
from stockcast.stack.torchserve import LocalTorchServe, read_properties

pytestmark = [pytest.mark.slow, pytest.mark.integration]

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[2])
MAX_REQUEST_SIZE = int(read_properties(LAYOUT.serving_config)["max_request_size"])
MiB = 1024 * 1024
FIRST_DAY = date(1980, 1, 1)


def post(url: str, body: bytes) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": "text/csv"}, timeout=120)


def largest_accepted_csv() -> bytes:
    """MAX_ROWS distinct days of prices at the full float precision yfinance writes."""
    lines = [b"Date,Open,High,Low,Close,Volume"]
    for i in range(MAX_ROWS):
        close = 100 + (i % 97) * 0.1234567890123
        day = (FIRST_DAY + timedelta(days=i)).isoformat()
        lines.append(
            f"{day},{close:.14f},{close * 1.01:.14f},{close * 0.99:.14f},{close:.14f},"
            f"{1_000_000 + i}".encode()
        )
    return b"\n".join(lines) + b"\n"


def test_a_body_over_max_request_size_gets_torchserves_bare_413(torchserve: LocalTorchServe):
    workers = torchserve.worker_pids()
    response = post(torchserve.prediction_url, b"1\n" * (MAX_REQUEST_SIZE // 2 + 1))
    assert response.status_code == 413
    assert response.content == b""  # TorchServe's frontend answers before any handler: no body
    assert torchserve.worker_pids() == workers


def test_a_million_rows_under_the_byte_limit_get_a_json_413_naming_the_row_cap(
    torchserve: LocalTorchServe,
):
    body = b"Date,Open,High,Low,Close,Volume\n" + b"1\n" * 1_000_000
    assert len(body) <= MAX_REQUEST_SIZE
    response = post(torchserve.prediction_url, body)
    assert response.status_code == 413
    assert response.json()["error"] == "CSV too large"
    assert f"at most {MAX_ROWS:,} data rows" in response.json()["detail"]


def test_sixteen_largest_accepted_csvs_at_once_are_served_in_bounded_memory(
    torchserve: LocalTorchServe,
):
    """Two full batches of the largest admitted body: each worker's RSS is sampled every 10 ms."""
    body = largest_accepted_csv()
    assert len(body) <= MAX_REQUEST_SIZE
    workers = [psutil.Process(pid) for pid in torchserve.worker_pids()]
    baseline = {w.pid: w.memory_info().rss for w in workers}
    peak = dict(baseline)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for worker in workers:
                peak[worker.pid] = max(peak[worker.pid], worker.memory_info().rss)
            done.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda _: post(torchserve.prediction_url, body), range(16)))
    finally:
        done.set()
        sampler.join()
    assert [r.status_code for r in responses] == [200] * 16, responses[0].text
    growth = {pid: (peak[pid] - baseline[pid]) / MiB for pid in baseline}
    print(
        f"{len(body) / MiB:.2f} MiB body x 16: worker RSS "
        + ", ".join(f"{baseline[p] / MiB:.0f} -> peak {peak[p] / MiB:.0f} MiB" for p in baseline)
    )
    assert max(growth.values()) < 128, growth  # measured: ~40 MiB
    assert torchserve.worker_pids() == list(baseline)
