"""The container's TorchServe configuration is locked down, and it really serves that way.

The static tests read torchserve/config.container.properties as TorchServe does; the live ones run TorchServe
with exactly that file (only addresses and host paths swapped for loopback ones) and the packaged
model, talk to it like a client, a health check and an attacker would, and kill one of its
workers under the eyes of Prometheus. (This instance is this module's own, so the kill cannot
disturb the session's shared TorchServe.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from stockcast.stack.torchserve import read_properties

ROOT = Path(__file__).resolve().parents[2]
CONFIG = read_properties(ROOT / "torchserve" / "config.container.properties")
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
GOOD_CSV = (ROOT / "data" / "GOOG.csv").read_bytes()


def test_token_authorization_is_on_and_cannot_be_switched_off_by_environment() -> None:
    assert CONFIG["disable_token_authorization"] == "false"
    # with envvars config on, TS_DISABLE_TOKEN_AUTHORIZATION=true would override the file
    assert CONFIG.get("enable_envvars_config", "false") == "false"
    assert int(CONFIG["token_expiration_min"]) > 0


def test_versions_are_registered_from_the_model_store_only() -> None:
    assert CONFIG["enable_model_api"] == "true"  # make retrain registers versions
    assert CONFIG["install_py_dep_per_model"] == "false"
    patterns = CONFIG["allowed_urls"].split(",")
    assert patterns == [f"file://{CONFIG['model_store']}/.*"]
    assert CONFIG["load_models"] == "stockcast=stockcast.mar"  # the default promoted last


def test_listens_on_all_container_interfaces_except_grpc() -> None:
    for api in ("inference", "management", "metrics"):
        assert CONFIG[f"{api}_address"].startswith("http://0.0.0.0:"), api
    # gRPC cannot be disabled; it stays on the container's own loopback
    assert CONFIG["grpc_inference_address"] == "127.0.0.1"
    assert CONFIG["grpc_management_address"] == "127.0.0.1"


@pytest.mark.slow
@pytest.mark.integration
class TestServingWithTheContainerConfig:
    def test_the_health_check_passes_with_the_key_file(self, container_torchserve: Any) -> None:
        assert run_healthcheck(container_torchserve.ping_url, container_torchserve.key_file) == 0

    def test_the_health_check_fails_without_a_valid_key(
        self, container_torchserve: Any, tmp_path: Path
    ) -> None:
        forged = tmp_path / "key_file.json"
        forged.write_text('{"inference": {"key": "not-the-key"}}')
        assert run_healthcheck(container_torchserve.ping_url, forged) == 1
        assert run_healthcheck(container_torchserve.ping_url, tmp_path / "missing.json") == 1

    def test_ping_and_predictions_need_the_inference_key(self, container_torchserve: Any) -> None:
        ping = container_torchserve.ping_url
        predict = ping.replace("/ping", "/predictions/stockcast")
        assert requests.get(ping, timeout=10).status_code == 400
        assert requests.post(predict, data=GOOD_CSV, timeout=30).status_code == 400
        key = {"Authorization": f"Bearer {container_torchserve.key('inference')}"}
        response = requests.post(predict, data=GOOD_CSV, headers=key, timeout=30)
        assert response.status_code == 200
        assert response.json()["forecast"]

    def test_a_version_is_registered_and_made_default_only_with_the_management_key(
        self, container_torchserve: Any, second_version: str
    ) -> None:
        server = container_torchserve
        models = f"{server.management_url}/models"
        register = f"{models}?url=stockcast-{second_version}.mar&synchronous=true"
        on_inference_port = register.replace(server.management_url, server.inference_url)
        management = {"Authorization": f"Bearer {server.key('management')}"}
        inference = {"Authorization": f"Bearer {server.key('inference')}"}
        original = server.default_version()
        assert requests.post(register, timeout=10).status_code == 400
        assert requests.post(register, headers=inference, timeout=10).status_code == 400
        assert requests.post(on_inference_port, headers=management, timeout=10).status_code == 400
        assert requests.post(on_inference_port, headers=inference, timeout=10).status_code == 404
        assert requests.post(register, headers=management, timeout=120).status_code == 200
        try:
            predict = f"{server.inference_url}/predictions/stockcast/{second_version}"
            response = requests.post(predict, data=GOOD_CSV, headers=inference, timeout=30)
            assert response.status_code == 200
            assert response.json()["model"]["version"] == second_version
            set_default = f"{models}/stockcast/{second_version}/set-default"
            assert requests.put(set_default, headers=inference, timeout=10).status_code == 400
            assert requests.put(set_default, headers=management, timeout=10).status_code == 200
            assert server.default_version() == second_version
        finally:  # the rest of this module expects the packaged model alone
            requests.put(
                f"{models}/stockcast/{original}/set-default", headers=management, timeout=10
            )
            requests.delete(f"{models}/stockcast/{second_version}", headers=management, timeout=60)

    def test_management_calls_need_the_management_key(self, container_torchserve: Any) -> None:
        models = f"{container_torchserve.management_url}/models"
        assert requests.get(models, timeout=10).status_code == 400
        for kind, status in (("inference", 400), ("management", 200)):
            key = {"Authorization": f"Bearer {container_torchserve.key(kind)}"}
            assert requests.get(models, headers=key, timeout=10).status_code == status, kind

    def test_an_expiring_inference_key_is_renewed_with_the_api_key(
        self, container_torchserve: Any
    ) -> None:
        """The renewal command in docs/deployment.md: the old key stops working, the health check follows."""
        old = container_torchserve.key("inference")
        api_key = {"Authorization": f"Bearer {container_torchserve.key('API')}"}
        renew = f"{container_torchserve.management_url}/token?type=inference"
        assert requests.post(renew, headers=api_key, timeout=10).status_code == 200
        new = container_torchserve.key("inference")
        assert new != old
        ping = container_torchserve.ping_url
        assert (
            requests.get(ping, headers={"Authorization": f"Bearer {old}"}, timeout=10).status_code
            == 400
        )
        assert (
            requests.get(ping, headers={"Authorization": f"Bearer {new}"}, timeout=10).status_code
            == 200
        )
        assert run_healthcheck(ping, container_torchserve.key_file) == 0

    def test_a_killed_worker_is_replaced_and_raises_the_restart_alert(
        self, container_torchserve: Any, container_prometheus: Any
    ) -> None:
        victim = container_torchserve.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        try:
            container_prometheus.wait_for(
                lambda: any(
                    alert["labels"]["alertname"] == "StockcastWorkerRestarted"
                    for alert in container_prometheus.alerts("firing")
                ),
                60,
                "StockcastWorkerRestarted to fire",
            )
        finally:
            container_torchserve.wait_ready(120)
        replacement = set(container_torchserve.worker_pids()) - {victim}

        def reported() -> set[int]:
            series = container_prometheus.query("stockcast_worker_resident_memory_bytes")
            return {int(one["metric"]["WorkerPid"]) for one in series}

        # the new worker's first lines go out within the handler's flush interval, and
        # Prometheus sees them at its next scrape
        container_prometheus.wait_for(
            lambda: replacement <= reported(), 30, "the new worker's memory series"
        )


@pytest.mark.slow
@pytest.mark.integration
def test_allowed_urls_refuses_archives_from_anywhere_but_the_model_store(
    container_torchserve: Any,
) -> None:
    """With the model API on (make retrain registers versions), the management key still cannot
    make TorchServe fetch an archive from the network or read a file outside the store."""
    key = {"Authorization": f"Bearer {container_torchserve.key('management')}"}

    def register(url: str, name: str) -> requests.Response:
        params = {"url": url, "model_name": name, "initial_workers": 0}
        return requests.post(
            f"{container_torchserve.management_url}/models", params=params, headers=key, timeout=60
        )

    for url in ("http://example.com/x.mar", "https://127.0.0.1:1/x.mar", "file:///etc/passwd"):
        response = register(url, "intruder")
        assert response.status_code == 404, url  # TorchServe's status for a refused URL
        assert "does not match any allowed URL" in response.json()["message"], response.text
    assert register("stockcast.mar", "copy").status_code == 200  # the store itself is allowed
    requests.delete(f"{container_torchserve.management_url}/models/copy", headers=key, timeout=60)


def run_healthcheck(ping_url: str, key_file: Path) -> int:
    command = [sys.executable, str(HEALTHCHECK), ping_url, str(key_file)]
    return subprocess.run(command, timeout=30).returncode
