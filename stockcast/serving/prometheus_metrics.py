"""The handler's Prometheus metrics, emitted through TorchServe's custom metrics API.

Every name here is declared under `model_metrics` in serving/metrics.yaml: in prometheus mode
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
import os
import time
from collections.abc import Sequence
from typing import Any

import psutil
from ts.metrics.metric_type_enum import MetricTypes

from stockcast.serving.service import Outcome

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
# Each emission is a log line the worker writes and the Java frontend parses (issue 12, py-spy:
# ~8% of a worker's time and about half the frontend's CPU per request went to metric lines).
# Gauges that change slowly, or that Prometheus only samples (the worker's health, the band's
# nominal level, the latest backtest error) are emitted at most this often per worker, which is
# still several samples per scrape interval; counters and histogram observations, which must
# see every forecast, are emitted per batch.
GAUGE_INTERVAL_S = 1.0


class HandlerMetrics:
    """Records one handled batch, and the worker's own health, into TorchServe's metric cache."""

    def __init__(self, cache: Any, model_name: str, version: str, band_level: float) -> None:
        self._metrics = {name: cache.get_metric(name, kind) for name, kind in DECLARED.items()}
        self._model = [model_name, version]
        self._band_level = band_level
        self._pid = str(os.getpid())
        self._process = psutil.Process()
        self._last_health = float("-inf")
        self._last_error = float("-inf")

    def record_batch(self, outcomes: Sequence[Outcome], seconds: float) -> None:
        """One batch: its handler time, its forecasts (their backtest error, whether the band
        held, how unusual the upload is), its rejections by reason."""
        self._emit(INFERENCE_DURATION, seconds)
        forecasts = [outcome.forecast for outcome in outcomes if outcome.forecast is not None]
        if forecasts:
            self._emit(PREDICTIONS, len(forecasts))
            for forecast in forecasts:
                self._emit(BACKTEST_ERROR_HIST, forecast["backtest"]["abs_error"])
                drift = forecast.get("drift")
                if drift:
                    self._emit(VOLATILITY_PERCENTILE, drift["volatility_percentile"])
                    self._emit(RETURN_PERCENTILE, drift["return_percentile"])
            self._emit(BACKTEST_SCORED, len(forecasts))
            # added even when 0, so the ratio exists from the first forecast on
            self._emit(BACKTEST_COVERED, sum(f["backtest"]["covered"] for f in forecasts))
            now = time.monotonic()
            if now - self._last_error >= GAUGE_INTERVAL_S:
                self._last_error = now
                self._emit(BACKTEST_ERROR, forecasts[-1]["backtest"]["abs_error"])
        for outcome in outcomes:
            if outcome.rejection is not None:
                self._emit(REJECTED, 1, outcome.rejection.reason)
        self.record_worker_health()

    def record_worker_health(self, force: bool = False) -> None:
        """CPU seconds, resident memory and GC collections of this worker process, and the
        band's nominal coverage (a constant of the archive, there from the worker's start)."""
        now = time.monotonic()
        if not force and now - self._last_health < GAUGE_INTERVAL_S:
            return
        self._last_health = now
        self._emit(BAND_LEVEL, self._band_level)
        cpu = self._process.cpu_times()
        self._emit(WORKER_CPU, cpu.user + cpu.system, self._pid)
        self._emit(WORKER_RSS, self._process.memory_info().rss, self._pid)
        self._emit(WORKER_GC, sum(stats["collections"] for stats in gc.get_stats()), self._pid)

    def _emit(self, name: str, value: float, *extra_dimensions: str) -> None:
        self._metrics[name].add_or_update(value, [*extra_dimensions, *self._model])
