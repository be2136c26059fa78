"""The provisioned dashboards are the output of stockcast/stack/dashboards.py (`make dashboards`).

The committed JSON must be exactly what the generator writes now, and Grafana's own typed models
(grafana-foundation-sdk) must read it back whole: decoding it and encoding it again gives the same
text, with every panel's options, field config and queries decoded into the SDK's classes rather
than left as untyped dictionaries. The live checks (tests/monitoring/test_live_monitoring.py)
then run every query of that same file against a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus, stat, timeseries
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel

from stockcast.app.layout import ProjectLayout
from stockcast.stack import dashboards

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
DASHBOARD_DIR = ROOT / "monitoring" / "grafana" / "dashboards"
# the panel types the dashboards use, and the SDK classes their options and custom field config
# decode into (stat panels have no custom field config)
TYPED = {
    "timeseries": (timeseries.Options, timeseries.FieldConfig),
    "stat": (stat.Options, type(None)),
}


@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    return dashboards.rendered(LAYOUT)


def test_the_provisioning_folder_holds_exactly_the_generated_dashboards(generated):
    assert sorted(DASHBOARD_DIR.glob("*.json")) == sorted(generated)
    for path, text in generated.items():
        assert path.read_text() == text, f"{path.name} differs from its generator: make dashboards"


def test_make_dashboards_check_finds_nothing_to_regenerate():
    assert dashboards.main(["--check"]) == 0


@pytest.mark.parametrize("path", sorted(DASHBOARD_DIR.glob("*.json")), ids=lambda p: p.name)
def test_the_sdk_reads_each_dashboard_back_whole_with_every_panel_and_query_typed(path):
    register_default_plugins()
    text = path.read_text()

    decoded = Dashboard.from_json(json.loads(text))

    assert dashboards.to_text(decoded) == text
    panels = [panel for panel in decoded.panels if not isinstance(panel, RowPanel)]
    assert panels and all(isinstance(panel, Panel) for panel in panels)
    for panel in panels:
        options, custom = TYPED[panel.type_val]
        assert isinstance(panel.options, options), panel.title
        assert isinstance(panel.field_config.defaults.custom, custom), panel.title
        assert panel.targets, panel.title
        for query in panel.targets:
            assert isinstance(query, prometheus.Dataquery), (panel.title, type(query))
            assert query.expr and query.ref_id and query.datasource == panel.datasource.to_json()


def test_the_generator_keeps_the_fifteen_panels_and_26_queries_the_hand_written_file_had(
    generated,
):
    (text,) = generated.values()
    panels = json.loads(text)["panels"]
    rows = [panel["title"] for panel in panels if panel["type"] == "row"]
    queries = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    assert rows == ["Health", "API Performance", "Model Monitoring"]
    assert len(panels) - len(rows) == 15 and len(queries) == 26
