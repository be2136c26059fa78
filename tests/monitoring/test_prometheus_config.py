"""Prometheus configs and alert rules pass promtool, and the alert rules pass their unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "monitoring" / "prometheus"
CONFIGS = [PROMETHEUS_DIR / "prometheus.yml", PROMETHEUS_DIR / "prometheus.local.yml"]
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
REQUIRED_ALERTS = {
    "StockcastTargetDown",
    "StockcastWorkerRestarted",
    "StockcastHighErrorRate",
    "StockcastHighInferenceLatency",
    "StockcastMAEDrift",
    "StockcastBandCoverageOffTarget",
    "StockcastInputDrift",
}

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool missing: `make system-deps` installs it"
)


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *map(str, args)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_scrape_config_is_valid(config: Path) -> None:
    result = promtool("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_and_local_configs_differ_only_in_addresses() -> None:
    compose, local = (yaml.safe_load(path.read_text()) for path in CONFIGS)
    for config in (compose, local):
        for job in config["scrape_configs"]:
            del job["static_configs"]
    assert compose == local


def test_compose_config_scrapes_torchserve_by_service_name() -> None:
    config = yaml.safe_load(CONFIGS[0].read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "torchserve"]
    assert job["static_configs"] == [{"targets": ["torchserve:8082"]}]


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
def test_alert_rules_are_valid(rules: Path) -> None:
    result = promtool("check", "rules", rules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_issue_alerts_exist_and_each_has_a_unit_test() -> None:
    defined = {
        rule["alert"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert defined >= REQUIRED_ALERTS
    assert defined == tested, f"alerts never shown firing in a unit test: {defined - tested}"


@pytest.mark.parametrize("rule_test", RULE_TESTS, ids=lambda p: p.name)
def test_alert_rule_unit_tests_pass(rule_test: Path) -> None:
    result = promtool("test", "rules", rule_test)
    assert result.returncode == 0, result.stdout + result.stderr
