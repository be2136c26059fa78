"""Closed-loop load against a running TorchServe, and the two reliability runs built on it.

`soak` answers "does the service keep answering under sustained load?": zero failed requests,
tail latency that does not creep up (p95 of the last 10 s against the first 10 s after a
warm-up) and worker memory that does not grow (RSS read with psutil from the PIDs the management
API names). `kill_worker_under_load` answers "does it heal by itself?": one worker is killed with
SIGKILL mid-load, and it reports what failed, how long TorchServe took to replace the worker, and
whether everything sent after that succeeded. `python -m stockcast.bench soak` prints both; the
reliability tests run short versions.

A soak's `max_requests` bounds the measured requests only (the warm-up is bounded by its time),
and when the bound ends the soak before its duration the report says so; a bound that leaves
fewer than three 10 s windows measured is refused in one line naming `--max-requests`.

Loopback only: the target is a `LocalTorchServe`, which binds 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psutil
import requests

from stockcast.errors import StockcastError
from stockcast.stack.torchserve import LocalTorchServe

# the load's client threads are named so: a test's answer checking leaves them alone, as it
# would add its own time to every latency they measure
LOAD_THREAD_PREFIX = "stockcast-load-"
WINDOW_S = 10.0  # the early and late windows whose p95 latencies are compared
MIN_DURATION_S = 3 * WINDOW_S  # a first, a middle and a last window that do not overlap
PROGRESS_EVERY_S = 60.0  # a soak prints one line per this many measured seconds
KILL_SETTLE_S = 15.0  # the worker kill's load before the kill plus after recovery (defaults)


@dataclass(frozen=True)
class Sample:
    """One request: when it was sent (seconds since the load began), how long it took, outcome."""

    sent_s: float
    latency_s: float
    status: int | None  # None: no HTTP answer at all (connection refused or reset, timeout)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


class Load:
    """`concurrency` threads POSTing `body` back to back, each on its own keep-alive session,
    from `with` entry until exit or until `max_requests` have been sent (a hard bound on the run).
    With `count_from_start=False` the bound applies from `start_counting()` on: a warm-up before
    it does not spend it.
    """

    def __init__(
        self,
        url: str,
        body: bytes,
        concurrency: int,
        max_requests: int,
        timeout_s: float = 60.0,
        count_from_start: bool = True,
    ) -> None:
        self.url, self.body, self.timeout_s = url, body, timeout_s
        self.max_requests = max_requests
        self._sent = 0
        self._counting = count_from_start  # False: unbounded until start_counting()
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, name=f"{LOAD_THREAD_PREFIX}{n}")
            for n in range(concurrency)
        ]
        self._started = 0.0

    def __enter__(self) -> Load:
        self._started = time.perf_counter()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def elapsed(self) -> float:
        """Seconds since the load began."""
        return time.perf_counter() - self._started

    @property
    def exhausted(self) -> bool:
        """Every allowed request has been sent."""
        with self._lock:
            return self._counting and self._sent >= self.max_requests

    def start_counting(self) -> None:
        """Count `max_requests` from now: what was sent before (a warm-up) does not spend it."""
        with self._lock:
            self._sent, self._counting = 0, True

    @property
    def samples(self) -> list[Sample]:
        """The answered requests so far, in the order they were sent."""
        with self._lock:
            return sorted(self._samples, key=lambda sample: sample.sent_s)

    def _claim(self) -> bool:
        with self._lock:
            if self._stop.is_set() or (self._counting and self._sent >= self.max_requests):
                return False
            self._sent += self._counting
            return True

    def _client(self) -> None:
        with requests.Session() as session:
            while self._claim():
                sent = self.elapsed()
                try:
                    response = session.post(
                        self.url,
                        data=self.body,
                        headers={"Content-Type": "text/csv"},
                        timeout=self.timeout_s,
                    )
                    status, error = response.status_code, "" if response.ok else response.text[:200]
                except requests.RequestException as exc:
                    status, error = None, type(exc).__name__
                with self._lock:
                    self._samples.append(Sample(sent, self.elapsed() - sent, status, error))


def worker_rss(server: LocalTorchServe) -> dict[int, int]:
    """Resident bytes of each worker process the management API names, by PID."""
    return {pid: psutil.Process(pid).memory_info().rss for pid in server.worker_pids()}


def p95_ms(samples: list[Sample], start_s: float, end_s: float) -> float:
    """95th percentile latency (ms) of the requests sent in [start_s, end_s)."""
    latencies = [s.latency_s for s in samples if start_s <= s.sent_s < end_s]
    if not latencies:
        raise ValueError(f"no requests were sent between {start_s:.1f} s and {end_s:.1f} s")
    return float(np.percentile(latencies, 95)) * 1000


def _wait_until(load: Load, elapsed_s: float) -> None:
    """Sleep until the load has run `elapsed_s` seconds, or has sent all it may."""
    while load.elapsed() < elapsed_s and not load.exhausted:
        time.sleep(0.05)


def _wait_for(load: Load, elapsed_s: float) -> None:
    """Sleep until the load has run `elapsed_s` seconds, whatever it has sent (a warm-up)."""
    while load.elapsed() < elapsed_s:
        time.sleep(0.05)


def early_stop(measured_s: float, duration_s: float, max_requests: int, bound_hit: bool) -> str:
    """What the request bound did to a soak: "" when the soak ran its whole duration; a sentence
    naming --max-requests when the bound ended it early but left enough to judge.

    Raises StockcastError when the bound left fewer than three 10 s windows measured: no p95 of a
    first and a last window can be compared then.
    """
    if not bound_hit:
        return ""
    if measured_s < MIN_DURATION_S:
        raise StockcastError(
            f"--max-requests {max_requests} was reached after {measured_s:.1f} s of the "
            f"{duration_s:g} s measured, under the {MIN_DURATION_S:.0f} s (three "
            f"{WINDOW_S:.0f} s windows) a soak needs: raise --max-requests or lower --duration"
        )
    return (
        f"stopped early: --max-requests {max_requests} was reached after {measured_s:.1f} s of "
        f"the {duration_s:g} s asked"
    )


def soak_seconds(duration_s: float, warmup_s: float, kill_worker: bool) -> float:
    """About how long `python -m stockcast.bench soak` runs with these settings: the warm-up and
    the duration, TorchServe's start, and the worker kill (its load plus a few seconds' recovery)."""
    start_s = 15.0  # a fresh TorchServe loading the archive, on a shared 2-core machine
    kill_s = KILL_SETTLE_S + 10.0 if kill_worker else 0.0
    return start_s + warmup_s + duration_s + kill_s


@dataclass(frozen=True)
class SoakReport:
    """Figures of one soak run; the warm-up's requests count as failures but not as latencies."""

    concurrency: int
    samples: list[Sample]
    measured_from_s: float
    measured_to_s: float
    rss_before: dict[int, int]
    rss_after: dict[int, int]
    stopped_early: str = ""  # a sentence naming --max-requests when the bound ended the soak

    @property
    def failed(self) -> list[Sample]:
        return [sample for sample in self.samples if not sample.ok]

    @property
    def p95_first_ms(self) -> float:
        return p95_ms(self.samples, self.measured_from_s, self.measured_from_s + WINDOW_S)

    @property
    def p95_last_ms(self) -> float:
        return p95_ms(self.samples, self.measured_to_s - WINDOW_S, self.measured_to_s)

    @property
    def p95_late_ms(self) -> float:
        """The lower p95 of the last two 10 s windows: what the criterion compares.

        On a shared 2-core machine a neighbour's burst (or TorchServe's own once-a-minute metrics
        collector, a fresh Python process) can slow one window by half; a leak or a growing queue
        slows every later window, so it still fails when one burst is forgiven.
        """
        end = self.measured_to_s
        return min(self.p95_last_ms, p95_ms(self.samples, end - 2 * WINDOW_S, end - WINDOW_S))

    def p95_timeline_ms(self) -> list[float]:
        """p95 of each consecutive 10 s window of the measured period: drift or passing noise?"""
        starts = np.arange(self.measured_from_s, self.measured_to_s - WINDOW_S + 1e-9, WINDOW_S)
        return [p95_ms(self.samples, start, start + WINDOW_S) for start in starts]

    @property
    def rss_growth(self) -> float:
        """The largest relative RSS growth of any worker over the measured period."""
        return max(self.rss_after[pid] / self.rss_before[pid] - 1 for pid in self.rss_before)

    def problems(self, max_p95_ratio: float = 1.5, max_rss_growth: float = 0.10) -> list[str]:
        """What breaks the soak criteria; empty when the run passed."""
        found = []
        if self.failed:
            found.append(f"{len(self.failed)} failed request(s), first: {self.failed[0]}")
        if set(self.rss_after) != set(self.rss_before):
            found.append(f"workers changed: {sorted(self.rss_before)} -> {sorted(self.rss_after)}")
        elif self.rss_growth >= max_rss_growth:
            found.append(f"worker RSS grew {self.rss_growth:.1%} (limit {max_rss_growth:.0%})")
        if self.p95_late_ms > max_p95_ratio * self.p95_first_ms:
            found.append(
                f"p95 rose from {self.p95_first_ms:.1f} ms to {self.p95_late_ms:.1f} ms in both "
                f"of the last two {WINDOW_S:.0f} s windows (limit {max_p95_ratio}x)"
            )
        return found

    def summary(self) -> str:
        measured = self.measured_to_s - self.measured_from_s
        in_window = [s for s in self.samples if s.sent_s >= self.measured_from_s]
        mb = 1024 * 1024
        rss = ", ".join(
            f"{pid}: {self.rss_before[pid] / mb:.1f} -> {self.rss_after.get(pid, 0) / mb:.1f} MiB"
            for pid in sorted(self.rss_before)
        )
        return "\n".join(
            [
                f"concurrency {self.concurrency}, warm-up {self.measured_from_s:.1f} s, "
                f"measured {measured:.1f} s",
                f"requests {len(self.samples)} ({len(in_window) / measured:.1f}/s measured), "
                f"failed {len(self.failed)}",
                f"p95 first {WINDOW_S:.0f} s {self.p95_first_ms:.1f} ms, last {WINDOW_S:.0f} s "
                f"{self.p95_last_ms:.1f} ms, ratio {self.p95_last_ms / self.p95_first_ms:.2f} "
                f"(better of the last two windows: {self.p95_late_ms / self.p95_first_ms:.2f})",
                f"p95 per {WINDOW_S:.0f} s window (ms): "
                + " ".join(f"{value:.0f}" for value in self.p95_timeline_ms()),
                f"worker RSS {rss}; max growth {self.rss_growth:+.1%}",
                *([self.stopped_early] if self.stopped_early else []),
            ]
        )

    def figures(self) -> dict:
        """The report's figures as plain JSON (what `--json` writes and the docs render)."""
        measured = self.measured_to_s - self.measured_from_s
        in_window = [s for s in self.samples if s.sent_s >= self.measured_from_s]
        return {
            "concurrency": self.concurrency,
            "warmup_s": round(self.measured_from_s, 2),
            "measured_s": round(measured, 2),
            "requests": len(self.samples),
            "requests_measured": len(in_window),
            "requests_per_s": len(in_window) / measured,
            "failed": len(self.failed),
            "p95_first_ms": self.p95_first_ms,
            "p95_last_ms": self.p95_last_ms,
            "p95_late_ms": self.p95_late_ms,
            "p95_timeline_ms": self.p95_timeline_ms(),
            "rss_before_mib": {str(pid): rss / 2**20 for pid, rss in self.rss_before.items()},
            "rss_after_mib": {str(pid): rss / 2**20 for pid, rss in self.rss_after.items()},
            "rss_growth": self.rss_growth if set(self.rss_after) == set(self.rss_before) else None,
            "stopped_early": self.stopped_early,
            "problems": self.problems(),
        }


def soak(
    server: LocalTorchServe,
    body: bytes,
    duration_s: float,
    concurrency: int = 16,
    warmup_s: float = 5.0,
    max_requests: int = 1_000_000,
    progress: Callable[[str], None] | None = None,
) -> SoakReport:
    """Load `server` for `warmup_s` + `duration_s` seconds, or until `max_requests` measured
    requests (the warm-up's do not count); `progress` gets a line when the warm-up ends and
    every `PROGRESS_EVERY_S` measured seconds."""
    if duration_s < MIN_DURATION_S:
        raise ValueError(
            f"duration must be at least {MIN_DURATION_S:.0f} s: three separate {WINDOW_S:.0f} s windows"
        )
    say = progress or (lambda line: None)
    url = server.prediction_url
    with Load(url, body, concurrency, max_requests, count_from_start=False) as load:
        _wait_for(load, warmup_s)
        load.start_counting()
        rss_before, measured_from = worker_rss(server), load.elapsed()
        say(f"warm-up done after {measured_from:.1f} s ({len(load.samples)} requests)")
        end = measured_from + duration_s
        checkpoint = measured_from
        while checkpoint < end and not load.exhausted:
            checkpoint = min(checkpoint + PROGRESS_EVERY_S, end)
            _wait_until(load, checkpoint)
            samples = load.samples
            say(
                f"measured {load.elapsed() - measured_from:.0f}/{duration_s:g} s: "
                f"{len(samples)} requests, {sum(not s.ok for s in samples)} failed"
            )
        bound_hit = load.exhausted and load.elapsed() < end
        rss_after, measured_to = worker_rss(server), load.elapsed()
    note = early_stop(measured_to - measured_from, duration_s, max_requests, bound_hit)
    return SoakReport(
        concurrency, load.samples, measured_from, measured_to, rss_before, rss_after, note
    )


@dataclass(frozen=True)
class KillReport:
    """One worker SIGKILLed under load: what failed, and when TorchServe had replaced it."""

    victim: int
    replacement: int
    killed_at_s: float
    recovered_at_s: float  # every worker READY again and the victim gone from the list
    samples: list[Sample]

    @property
    def recovery_s(self) -> float:
        return self.recovered_at_s - self.killed_at_s

    @property
    def failed(self) -> list[Sample]:
        return [sample for sample in self.samples if not sample.ok]

    @property
    def failed_after_recovery(self) -> list[Sample]:
        return [sample for sample in self.failed if sample.sent_s >= self.recovered_at_s]

    def summary(self) -> str:
        statuses = sorted({str(sample.status or sample.error) for sample in self.failed})
        after = [s for s in self.samples if s.sent_s >= self.recovered_at_s]
        return "\n".join(
            [
                f"killed worker {self.victim} at {self.killed_at_s:.1f} s; replaced by "
                f"{self.replacement}, all workers READY {self.recovery_s:.2f} s later",
                f"requests {len(self.samples)}, failed {len(self.failed)} "
                f"({', '.join(statuses) or 'none'})",
                f"after recovery: {len(after)} sent, {len(self.failed_after_recovery)} failed",
            ]
        )

    def figures(self) -> dict:
        """The report's figures as plain JSON (what `--json` writes and the docs render)."""
        failed_with = sorted({str(sample.status or sample.error) for sample in self.failed})
        return {
            "victim": self.victim,
            "replacement": self.replacement,
            "killed_at_s": round(self.killed_at_s, 2),
            "recovery_s": self.recovery_s,
            "requests": len(self.samples),
            "failed": len(self.failed),
            "failed_with": failed_with,
            "sent_after_recovery": sum(s.sent_s >= self.recovered_at_s for s in self.samples),
            "failed_after_recovery": len(self.failed_after_recovery),
        }


def kill_worker_under_load(
    server: LocalTorchServe,
    body: bytes,
    concurrency: int = 8,
    before_s: float = 5.0,
    after_s: float = 10.0,
    max_requests: int = 100_000,
    recovery_timeout_s: float = 120.0,
) -> KillReport:
    """SIGKILL the first worker `before_s` into the load; keep loading `after_s` past recovery."""
    with Load(server.prediction_url, body, concurrency, max_requests) as load:
        _wait_until(load, before_s)
        before = server.worker_pids()
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        killed_at = load.elapsed()
        deadline = time.monotonic() + recovery_timeout_s
        while True:
            ready = [w for w in server.describe()["workers"] if w["status"] == "READY"]
            pids = {int(worker["pid"]) for worker in ready}
            if len(pids) == len(before) and victim not in pids:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {victim} not replaced after {recovery_timeout_s} s")
            time.sleep(0.05)
        recovered_at = load.elapsed()
        _wait_until(load, recovered_at + after_s)
    [replacement] = pids - set(before)
    return KillReport(victim, replacement, killed_at, recovered_at, load.samples)
