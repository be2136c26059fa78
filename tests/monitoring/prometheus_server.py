"""A real Prometheus (the Debian binary) on a free loopback port, for tests.

It runs the repository's local scrape config with only what a test must change: the TorchServe
target (the fixture's free port), a 1 s scrape/evaluation interval so a short test sees data, and
absolute rule paths. Storage lives in a tmp dir and the process is stopped on exit.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
LOCAL_CONFIG = ROOT / "monitoring" / "prometheus" / "prometheus.local.yml"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape_config_for_test(
    torchserve_target: str, listen: str, interval: str = "1s"
) -> dict[str, Any]:
    """prometheus.local.yml pointed at `torchserve_target`, self-scrape at `listen`."""
    config = yaml.safe_load(LOCAL_CONFIG.read_text())
    config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(LOCAL_CONFIG.parent / pattern) for pattern in config["rule_files"]]
    targets = {"torchserve": torchserve_target, "prometheus": listen}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return config


class PrometheusServer:
    """`with PrometheusServer(workdir, target) as prom:` starts Prometheus and waits until ready."""

    def __init__(self, workdir: Path, torchserve_target: str, interval: str = "1s") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = scrape_config_for_test(torchserve_target, f"127.0.0.1:{self.port}", interval)
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrometheusServer:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus not on PATH: `make system-deps` installs it")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(self.config))
        self.log = self.workdir / "prometheus.log"
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready(timeout=30)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise TimeoutError(
            f"prometheus not ready after {timeout}s:\n{self.log.read_text()[-3000:]}"
        )

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query at now; the result vector (empty when nothing matches)."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise ValueError(f"{promql!r}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]["result"]

    def targets_up(self, job: str) -> bool:
        return any(float(s["value"][1]) == 1 for s in self.query(f'up{{job="{job}"}}'))

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Prometheus currently holds (pending or firing)."""
        response = requests.get(f"{self.url}/api/v1/alerts", timeout=10)
        return response.json()["data"]["alerts"]
