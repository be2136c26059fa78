"""Monitoring and deployment fixtures: dashboard queries, a real Prometheus, and a TorchServe
running the container's own configuration on loopback.

Helpers live here rather than in importable modules because the suite runs with
`--import-mode=importlib`, where test modules cannot import their siblings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from stockcast.app.layout import ProjectLayout
from stockcast.stack.prometheus import LocalPrometheus, scrape_config
from stockcast.stack.torchserve import Ports, free_port, read_properties, stop_process_group

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
DASHBOARD_DIR = ROOT / "monitoring" / "grafana" / "dashboards"
CONTAINER_CONFIG = ROOT / "torchserve" / "config.container.properties"
METRICS_CONFIG = LAYOUT.metrics_config
# Grafana's built-in range variables; the dashboards may use these and nothing else.
GRAFANA_RANGE_VARIABLE = re.compile(r"\$(__rate_interval|__interval|__range)\b")


# --- the image recipe, read as Docker reads it -----------------------------------------------------


@dataclass(frozen=True)
class ImageRecipe:
    """deploy/Dockerfile's COPY instructions from the build context: where each file lands.
    (What the image does with them is tested on the built image, tests/deploy/.)"""

    copies: dict[str, str]  # destination in the image -> source in the build context

    @classmethod
    def read(cls, dockerfile: Path) -> ImageRecipe:
        lines = dockerfile.read_text().replace("\\\n", " ").splitlines()
        copies = {}
        for line in lines:
            words = line.split()
            if words[:1] != ["COPY"] or any(word.startswith("--from") for word in words):
                continue
            *sources, destination = [word for word in words[1:] if not word.startswith("--")]
            for source in sources:
                copies[destination] = source
        return cls(copies)


@pytest.fixture(scope="session")
def image_recipe() -> ImageRecipe:
    return ImageRecipe.read(ROOT / "deploy" / "Dockerfile")


# --- dashboards ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    def promql(self, rate_interval: str) -> str:
        """The query Prometheus would get, with Grafana's range variables set to `rate_interval`."""
        resolved = GRAFANA_RANGE_VARIABLE.sub(rate_interval, self.expr)
        if "$" in resolved:
            raise ValueError(f"{self}: uses a variable no dashboard defines")
        return resolved

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} [{self.ref_id}]"


@pytest.fixture(scope="session")
def dashboards() -> dict[Path, dict[str, Any]]:
    """Every provisioned dashboard, by file."""
    found = {path: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}
    assert found, f"no dashboards in {DASHBOARD_DIR}"
    return found


@pytest.fixture(scope="session")
def dashboard_panels(dashboards: dict[Path, dict[str, Any]]) -> dict[Path, list[dict[str, Any]]]:
    """Panels that draw data (all but rows, including panels inside collapsed rows), by file."""
    panels: dict[Path, list[dict[str, Any]]] = {}
    for path, dashboard in dashboards.items():
        panels[path] = []
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                panels[path].extend(panel.get("panels", []))
            else:
                panels[path].append(panel)
    return panels


@pytest.fixture(scope="session")
def panel_queries(
    dashboards: dict[Path, dict[str, Any]], dashboard_panels: dict[Path, list[dict[str, Any]]]
) -> list[PanelQuery]:
    """Every query of every panel, in dashboard order."""
    return [
        PanelQuery(dashboards[path]["title"], panel["title"], target["refId"], target["expr"])
        for path, panels in dashboard_panels.items()
        for panel in panels
        for target in panel["targets"]
    ]


# --- Prometheus ---------------------------------------------------------------------------------


def running_prometheus(metrics_url: str, workdir: Path) -> Iterator[LocalPrometheus]:
    """A Prometheus scraping `metrics_url` every second, once it has scraped it successfully."""
    target = urlsplit(metrics_url).netloc
    port = free_port()
    config = scrape_config(LAYOUT, target, f"127.0.0.1:{port}", interval="1s")
    server = LocalPrometheus(workdir, port, config).start()
    try:
        up = f'up{{job="torchserve", instance="{target}"}} == 1'
        server.wait_for(lambda: server.query(up), 30, f"a first successful scrape of {target}")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def prometheus(
    torchserve: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPrometheus]:
    """Prometheus watching the session's TorchServe (loopback config, token auth off)."""
    yield from running_prometheus(torchserve.metrics_url, tmp_path_factory.mktemp("prometheus"))


# --- TorchServe with the container's config.properties -----------------------------------------


def loopback_container_config(
    destination: Path,
    ports: Ports,
    model_store: Path,
    metrics_config: Path = METRICS_CONFIG,
    **overrides: str,
) -> dict[str, str]:
    """torchserve/config.container.properties with loopback addresses and host paths; every other setting
    (token auth, model API, allowed URLs, metrics) exactly as the container runs it, unless a
    test names it in `overrides`."""
    properties = read_properties(CONTAINER_CONFIG)
    container_store = properties["model_store"]
    properties.update(
        **ports.settings(),
        model_store=str(model_store),
        metrics_config=str(metrics_config),
        allowed_urls=properties["allowed_urls"].replace(container_store, str(model_store)),
    )
    properties.update(overrides)
    destination.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return properties


@dataclass
class ContainerTorchServe:
    """A TorchServe started like the container's CMD, from `workdir` (where key_file.json lands)."""

    workdir: Path
    ports: Ports
    properties: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def inference_url(self) -> str:
        return self.ports.url("inference")

    @property
    def ping_url(self) -> str:
        return f"{self.inference_url}/ping"

    @property
    def management_url(self) -> str:
        return self.ports.url("management")

    @property
    def metrics_url(self) -> str:
        return f"{self.ports.url('metrics')}/metrics"

    @property
    def key_file(self) -> Path:
        return self.workdir / "key_file.json"

    def key(self, kind: str) -> str:
        """The current `inference`, `management` or `API` token."""
        return json.loads(self.key_file.read_text())[kind]["key"]

    def describe(self) -> dict[str, Any]:
        """The management API's description of the default version (needs the management key)."""
        url = f"{self.management_url}/models/stockcast"
        headers = {"Authorization": f"Bearer {self.key('management')}"}
        return requests.get(url, headers=headers, timeout=5).json()[0]

    def workers(self) -> list[dict[str, Any]]:
        return self.describe()["workers"]

    def default_version(self) -> str:
        return self.describe()["modelVersion"]

    def worker_pids(self) -> list[int]:
        return [int(worker["pid"]) for worker in self.workers()]

    def ready(self) -> bool:
        """Every worker loaded the model; raises if TorchServe died."""
        if self.process.poll() is not None:
            raise RuntimeError(f"TorchServe exited:\n{self.log_tail()}")
        if not self.key_file.is_file():
            return False
        try:
            workers = self.workers()
        except (requests.ConnectionError, ValueError, KeyError, IndexError):
            return False
        return bool(workers) and all(worker["status"] == "READY" for worker in workers)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"TorchServe not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self) -> str:
        log = self.workdir / "torchserve.out"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def running_container_torchserve(
    model_store: Path, workdir: Path, **overrides: str
) -> Iterator[ContainerTorchServe]:
    """TorchServe under the loopback container config (plus `overrides`), once it is ready."""
    (workdir / "tmp").mkdir()
    ports = Ports.free()
    config = workdir / "config.properties"
    properties = loopback_container_config(config, ports, model_store, **overrides)
    env = {**os.environ, "TMPDIR": str(workdir / "tmp"), "TEMP": str(workdir / "tmp")}
    with (workdir / "torchserve.out").open("wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("torchserve")),
                *("--start", "--foreground", "--ncs", "--ts-config", str(config)),
            ],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ContainerTorchServe(workdir, ports, properties, process)
    try:
        server.wait_ready(180)
        yield server
    finally:
        stop_process_group(process.pid)
        process.wait(timeout=30)


SECOND_VERSION = "2.0-candidate"


def archive_as_version(mar: Path, destination: Path, version: str) -> Path:
    """A copy of `mar` whose manifest names another version: a second version to register."""
    with zipfile.ZipFile(mar) as source, zipfile.ZipFile(destination, "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                manifest["model"]["modelVersion"] = version
                data = json.dumps(manifest).encode()
            copy.writestr(item, data)
    return destination


@pytest.fixture(scope="session")
def second_version() -> str:
    """The version under which `container_torchserve`'s store also holds the packaged model."""
    return SECOND_VERSION


@pytest.fixture(scope="module")
def container_torchserve(
    packaged_mar: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ContainerTorchServe]:
    """The packaged model behind torchserve/config.container.properties (token auth on), on free loopback ports,
    with a model store of its own that also holds the same model as `SECOND_VERSION`."""
    store = tmp_path_factory.mktemp("container_model_store")
    shutil.copy2(packaged_mar, store / packaged_mar.name)
    archive_as_version(packaged_mar, store / f"stockcast-{SECOND_VERSION}.mar", SECOND_VERSION)
    workdir = tmp_path_factory.mktemp("container_torchserve")
    yield from running_container_torchserve(store, workdir)


@pytest.fixture(scope="module")
def container_prometheus(
    container_torchserve: ContainerTorchServe, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPrometheus]:
    """Prometheus watching the container-config TorchServe, as the compose stack does."""
    workdir = tmp_path_factory.mktemp("container_prometheus")
    yield from running_prometheus(container_torchserve.metrics_url, workdir)


@pytest.fixture(scope="module")
def image_prometheus(
    image_container: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPrometheus]:
    """Prometheus watching the serving image (token auth on, its built-in model), as compose does."""
    workdir = tmp_path_factory.mktemp("image_prometheus")
    yield from running_prometheus(image_container.metrics_url, workdir)
