"""The handler's Prometheus metrics, written as TorchServe's custom metric lines.

Every name here is declared under `model_metrics` in torchserve/metrics.yaml: in prometheus mode
TorchServe's frontend drops metrics it was not told about, so `HandlerMetrics` looks each one up
at start-up and a missing declaration fails the worker loudly instead of going dark silently.
Dimension values are passed in the declared order and every metric ends with `ModelName` and
`version` (the archive's version), so two versions served side by side are told apart;
TorchServe adds `Hostname` itself. Durations are seconds, because the exported histograms use
the Prometheus client's default buckets (5 ms .. 10 s); percentiles are fractions in [0, 1] on
the same buckets (0.005 .. 0.1 resolve the lower tail, 0.25 / 0.5 / 0.75 / 1 the rest).
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import psutil
from ts.metrics.caching_metric import logger as TORCHSERVE_METRICS_LOG
from ts.metrics.metric_type_enum import MetricTypes

from stockcast.serving.service import Outcome

logger = logging.getLogger(__name__)

INFERENCE_DURATION = "stockcast_inference_duration_seconds"
PREDICTIONS = "stockcast_predictions"
REJECTED = "stockcast_rejected_requests"
BACKTEST_ERROR = "stockcast_backtest_abs_error"
BACKTEST_ERROR_HIST = "stockcast_backtest_abs_error_hist"
WORKER_CPU = "stockcast_worker_cpu_seconds"
WORKER_RSS = "stockcast_worker_resident_memory_bytes"
WORKER_GC = "stockcast_worker_gc_collections"
# live calibration: each forecast's backtest says whether the last close fell inside the band
# the model gave for it; covered / scored over a window is the live coverage of that band
BACKTEST_SCORED = "stockcast_backtest_scored"
BACKTEST_COVERED = "stockcast_backtest_covered"
BAND_LEVEL = "stockcast_band_nominal_coverage"
# input drift (stockcast/model/drift.py): where each upload sits in the training distribution
VOLATILITY_PERCENTILE = "stockcast_input_volatility_percentile"
RETURN_PERCENTILE = "stockcast_input_return_percentile"

DECLARED: dict[str, MetricTypes] = {
    INFERENCE_DURATION: MetricTypes.HISTOGRAM,
    PREDICTIONS: MetricTypes.COUNTER,
    REJECTED: MetricTypes.COUNTER,
    BACKTEST_ERROR: MetricTypes.GAUGE,
    BACKTEST_ERROR_HIST: MetricTypes.HISTOGRAM,
    WORKER_CPU: MetricTypes.GAUGE,
    WORKER_RSS: MetricTypes.GAUGE,
    WORKER_GC: MetricTypes.GAUGE,
    BACKTEST_SCORED: MetricTypes.COUNTER,
    BACKTEST_COVERED: MetricTypes.COUNTER,
    BAND_LEVEL: MetricTypes.GAUGE,
    VOLATILITY_PERCENTILE: MetricTypes.HISTOGRAM,
    RETURN_PERCENTILE: MetricTypes.HISTOGRAM,
}
# Each emission is a log line the worker writes and the Java frontend parses (py-spy:
# ~8% of a worker's time and about half the frontend's CPU per request went to metric lines).
# Gauges that change slowly, or that Prometheus only samples (the worker's health, the band's
# nominal level, the latest backtest error) are emitted at most this often per worker, which is
# still several samples per scrape interval; counters and histogram observations, which must
# see every forecast, are emitted per batch.
GAUGE_INTERVAL_S = 1.0
# Recorded lines are written by a background thread this often, not by the request: each write
# wakes TorchServe's frontend, whose reader thread then takes a core to parse the lines while
# the answer is still being sent (docs/decisions/2026-12-06-metrics-background-writer.md).
# One write per 0.1 s also carries a whole stream of batches under load. Prometheus
# scrapes every few seconds, so the delay is invisible; a worker killed outright loses at most
# this much of its metrics.
FLUSH_INTERVAL_S = 0.1


class MetricLine:
    """The stdout line TorchServe's `CachingMetric.add_or_update` writes for one value of a
    metric, with everything but the value and the second prepared once.

    Why not call `add_or_update`: per value it builds a `Dimension` object per label, asks the
    kernel for the host name and makes a logging record of its own, about 12 us, and a forecast
    records seven values. The text is TorchServe's protocol with its frontend, which
    parses it back; tests/serving/test_metrics_declaration.py pins these lines to the ones
    `add_or_update` writes.
    """

    def __init__(self, metric: Any, dimension_values: Sequence[str], hostname: str) -> None:
        if len(dimension_values) != len(metric.dimension_names):
            raise ValueError(
                f"{metric.metric_name}: dimension values {list(dimension_values)} do not match "
                f"the declared dimensions {metric.dimension_names}"
            )
        dimensions = ",".join(
            f"{name}:{value}"
            for name, value in zip(metric.dimension_names, dimension_values, strict=True)
        )
        self._head = f"[METRICS]{metric.metric_name}.{metric.unit}:"
        self._tail = f"|#{dimensions}|#type:{metric.metric_type.name}|#hostname:{hostname},"
        self._counter = metric.metric_type == MetricTypes.COUNTER

    def format(self, value: float, second: int) -> str:
        """The line for `value` at Unix time `second`; a counter refuses a negative value."""
        if self._counter and value < 0:
            raise ValueError(f"{self._head} a counter cannot decrease (got {value})")
        return f"{self._head}{value}{self._tail}{second}"


class HandlerMetrics:
    """Records one handled batch, and the worker's own health, as TorchServe metric lines.

    Lines wait until `flush` writes them all in one logging record (one write to the worker's
    stdout, which TorchServe's frontend reads line by line), through the logger TorchServe's own
    metrics use; `start_flushing` calls it from a background thread.
    """

    def __init__(self, cache: Any, model_name: str, version: str, band_level: float) -> None:
        self._declared = {name: cache.get_metric(name, kind) for name, kind in DECLARED.items()}
        self._model = [model_name, version]
        self._hostname = socket.gethostname()
        self._lines: dict[tuple[str, ...], MetricLine] = {}
        self._band_level = band_level
        self._pid = str(os.getpid())
        self._process = psutil.Process()
        self._last_health = float("-inf")
        self._last_error = float("-inf")
        self._pending: list[str] = []
        self._pending_lock = threading.Lock()  # the flushing thread takes the list

    def start_flushing(self, interval_s: float = FLUSH_INTERVAL_S) -> threading.Thread:
        """Flush every `interval_s` from a daemon thread, for the worker's lifetime."""

        def flush_forever() -> None:
            while True:
                time.sleep(interval_s)
                self.flush()

        thread = threading.Thread(target=flush_forever, name="stockcast-metrics", daemon=True)
        thread.start()
        return thread

    def flush(self) -> None:
        """Write the lines recorded since the last flush, in one record."""
        with self._pending_lock:
            lines, self._pending = self._pending, []
        if lines:
            TORCHSERVE_METRICS_LOG.info("\n".join(lines))

    def record_batch(self, outcomes: Sequence[Outcome], seconds: float) -> None:
        """One batch: its handler time, its forecasts (their backtest error, whether the band
        held, how unusual the upload is), its rejections by reason.

        A multi-ticker request counts per ticker: each forecast it holds is a prediction and each
        ticker it refused a rejection with that ticker's reason, as if the tickers had come as
        single uploads; a refused request as a whole is one rejection, as a single upload is.
        """
        self._add(INFERENCE_DURATION, seconds)
        answers = [answer for outcome in outcomes for answer in outcome.answers()]
        forecasts = [answer.forecast for answer in answers if answer.forecast is not None]
        if forecasts:
            self._add(PREDICTIONS, len(forecasts))
            for forecast in forecasts:
                self._add(BACKTEST_ERROR_HIST, forecast["backtest"]["abs_error"])
                drift = forecast.get("drift")
                if drift:
                    self._add(VOLATILITY_PERCENTILE, drift["volatility_percentile"])
                    self._add(RETURN_PERCENTILE, drift["return_percentile"])
            self._add(BACKTEST_SCORED, len(forecasts))
            # added even when 0, so the ratio exists from the first forecast on
            self._add(BACKTEST_COVERED, sum(f["backtest"]["covered"] for f in forecasts))
            now = time.monotonic()
            if now - self._last_error >= GAUGE_INTERVAL_S:
                self._last_error = now
                self._add(BACKTEST_ERROR, forecasts[-1]["backtest"]["abs_error"])
        for answer in answers:
            if answer.rejection is not None:
                self._add(REJECTED, 1, answer.rejection.reason)
        self.record_worker_health()

    def record_worker_health(self, force: bool = False) -> None:
        """CPU seconds, resident memory and GC collections of this worker process, and the
        band's nominal coverage (a constant of the archive, there from the worker's start)."""
        now = time.monotonic()
        if force or now - self._last_health >= GAUGE_INTERVAL_S:
            self._last_health = now
            self._add(BAND_LEVEL, self._band_level)
            cpu = self._process.cpu_times()
            self._add(WORKER_CPU, cpu.user + cpu.system, self._pid)
            self._add(WORKER_RSS, self._process.memory_info().rss, self._pid)
            self._add(WORKER_GC, sum(stats["collections"] for stats in gc.get_stats()), self._pid)

    def _add(self, name: str, value: float, *extra_dimensions: str) -> None:
        key = (name, *extra_dimensions)
        line = self._lines.get(key)
        if line is None:
            dimensions = [*extra_dimensions, *self._model]
            line = self._lines[key] = MetricLine(self._declared[name], dimensions, self._hostname)
        try:
            formatted = line.format(value, int(time.time()))
        except ValueError as error:  # a bug, never the client's: the answer still goes out
            logger.error("metric %s not recorded: %s", name, error)
            return
        with self._pending_lock:
            self._pending.append(formatted)
