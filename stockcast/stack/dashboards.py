"""The Grafana dashboard, as code: `make dashboards` writes monitoring/grafana/dashboards/.

Built with Grafana's own `grafana-foundation-sdk` (typed builders for the dashboard, its
timeseries and stat panels and their Prometheus queries), so a panel option Grafana does not
know is a Python error here rather than a silently ignored key in the browser. The JSON that
Grafana's file provisioning loads is this module's output; tests/monitoring/ holds the committed
file equal to it and proves every query against a live Prometheus scraping a real TorchServe.

Every query reads TorchServe's own metrics endpoint, under the scrape job `torchserve`
(monitoring/prometheus/prometheus.yml); the datasource is the one provisioning creates.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
)

from stockcast.app.layout import ProjectLayout

UID = "stockcast-overview"
FILE_NAME = "stockcast.json"
JOB = 'job="torchserve"'
PANEL_HEIGHT = 8
SCHEMA_VERSION = 39


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel and the legend Grafana draws for its series."""

    expr: str
    legend: str


def provisioned_datasource(layout: ProjectLayout) -> DataSourceRef:
    """The Prometheus datasource Grafana's provisioning creates: every panel and query names it."""
    path = (
        layout.root / "monitoring" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    )
    (datasource,) = yaml.safe_load(path.read_text())["datasources"]
    return DataSourceRef(type_val=datasource["type"], uid=datasource["uid"])


def targets(datasource: DataSourceRef, queries: list[Query]) -> list[prometheus.Dataquery]:
    """Queries A, B, C... in order, each naming the datasource."""
    return [
        prometheus.Dataquery()
        .datasource(datasource)
        .ref_id(chr(ord("A") + i))
        .expr(query.expr)
        .legend_format(query.legend)
        for i, query in enumerate(queries)
    ]


def time_series(
    datasource: DataSourceRef,
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    queries: list[Query],
    width: int,
    max_value: float | None = None,
) -> timeseries.Panel:
    """A line chart from 0 up, legend below, one tooltip for all series."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(datasource)
        .unit(unit)
        .min(0)
        .height(PANEL_HEIGHT)
        .span(width)
        .targets(targets(datasource, queries))
        # Grafana's own defaults, stated so the field config is typed (the SDK's decoder gives
        # a timeseries panel a `custom` block whether or not the file has one)
        .draw_style(common.GraphDrawStyle.LINE)
        .line_width(1)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.NONE)
        )
    )
    return panel if max_value is None else panel.max(max_value)


def big_value(
    datasource: DataSourceRef,
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    query: Query,
    width: int,
    steps: list[Threshold],
) -> stat.Panel:
    """A stat panel of each series' last value, coloured by `steps`."""
    return (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(datasource)
        .unit(unit)
        .min(0)
        .height(PANEL_HEIGHT)
        .span(width)
        .targets(targets(datasource, [query]))
        .thresholds(
            dashboard_builders.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)
        )
        .reduce_options(
            common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)
        )
        .color_mode(common.BigValueColorMode.BACKGROUND)
    )


def rate(metric: str, window: str = "$__rate_interval") -> str:
    return f"rate({metric}{{{JOB}}}[{window}])"


def mean_over(numerator: str, denominator: str, by: str = "", window: str = "1h") -> str:
    """sum(rate(a)) / sum(rate(b)), optionally `by` a label: a mean per event over `window`."""
    group = f" by ({by}) " if by else ""
    return f"sum{group}({rate(numerator, window)}) / sum{group}({rate(denominator, window)})"


def handler_quantile(q: str) -> str:
    buckets = rate("stockcast_inference_duration_seconds_bucket")
    return f"histogram_quantile({q}, sum by (le) ({buckets}))"


def health_row(ds: DataSourceRef) -> list[Any]:
    per_worker = "worker {{WorkerPid}}"
    return [
        dashboard_builders.Row("Health").id(1),
        time_series(
            ds, 2, "Worker CPU (5m rate)",
            "CPU time each TorchServe backend worker used per second (1 = one full core), from the handler's stockcast_worker_cpu_seconds. Stands in for the usual rate(process_cpu_seconds_total[5m]): TorchServe exports no process_* metrics. Workers report on start-up and with each batch (at most once a second), so an idle worker reads 0. 'host' is TorchServe's CPUUtilization of the whole machine.",
            "percentunit",
            [
                Query(f"sum by (WorkerPid) ({rate('stockcast_worker_cpu_seconds', '5m')})", per_worker),
                Query(f"avg(CPUUtilization{{{JOB}}}) / 100", "host (all cores)"),
            ],
            width=8,
        ),
        time_series(
            ds, 3, "Resident memory",
            "Resident set size of each backend worker (stockcast_worker_resident_memory_bytes), in place of the usual process_resident_memory_bytes. A worker that died keeps its last value under its old pid.",
            "bytes",
            [Query(f"max by (WorkerPid) (stockcast_worker_resident_memory_bytes{{{JOB}}})", per_worker)],
            width=8,
        ),
        time_series(
            ds, 4, "GC collections per minute",
            "Python garbage-collector runs per minute in each worker, all generations (stockcast_worker_gc_collections). Python services usually plot python_gc_objects_collected_total, which TorchServe does not export; collections per minute is the nearest signal the workers report.",
            "short",
            [Query(f"sum by (WorkerPid) ({rate('stockcast_worker_gc_collections', '1m')}) * 60", per_worker)],
            width=8,
        ),
        big_value(
            ds, 5, "TorchServe scrape target",
            "1 while Prometheus can scrape TorchServe's metrics endpoint (alert: StockcastTargetDown).",
            "none",
            Query(f"up{{{JOB}}}", "{{instance}}"),
            width=6,
            steps=[Threshold(None, "red"), Threshold(1, "green")],
        )
        .mappings(
            [
                ValueMap(
                    {
                        "0": ValueMappingResult(text="DOWN", color="red"),
                        "1": ValueMappingResult(text="UP", color="green"),
                    }
                )
            ]
        )
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE),
        big_value(
            ds, 6, "Worker restarts (15 min)",
            "How often each worker slot reloaded the model in the last 15 minutes: TorchServe re-sets WorkerLoadTime whenever a worker process is replaced (crash, OOM, kill -9). Alerts: StockcastWorkerRestarted, StockcastWorkerCrashLoop.",
            "short",
            Query(f"sum by (WorkerName) (changes(WorkerLoadTime{{{JOB}}}[15m]))", "{{WorkerName}}"),
            width=6,
            steps=[Threshold(None, "green"), Threshold(1, "orange"), Threshold(3, "red")],
        )
        .graph_mode(common.BigValueGraphMode.AREA)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME),
        time_series(
            ds, 7, "Host utilisation",
            "TorchServe's system metrics for the machine (or container) it runs on; TorchServe samples them once a minute.",
            "percent",
            [
                Query(f"avg(CPUUtilization{{{JOB}}})", "CPU"),
                Query(f"avg(MemoryUtilization{{{JOB}}})", "memory"),
                Query(f"avg(DiskUtilization{{{JOB}}})", "disk"),
            ],
            width=12,
            max_value=100,
        ),
    ]  # fmt: skip


def api_row(ds: DataSourceRef) -> list[Any]:
    status_classes = " or ".join(
        f'label_replace(sum({rate(f"Requests{code}XX")}), "status", "{code}xx", "", "")'
        for code in (2, 4, 5)
    )
    requests = "sum(" + rate("ts_inference_requests_total") + ")"
    return [
        dashboard_builders.Row("API Performance").id(8),
        time_series(
            ds, 9, "Request rate by status class",
            "Responses per second by status class, from TorchServe's Requests2XX/4XX/5XX counters. These count every HTTP response TorchServe gives, including each Prometheus scrape, health check and management call, so 2xx never drops to zero. A request-rate panel usually splits by HTTP method and exact status; TorchServe counts neither. 'forecasts' and 'rejected' are the predictions API alone, from the handler's own counters (stockcast_predictions: 200 responses, stockcast_rejected_requests: the model's 4xx).",
            "reqps",
            [
                Query(status_classes, "all APIs {{status}}"),
                Query(f"sum({rate('stockcast_predictions')})", "predictions API: forecasts (200)"),
                Query(f"sum({rate('stockcast_rejected_requests')})", "predictions API: rejected (4xx)"),
            ],
            width=12,
        ),
        time_series(
            ds, 10, "Request latency (mean, and handler p95)",
            "TorchServe exports no per-request HTTP latency histogram, so the usual HTTP p95 cannot be drawn. Shown instead: mean time per prediction request (accepted or rejected) and mean time queued before a worker took it (ts_inference_latency_microseconds and ts_queue_latency_microseconds over ts_inference_requests_total), and the p95 of the handler's own time per batch (stockcast_inference_duration_seconds).",
            "s",
            [
                Query(f"sum({rate('ts_inference_latency_microseconds')}) / {requests} / 1e6", "inference, mean"),
                Query(f"sum({rate('ts_queue_latency_microseconds')}) / {requests} / 1e6", "queue wait, mean"),
                Query(handler_quantile("0.95"), "handler p95"),
            ],
            width=12,
        ),
        time_series(
            ds, 11, "Rejected requests by reason",
            "Requests the model refused (HTTP 4xx) per second, by the handler's reason label (stockcast_rejected_requests).",
            "reqps",
            [Query(f"sum by (reason) ({rate('stockcast_rejected_requests')})", "{{reason}}")],
            width=24,
        ),
    ]  # fmt: skip


def model_row(ds: DataSourceRef) -> list[Any]:
    return [
        dashboard_builders.Row("Model Monitoring").id(12),
        time_series(
            ds, 13, "Inference latency p50 / p95",
            "Handler time per batch (parse, forward pass, back-test, reply), from the stockcast_inference_duration_seconds histogram.",
            "s",
            [Query(handler_quantile("0.50"), "p50"), Query(handler_quantile("0.95"), "p95")],
            width=8,
        ),
        time_series(
            ds, 14, "Predictions per second",
            "Forecasts served per second (stockcast_predictions; rejected requests are not counted).",
            "cps",
            [Query(f"sum({rate('stockcast_predictions')})", "predictions")],
            width=8,
        ),
        time_series(
            ds, 15, "Mean absolute error over 1h",
            "Back-test error in price units: each forecast also predicts the request's last known close from the days before it, and reports |predicted - actual|. 'gauge average' is avg_over_time over the latest value (stockcast_backtest_abs_error); 'per prediction' weights every forecast equally, from the stockcast_backtest_abs_error_hist sum and count. Alert: StockcastMAEDrift.",
            "short",
            [
                Query(f"avg(avg_over_time(stockcast_backtest_abs_error{{{JOB}}}[1h]))", "gauge average"),
                Query(mean_over("stockcast_backtest_abs_error_hist_sum", "stockcast_backtest_abs_error_hist_count"), "per prediction"),
            ],
            width=8,
        ),
        time_series(
            ds, 16, "Coverage of the 80% band, rolling 1 h, by version",
            "Live calibration: each forecast's backtest checks whether the request's last close fell inside the band the model gave for that day (from the rows before it). Share of those inside over the last hour (stockcast_backtest_covered / stockcast_backtest_scored), against the band's nominal coverage. Uploads of the same day count once each, so read it over many days. Alert: StockcastBandCoverageOffTarget (outside nominal +-0.15 with >= 100 forecasts in the hour).",
            "percentunit",
            [
                Query(
                    f"sum by (version) (increase(stockcast_backtest_covered{{{JOB}}}[1h])) / sum by (version) (increase(stockcast_backtest_scored{{{JOB}}}[1h]))",
                    "{{version}}",
                ),
                Query(f"max by (version) (stockcast_band_nominal_coverage{{{JOB}}})", "nominal {{version}}"),
            ],
            width=8,
            max_value=1,
        ),
        time_series(
            ds, 17, "Input drift: percentile in the training data, mean over 1 h, by version",
            "Where uploads sit in the distribution the model trained on (forecaster.json keeps its quantiles): the percentile of each upload's 20-day volatility and of its last daily return, averaged over the last hour. Uploads like the training period average 0.5; near 1 the market is wilder (or its returns higher) than nearly everything the network saw, near 0 calmer. Alert: StockcastInputDrift (volatility above 0.9 or below 0.1 for 30 min).",
            "percentunit",
            [
                Query(mean_over("stockcast_input_volatility_percentile_sum", "stockcast_input_volatility_percentile_count", by="version"), "20-day volatility {{version}}"),
                Query(mean_over("stockcast_input_return_percentile_sum", "stockcast_input_return_percentile_count", by="version"), "last return {{version}}"),
            ],
            width=8,
            max_value=1,
        ),
        time_series(
            ds, 18, "Prediction requests by version",
            "Requests each version answered (TorchServe's own count, by model_version): the default version takes /predictions/stockcast, any version /predictions/stockcast/<version>. A promotion or rollback moves the traffic from one line to the other.",
            "reqps",
            [Query(f"sum by (model_version) ({rate('ts_inference_requests_total')})", "{{model_version}}")],
            width=8,
        ),
    ]  # fmt: skip


def overview(layout: ProjectLayout) -> Dashboard:
    """The one dashboard: Health, API Performance and Model Monitoring rows."""
    ds = provisioned_datasource(layout)
    builder = (
        dashboard_builders.Dashboard("StockCast: Health, API Performance, Model Monitoring")
        .uid(UID)
        .description(
            "TorchServe serving the stockcast LSTM forecaster; every query reads TorchServe's own Prometheus endpoint."
        )
        .tags(["stockcast", "torchserve"])
        .timezone("browser")
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .refresh("10s")
        .time("now-1h", "now")
        .timepicker(
            dashboard_builders.TimePicker().refresh_intervals(["5s", "10s", "30s", "1m", "5m"])
        )
        .version(1)
    )
    for item in [*health_row(ds), *api_row(ds), *model_row(ds)]:
        if isinstance(item, dashboard_builders.Row):
            builder.with_row(item)
        else:
            builder.with_panel(item)
    dashboard = builder.build()
    # the builder has no setter for it; 39 is the schema the dashboard was written for, so
    # Grafana loads it without migrating
    dashboard.schema_version = SCHEMA_VERSION
    return dashboard


def to_text(dashboard: Dashboard) -> str:
    """The dashboard as the provisioning folder keeps it: the SDK's JSON, indented, newline-ended."""
    return json.dumps(dashboard, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"


def rendered(layout: ProjectLayout) -> dict[Path, str]:
    """Every generated dashboard file and its text."""
    return {
        layout.root / "monitoring" / "grafana" / "dashboards" / FILE_NAME: to_text(overview(layout))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed file differs")
    args = parser.parse_args(argv)
    layout = ProjectLayout.find()
    stale = []
    for path, text in rendered(layout).items():
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(layout.root)}")
    for path in stale:
        print(
            f"{path.relative_to(layout.root)} differs from its generator: make dashboards",
            file=sys.stderr,
        )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
