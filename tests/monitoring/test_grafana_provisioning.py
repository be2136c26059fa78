"""Grafana would load our provisioning as intended: one datasource, one provider, sound dashboards.

Grafana cannot run here, so these read the files the way its provisioning does and catch what
would otherwise only show up as a broken or empty panel in the browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "monitoring" / "grafana" / "provisioning"
COMPOSE = ROOT / "docker-compose.yaml"
PROMETHEUS_CONFIG = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
ROWS = ["Health", "API Performance", "Model Monitoring"]
# The panels the dashboard promises, by row (docs/monitoring.md says what each one stands in for).
SEED_PANELS = {
    "Health": {"Worker CPU (5m rate)", "Resident memory", "GC collections per minute"},
    "API Performance": {"Request rate by status class", "Request latency (mean, and handler p95)"},
    "Model Monitoring": {
        "Inference latency p50 / p95",
        "Predictions per second",
        "Mean absolute error over 1h",
        # the live model, by version
        "Coverage of the 80% band, rolling 1 h, by version",
        "Input drift: percentile in the training data, mean over 1 h, by version",
        "Prediction requests by version",
    },
}
Dashboards = dict[Path, dict[str, Any]]


def provisioned_datasource() -> dict[str, Any]:
    (datasource,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    return datasource


def compose_mount(service: str, host_path: str) -> str:
    """Where docker-compose.yaml mounts `host_path` inside `service`."""
    volumes = yaml.safe_load(COMPOSE.read_text())["services"][service]["volumes"]
    targets = [volume.split(":")[1] for volume in volumes if volume.split(":")[0] == host_path]
    assert targets, f"{host_path} is not mounted into {service}"
    return targets[0]


def test_datasource_is_the_compose_prometheus_at_its_scrape_interval() -> None:
    datasource = provisioned_datasource()
    scrape_interval = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["global"]["scrape_interval"]
    assert datasource["type"] == "prometheus"
    assert datasource["uid"]
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in yaml.safe_load(COMPOSE.read_text())["services"]
    # Grafana sizes $__rate_interval from this; it must match what Prometheus really does
    assert datasource["jsonData"]["timeInterval"] == scrape_interval


def test_provisioning_and_dashboards_are_mounted_where_grafana_reads_them() -> None:
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "stockcast.yml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"
    assert (
        compose_mount("grafana", "./monitoring/grafana/dashboards") == provider["options"]["path"]
    )
    assert (
        compose_mount("grafana", "./monitoring/grafana/provisioning") == "/etc/grafana/provisioning"
    )


def test_dashboards_have_distinct_uids_and_no_duplicate_panel_ids(dashboards: Dashboards) -> None:
    uids = [dashboard.get("uid") for dashboard in dashboards.values()]
    assert all(uids) and len(set(uids)) == len(uids)
    assert all(len(uid) <= 40 for uid in uids)  # Grafana rejects longer uids
    for path, dashboard in dashboards.items():
        assert dashboard["title"] and isinstance(dashboard["schemaVersion"], int), path.name
        ids = [panel["id"] for panel in dashboard["panels"]]
        ids += [nested["id"] for panel in dashboard["panels"] for nested in panel.get("panels", [])]
        assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"


def test_every_panel_queries_the_provisioned_datasource_with_a_unit(
    dashboard_panels: dict[Path, list[dict[str, Any]]],
) -> None:
    uid = provisioned_datasource()["uid"]
    for path, panels in dashboard_panels.items():
        for panel in panels:
            where = f"{path.name}: {panel['title']!r}"
            assert panel["datasource"]["uid"] == uid, where
            assert panel["fieldConfig"]["defaults"].get("unit"), f"{where} has no unit"
            assert panel["targets"], f"{where} has no query"
            ref_ids = [target["refId"] for target in panel["targets"]]
            assert len(ref_ids) == len(set(ref_ids)), f"{where} repeats a refId"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid, where
                assert target["expr"].strip(), f"{where} has an empty query"


def test_queries_use_only_grafana_range_variables(panel_queries: list) -> None:
    for query in panel_queries:
        query.promql("1m")  # raises on any other variable, which would reach Prometheus verbatim


def test_panels_fit_the_grid_without_overlapping(dashboards: Dashboards) -> None:
    for path, dashboard in dashboards.items():
        taken: set[tuple[int, int]] = set()
        for panel in dashboard["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, f"{path.name}: {panel['title']!r} is too wide"
            cells = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & taken, f"{path.name}: {panel['title']!r} overlaps another panel"
            taken |= cells


def test_the_three_rows_hold_the_seed_panels(dashboards: Dashboards) -> None:
    rows: dict[str, set[str]] = {}
    for dashboard in dashboards.values():
        row = None
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                row = panel["title"]
                rows[row] = {nested["title"] for nested in panel.get("panels", [])}
            elif row is not None:
                rows[row].add(panel["title"])
    assert list(rows) == ROWS
    for row, titles in SEED_PANELS.items():
        assert titles <= rows[row], f"the {row} row lacks {titles - rows[row]}"
