"""A soak's request bound: it counts measured requests only, and when it ends the soak early the
soak says so by the option's name, or refuses in one line when too little was measured to judge."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stockcast.bench.soak import MIN_DURATION_S, Load, early_stop, soak_seconds
from stockcast.errors import StockcastError


def test_a_soak_that_ran_its_whole_duration_has_nothing_to_say():
    assert early_stop(60.0, 60.0, 5000, bound_hit=False) == ""


def test_a_bound_reached_after_enough_windows_is_named_in_the_report():
    note = early_stop(41.5, 60.0, 5000, bound_hit=True)
    assert "--max-requests 5000" in note and "41.5 s of the 60 s" in note


def test_a_bound_that_leaves_too_little_measured_is_refused_naming_the_option():
    with pytest.raises(StockcastError, match=r"--max-requests 5000 was reached after 12\.0 s"):
        early_stop(12.0, 60.0, 5000, bound_hit=True)
    with pytest.raises(StockcastError) as error:
        early_stop(MIN_DURATION_S - 0.1, 60.0, 10, bound_hit=True)
    assert "\n" not in str(error.value) and "raise --max-requests" in str(error.value)


def test_the_time_a_soak_takes_grows_with_its_settings():
    assert soak_seconds(300, 5, kill_worker=True) > soak_seconds(300, 5, kill_worker=False)
    assert soak_seconds(300, 5, kill_worker=False) >= 305
    assert soak_seconds(60, 5, False) < soak_seconds(300, 5, False)


class Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def wait_for(condition, timeout_s: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the load did not get there in time"
        time.sleep(0.01)


def test_requests_sent_before_counting_starts_do_not_spend_the_bound(local_url):
    """A warm-up that sends more than the bound leaves all of it for the measured period."""
    with Load(local_url, b"x", concurrency=2, max_requests=20, count_from_start=False) as load:
        wait_for(lambda: len(load.samples) > 50)
        assert not load.exhausted
        load.start_counting()
        before = len(load.samples)
        wait_for(lambda: load.exhausted)
    # the 20 counted, give or take the 2 requests in flight when counting started
    assert 20 <= len(load.samples) - before <= 22


def test_a_load_counted_from_the_start_stops_at_its_bound(local_url):
    with Load(local_url, b"x", concurrency=3, max_requests=30) as load:
        wait_for(lambda: load.exhausted)
    assert len(load.samples) == 30
