"""A local Prometheus (the Debian binary) scraping a local TorchServe, with the alert rules.

`make run` starts one from monitoring/prometheus/prometheus.local.yml, on the port its own scrape
job names; the monitoring tests start one on a free port, scraping every second, and query it.
Both go through this class, so the rules and scrape jobs they run are the ones the repository
ships.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from stockcast.app.layout import ProjectLayout
from stockcast.stack.torchserve import HOST, stop_process_group


def configured_port(layout: ProjectLayout) -> int:
    """The port prometheus.local.yml's `prometheus` job scrapes Prometheus itself on: where
    `make run` starts it."""
    config = yaml.safe_load(layout.prometheus_local_config.read_text())
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == "prometheus"]
    [target] = job["static_configs"][0]["targets"]
    return int(target.rpartition(":")[2])


def scrape_config(
    layout: ProjectLayout, torchserve_target: str, listen: str, interval: str | None = None
) -> dict[str, Any]:
    """prometheus.local.yml with absolute rule paths and the given targets (and interval)."""
    source = layout.prometheus_local_config
    config = yaml.safe_load(source.read_text())
    if interval is not None:
        config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(source.parent / pattern) for pattern in config["rule_files"]]
    targets = {"torchserve": torchserve_target, "prometheus": listen}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return config


class LocalPrometheus:
    """Prometheus on `HOST:port`, its config, storage and log in `workdir`."""

    def __init__(self, workdir: Path, port: int, config: dict[str, Any]) -> None:
        self.workdir = Path(workdir)
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.config = config
        self.log = self.workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30, wait: bool = True) -> LocalPrometheus:
        """Launch in its own process group; with `wait`, block until `/-/ready` answers."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not on PATH: `make system-deps` installs it")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(self.config))
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address={HOST}:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            try:
                self.wait_for(self.ready, timeout_s, "Prometheus to become ready")
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process_group(self.process.pid, timeout_s=15)
        self.process.wait(timeout=15)
        self.process = None

    def ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited:\n{self.log_tail()}")
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def wait_for(self, condition: Callable[[], object], timeout_s: float, what: str) -> None:
        """Poll `condition()` until it is truthy; fail with Prometheus's log tail otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.25)
        raise TimeoutError(f"gave up waiting for {what} after {timeout_s}s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query at now: the result vector, empty when nothing matches."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise ValueError(f"{promql!r}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]["result"]

    def alerts(self, state: str = "firing") -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v1/alerts", timeout=10)
        return [a for a in response.json()["data"]["alerts"] if a["state"] == state]
