"""The Kubernetes manifests (deploy/k8s/), rendered as `make manifests` renders them and checked
offline: the API's own schemas (kubernetes-validate, strict, for K8S_VERSION), checkov's policies
(no failed check; every skip carries its reason in the manifest), the files derived from the
repository's own (TorchServe's config, the alert rules) up to date, and the pieces agreeing with
each other: the gateway and TorchServe's ports, the probes, the Service, the NetworkPolicy.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from stockcast.app.layout import ProjectLayout
from stockcast.release.image import IMAGE
from stockcast.stack import kubernetes

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
K8S_VERSION = "1.33.0"
CHECKOV = ROOT / "build" / "checkov" / "bin" / "checkov"
OVERLAYS = ["keda", "cpu"]
# custom resources of the operators the overlays use; kubernetes-validate has only the built-in
# API's schemas, so these are checked field by field below
CUSTOM_KINDS = {
    "keda": {"ScaledObject", "PrometheusRule", "ServiceMonitor"},
    "cpu": {"PrometheusRule", "ServiceMonitor"},
}
Manifests = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/k8s/ copied with a keys.env of its own (the checkout's, if any, is not read)."""
    tree = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(kubernetes.k8s_dir(LAYOUT), tree, ignore=shutil.ignore_patterns("keys.env"))
    kubernetes.ensure_keys(tree / "base")
    return tree


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def rendered(k8s_tree: Path, overlay: str) -> list[dict[str, Any]]:
    return kubernetes.render(k8s_tree / "overlays" / overlay, use_kubectl=False)


@pytest.fixture(scope="module")
def manifests(rendered: list[dict[str, Any]]) -> Manifests:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in rendered}


def containers(manifests: Manifests) -> dict[str, dict[str, Any]]:
    pod = manifests["Deployment", "stockcast"]["spec"]["template"]["spec"]
    return {container["name"]: container for container in pod["containers"]}


def test_the_files_derived_from_the_repository_are_up_to_date():
    for path, text in kubernetes.generated(LAYOUT).items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: make manifests"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")
def test_the_fallback_renderer_gives_what_kubectl_kustomize_gives(k8s_tree, overlay, rendered):
    assert kubernetes.render(k8s_tree / "overlays" / overlay, use_kubectl=True) == rendered


def test_the_built_in_kinds_pass_the_api_schemas_strictly(rendered, overlay):
    custom = [doc["kind"] for doc in rendered if "/" in doc["apiVersion"] and _is_custom(doc)]
    assert set(custom) == CUSTOM_KINDS[overlay]
    for doc in rendered:
        if doc["kind"] not in CUSTOM_KINDS[overlay]:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _is_custom(doc: dict[str, Any]) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    return group.endswith(("keda.sh", "monitoring.coreos.com"))


def test_the_schema_check_is_not_vacuous(manifests):
    broken = copy.deepcopy(manifests["Deployment", "stockcast"])
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFs"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.skipif(
    not CHECKOV.exists(), reason="checkov is not installed: make build/checkov/bin/checkov"
)
def test_checkov_fails_no_check_and_every_skip_says_why_beside_it(rendered, tmp_path):
    manifest = tmp_path / "manifests.yaml"
    manifest.write_text(kubernetes.to_yaml(rendered))
    run = subprocess.run(
        [str(CHECKOV), "-f", str(manifest), "--framework", "kubernetes", "--skip-download",
         "--output", "json", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = json.loads(run.stdout)
    results = report["results"]
    failed = [(c["check_id"], c["resource"]) for c in results.get("failed_checks", [])]
    assert not failed, failed
    assert report["summary"]["passed"] >= 80
    for skipped in results.get("skipped_checks", []):
        assert len(skipped["check_result"].get("suppress_comment", "")) > 40, skipped["check_id"]


def test_the_prometheus_rule_is_the_alert_file_promtool_tests(manifests):
    rule = manifests["PrometheusRule", "stockcast-alerts"]
    alerts = yaml.safe_load(kubernetes.alert_rules_file(LAYOUT).read_text())
    assert rule["spec"]["groups"] == alerts["groups"]


def test_every_container_runs_unprivileged_on_a_read_only_root_with_requests_and_limits(
    manifests,
):
    pod = manifests["Deployment", "stockcast"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for name, container in containers(manifests).items():
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] and context["runAsUser"] != 0, name
        assert context["allowPrivilegeEscalation"] is False and not context["privileged"], name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert set(container["resources"]) == {"requests", "limits"}, name
        assert {"livenessProbe", "readinessProbe"} <= set(container), name


def test_torchserve_serves_the_image_make_image_builds_with_the_generated_config(manifests):
    torchserve = containers(manifests)["torchserve"]
    config = manifests["ConfigMap", "stockcast-torchserve"]["data"]["config.properties"]
    (mount,) = [m for m in torchserve["volumeMounts"] if m["name"] == "torchserve-config"]
    env = {item["name"]: item.get("value") for item in torchserve["env"]}

    assert torchserve["image"] == IMAGE
    assert config == kubernetes.torchserve_config(LAYOUT)
    assert env["STOCKCAST_TS_CONFIG"] == f"{mount['mountPath']}/config.properties"
    assert "disable_token_authorization=true" in config.splitlines()


def test_the_gateway_forwards_to_the_loopback_ports_the_config_gives_torchserve(manifests):
    properties = dict(
        line.split("=", 1)
        for line in manifests["ConfigMap", "stockcast-torchserve"]["data"][
            "config.properties"
        ].splitlines()
        if line and not line.startswith("#")
    )
    gateway = containers(manifests)["gateway"]
    env = {item["name"]: item for item in gateway["env"]}
    for api in ("inference", "management"):
        address = properties[f"{api}_address"]
        assert address.startswith("http://127.0.0.1:"), address
        assert env[f"TORCHSERVE_{api.upper()}"]["value"] == address.removeprefix("http://")
    ports = {port["name"]: port["containerPort"] for port in gateway["ports"]}
    assert ports["http"] == int(env["INFERENCE_PORT"]["value"])
    assert ports["management"] == int(env["MANAGEMENT_PORT"]["value"])
    assert ports["health"] == int(env["HEALTH_PORT"]["value"])
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/ping", "port": "health"}
    torchserve = containers(manifests)["torchserve"]
    for probe in ("startupProbe", "livenessProbe"):
        assert f"{properties['inference_address']}/ping" in torchserve[probe]["exec"]["command"][-1]
    # readiness waits for the model itself: /ping is Healthy before any model is loaded
    ready = torchserve["readinessProbe"]["exec"]["command"][-1]
    assert f"{properties['management_address']}/models/{LAYOUT.model_name}" in ready


def test_the_gateway_checks_the_keys_of_the_secret(manifests):
    secret = manifests["Secret", "stockcast-keys"]
    env = {item["name"]: item for item in containers(manifests)["gateway"]["env"]}
    config = manifests["ConfigMap", "stockcast-gateway"]["data"]["haproxy.cfg"]
    for key in kubernetes.KEY_NAMES:
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "stockcast-keys", "key": key}
        assert len(base64.b64decode(secret["data"][key])) >= 24
        assert f'"Bearer ${{{key}}}"' in config


def test_the_service_exposes_the_apis_and_the_policy_keeps_management_and_metrics_inside(
    manifests,
):
    service = manifests["Service", "stockcast"]
    named = {p["name"] for c in containers(manifests).values() for p in c.get("ports", [])}
    assert {port["targetPort"] for port in service["spec"]["ports"]} == named - {"health"}
    policy = manifests["NetworkPolicy", "stockcast"]["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    by_port = {
        port["port"]: rule.get("from") for rule in policy["ingress"] for port in rule["ports"]
    }
    assert by_port == {
        "http": None,  # whoever reaches the Service; the gateway checks the key
        "management": [{"podSelector": {}}],  # this namespace's pods only
        "metrics": [{"podSelector": {}}],
    }


def test_keda_scales_on_a_rate_of_torchserves_counters_with_cpu_beside_it(manifests, overlay):
    if overlay != "keda":
        hpa = manifests["HorizontalPodAutoscaler", "stockcast"]["spec"]
        assert hpa["scaleTargetRef"]["name"] == "stockcast"
        assert hpa["metrics"][0]["resource"]["name"] == "cpu"
        return
    scaled = manifests["ScaledObject", "stockcast"]["spec"]
    prometheus, cpu = scaled["triggers"]
    assert scaled["scaleTargetRef"] == {"name": "stockcast"}
    assert ("Deployment", "stockcast") in manifests
    assert prometheus["type"] == "prometheus" and prometheus["metricType"] == "AverageValue"
    assert "rate(ts_inference_latency_microseconds" in prometheus["metadata"]["query"]
    assert float(prometheus["metadata"]["threshold"]) > 0
    assert cpu["type"] == "cpu" and cpu["metadata"]["containerName"] == "torchserve"
