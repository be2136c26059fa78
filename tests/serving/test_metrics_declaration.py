"""torchserve/metrics.yaml declares every handler metric with the dimensions the handler sends."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl
from ts.metrics.metric_type_enum import MetricTypes

from stockcast.serving.prometheus_metrics import DECLARED, REJECTED, HandlerMetrics, MetricLine
from stockcast.serving.service import Outcome, RequestRejected

METRICS_YAML = Path(__file__).resolve().parents[2] / "torchserve" / "metrics.yaml"


@pytest.fixture
def cache() -> MetricsCacheYamlImpl:
    """TorchServe's own backend metric cache, loaded from our YAML as a worker loads it."""
    cache = MetricsCacheYamlImpl(str(METRICS_YAML))
    cache.initialize_cache()
    return cache


def test_every_handler_metric_is_declared_with_its_type(cache):
    for name, kind in DECLARED.items():
        assert cache.get_metric(name, kind).metric_name == name


def test_a_batch_emits_every_metric_without_dimension_errors(cache, caplog):
    forecast = {
        "backtest": {"abs_error": 1.5, "covered": True},
        "drift": {"volatility_percentile": 0.4, "return_percentile": 0.7},
    }
    outcomes = [
        Outcome(forecast=forecast),
        Outcome(rejection=RequestRejected(400, "not a CSV", "empty body", "empty_body")),
    ]
    metrics = HandlerMetrics(cache, "stockcast", "20130301.ab12", 0.8)
    with caplog.at_level(logging.INFO, logger="ts.metrics"):
        metrics.record_batch(outcomes, 0.004)
        assert not caplog.records  # nothing is written on the request's time
        metrics.flush()
        metrics.flush()  # nothing new: no empty record
    lines = [line for record in caplog.records for line in record.getMessage().splitlines()]
    assert len(caplog.records) == 1  # one write for all
    assert not [line for line in lines if "Failed" in line]
    emitted = {line.removeprefix("[METRICS]").split(".", 1)[0] for line in lines}
    assert emitted == set(DECLARED)
    assert any("reason:empty_body" in line for line in lines)
    # every metric names the version that produced it
    assert all("version:20130301.ab12" in line for line in lines), lines


@pytest.mark.parametrize("value", [0, 3, 0.004, 1.5e-07, 123456.789])
def test_each_line_is_the_one_torchserve_writes_for_the_same_value(cache, caplog, value):
    """`MetricLine` prepares TorchServe's own metric line: the frontend must parse it the same."""
    metric = cache.get_metric(REJECTED, MetricTypes.COUNTER)
    dimensions = ["empty_body", "stockcast", "20130301.ab12"]
    line = MetricLine(metric, dimensions, socket.gethostname())
    with caplog.at_level(logging.INFO, logger="ts.metrics"):
        before = int(time.time())
        metric.add_or_update(value, dimensions)
        after = int(time.time())
    [theirs] = [record.getMessage() for record in caplog.records]
    assert theirs in {line.format(value, before), line.format(value, after)}


def test_a_line_refuses_dimensions_unlike_the_declared_ones_and_a_counter_going_down(cache):
    metric = cache.get_metric(REJECTED, MetricTypes.COUNTER)
    with pytest.raises(ValueError, match="do not match the declared dimensions"):
        MetricLine(metric, ["stockcast", "1.0"], "host")
    with pytest.raises(ValueError, match="cannot decrease"):
        MetricLine(metric, ["empty_body", "stockcast", "1.0"], "host").format(-1, 0)


def test_the_flushing_thread_writes_what_batches_recorded(cache, caplog):
    metrics = HandlerMetrics(cache, "stockcast", "1.0", 0.8)
    rejected = Outcome(rejection=RequestRejected(400, "not a CSV", "empty body", "empty_body"))
    with caplog.at_level(logging.INFO, logger="ts.metrics"):
        metrics.start_flushing(interval_s=0.01)
        for _ in range(5):
            metrics.record_batch([rejected], 0.001)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(lines_of(caplog, REJECTED)) < 5:
            time.sleep(0.01)
    assert len(lines_of(caplog, REJECTED)) == 5


def lines_of(caplog, name: str) -> list[str]:
    return [
        line
        for record in caplog.records
        for line in record.getMessage().splitlines()
        if line.startswith(f"[METRICS]{name}.")
    ]


def test_a_value_a_counter_cannot_take_is_logged_and_the_rest_still_written(cache, caplog):
    metrics = HandlerMetrics(cache, "stockcast", "1.0", 0.8)
    with caplog.at_level(logging.INFO):
        metrics._add(REJECTED, -1, "empty_body")  # a bug's value, never a client's
        metrics._add(REJECTED, 1, "empty_body")
        metrics.flush()
    assert any("not recorded" in record.getMessage() for record in caplog.records)
    assert len(lines_of(caplog, REJECTED)) == 1
