"""docker-compose.yaml is valid and deploys the stack safely.

`docker-compose config` validates and resolves the file exactly as `up` would; Prometheus's and
Grafana's images cannot be pulled on machines without a registry, so the stack is checked as
resolved, while the serving image itself is built and run by tests/deploy/test_image.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import stockcast
from stockcast.stack.torchserve import read_properties

ROOT = Path(__file__).resolve().parents[2]
CONTAINER_CONFIG = read_properties(ROOT / "torchserve" / "config.container.properties")
PASSWORD = "not-a-real-password"

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose missing: `make system-deps` installs it",
)


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    return subprocess.run(
        ["docker-compose", "--file", str(ROOT / "docker-compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**clean, **env},
    )


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    result = compose_config(GRAFANA_ADMIN_PASSWORD=PASSWORD)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def published(service: dict[str, Any]) -> dict[int, str]:
    """Container port -> host address it is published on ("" for every interface)."""
    ports = {}
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports[int(port["target"])] = port.get("host_ip", "")
        else:
            *host, target = port.split("/")[0].split(":")
            ports[int(target)] = host[0] if len(host) == 2 else ""
    return ports


def test_compose_refuses_to_start_without_a_grafana_password() -> None:
    result = compose_config()
    assert result.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_stack_has_the_three_services_restarting_on_failure(services: dict[str, Any]) -> None:
    assert set(services) == {"torchserve", "prometheus", "grafana"}
    for name, service in services.items():
        assert service.get("restart") in {"always", "unless-stopped"}, name


def test_only_inference_is_published_beyond_the_hosts_loopback(services: dict[str, Any]) -> None:
    assert published(services["torchserve"]) == {
        8080: "",
        8081: "127.0.0.1",
        8082: "127.0.0.1",
    }
    assert set(published(services["prometheus"]).values()) == {"127.0.0.1"}
    assert set(published(services["grafana"]).values()) == {"127.0.0.1"}


def test_state_lives_in_named_volumes(services: dict[str, Any]) -> None:
    def named(service: str) -> set[str]:
        return {v.split(":")[0] for v in services[service]["volumes"] if not v.startswith("/")}

    assert "prometheus-data" in named("prometheus")
    assert "grafana-data" in named("grafana")


def test_grafana_requires_login_with_the_given_password(services: dict[str, Any]) -> None:
    env = services["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == PASSWORD
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_torchserve_is_built_here_and_health_checked_by_the_script_the_image_copies(
    services: dict[str, Any], image_recipe: Any
) -> None:
    torchserve = services["torchserve"]
    assert torchserve["build"]["dockerfile"] == "deploy/Dockerfile"
    assert Path(torchserve["build"]["context"]) == ROOT
    checks = [word for word in torchserve["healthcheck"]["test"] if word in image_recipe.copies]
    assert [image_recipe.copies[word] for word in checks] == ["deploy/healthcheck.py"]


def test_the_image_is_tagged_with_the_package_version(services: dict[str, Any]) -> None:
    """The version lives in `stockcast.__version__` (setup.cfg reads it); the tag must follow."""
    assert services["torchserve"]["image"] == f"stockcast-torchserve:{stockcast.__version__}"


def test_the_model_store_is_mounted_read_only_where_torchserve_looks(
    services: dict[str, Any],
) -> None:
    mounts = {v.split(":")[1]: v.split(":") for v in services["torchserve"]["volumes"]}
    host, _, mode = mounts[CONTAINER_CONFIG["model_store"]]
    assert host == str(ROOT / "model_store")
    assert mode == "ro"
