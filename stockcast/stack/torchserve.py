"""Start, probe and stop a loopback-only TorchServe. `make run` (scripts/stack.py), the benchmarks and
the test fixtures share this code.

torchserve/config.properties is the single source of the server's settings; an instance only
overrides where it listens, where it keeps state, and which origin may call it from a browser.
Each instance runs `torchserve --foreground` in its own process group with its own TMPDIR
(TorchServe keeps a global pid file there and refuses a second server otherwise), so a test
session's server and a `make run` server can coexist, and stopping one kills its Java process and
Python workers together.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from stockcast.app.layout import ProjectLayout, read_properties

HOST = "127.0.0.1"


def free_port() -> int:
    """A port the kernel just handed out on loopback (bind port 0), free at the time of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def address_port(url: str) -> int:
    """The port of an address such as http://127.0.0.1:8080."""
    port = urlsplit(url).port
    if port is None:
        raise ValueError(f"{url} names no port")
    return port


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((HOST, port)) == 0


@dataclass(frozen=True)
class Ports:
    """Every port a TorchServe binds. gRPC cannot be switched off, only moved, and nothing here
    uses it, so it always gets free ports rather than contend for 7070/7071 with other servers."""

    inference: int
    management: int
    metrics: int
    grpc_inference: int = field(default_factory=free_port)
    grpc_management: int = field(default_factory=free_port)

    @classmethod
    def configured(cls, layout: ProjectLayout) -> Ports:
        """The ports of the three addresses in torchserve/config.properties: `make run`'s."""
        properties = read_properties(layout.serving_config)
        return cls(
            *(
                address_port(properties[f"{api}_address"])
                for api in ("inference", "management", "metrics")
            )
        )

    @classmethod
    def free(cls) -> Ports:
        """All ports picked by the kernel: for servers that must not clash with `make run`."""
        return cls(free_port(), free_port(), free_port())

    def all(self) -> list[int]:
        return [getattr(self, f.name) for f in fields(self)]

    def url(self, api: str) -> str:
        """`http://127.0.0.1:<port>` of the `inference`, `management` or `metrics` API."""
        return f"http://{HOST}:{getattr(self, api)}"

    def settings(self) -> dict[str, str]:
        """The config.properties lines that put a TorchServe on these loopback ports."""
        return {
            **{f"{api}_address": self.url(api) for api in ("inference", "management", "metrics")},
            "grpc_inference_port": str(self.grpc_inference),
            "grpc_management_port": str(self.grpc_management),
        }


@dataclass
class LocalTorchServe:
    """A running TorchServe serving `model_name` from `model_store`, and how to reach it."""

    ports: Ports
    pid: int  # the `torchserve --foreground` launcher; also its process group id
    state_dir: Path
    model_name: str
    host: str = HOST
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def inference_url(self) -> str:
        return f"http://{self.host}:{self.ports.inference}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.ports.management}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.ports.metrics}/metrics"

    @property
    def prediction_url(self) -> str:
        return f"{self.inference_url}/predictions/{self.model_name}"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @classmethod
    def start(
        cls,
        layout: ProjectLayout,
        model_store: Path,
        state_dir: Path,
        ports: Ports | None = None,
        cors_origin: str | None = None,
        model_name: str | None = None,
        timeout_s: float = 180.0,
    ) -> LocalTorchServe:
        """Launch TorchServe with `<model_store>/<model_name>.mar` (default: the layout's model
        name) and wait for ready workers; `ports` default to the configured ones."""
        ports = ports or Ports.configured(layout)
        model_name = model_name or layout.model_name
        busy = [port for port in ports.all() if port_in_use(port)]
        if busy:
            raise RuntimeError(f"port(s) {busy} on {HOST} are taken by another process")
        state_dir = Path(state_dir).resolve()
        (state_dir / "tmp").mkdir(parents=True, exist_ok=True)
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        config = write_config(
            layout, state_dir / "config.properties", ports, Path(model_store), cors_origin
        )
        env = {
            **os.environ,
            "TMPDIR": str(state_dir / "tmp"),  # TorchServe's pid file lives here
            "TEMP": str(state_dir / "tmp"),  # Java's tmpdir: where archives are unpacked
            "LOG_LOCATION": str(state_dir / "logs"),
            "METRICS_LOCATION": str(state_dir / "logs"),
        }
        with open(state_dir / "logs" / "torchserve.out", "ab") as out:
            process = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("torchserve")),
                    "--start",
                    "--foreground",
                    "--no-config-snapshots",  # start from config, never from a stale snapshot
                    "--ts-config",
                    str(config),
                    "--log-config",
                    str(layout.log_config),
                    "--model-store",
                    str(Path(model_store).resolve()),
                    "--models",
                    f"{model_name}={model_name}.mar",
                ],
                cwd=layout.root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = cls(ports, process.pid, state_dir, model_name, process=process)
        try:
            server.wait_ready(timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    def wait_ready(self, timeout_s: float) -> None:
        """Block until every configured worker is READY; raise with the log tail otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"TorchServe exited during start-up:\n{self.log_tail()}")
            try:
                description = self.describe()
            except (OSError, ValueError):
                description = None
            if description:
                workers = description.get("workers", [])
                ready = [w for w in workers if w.get("status") == "READY"]
                if workers and len(ready) >= description.get("minWorkers", 1):
                    return
            time.sleep(0.5)
        raise TimeoutError(f"TorchServe not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def describe(self) -> dict:
        """The management API's description of the model (workers, batch settings, version)."""
        url = f"{self.management_url}/models/{self.model_name}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())[0]

    def worker_pids(self) -> list[int]:
        return [int(worker["pid"]) for worker in self.describe()["workers"]]

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return process_exists(self.pid)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM the whole process group (launcher, Java, workers), SIGKILL what lingers."""
        stop_process_group(self.pid, timeout_s)
        if self.process is not None:
            self.process.wait(timeout=timeout_s)  # reap the launcher we started

    def log_tail(self, lines: int = 40) -> str:
        chunks = []
        for name in ("torchserve.out", "ts_log.log", "model_log.log"):
            path = self.log_dir / name
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                chunks.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(chunks) or f"(no logs in {self.log_dir})"


def write_config(
    layout: ProjectLayout,
    destination: Path,
    ports: Ports,
    model_store: Path,
    cors_origin: str | None,
) -> Path:
    """torchserve/config.properties with this instance's addresses and absolute paths."""
    properties = read_properties(layout.serving_config)
    properties.update(
        **ports.settings(),
        metrics_config=str((layout.root / properties["metrics_config"]).resolve()),
        model_store=str(model_store.resolve()),
        # the model API registers archives from this store only, never from a URL elsewhere
        allowed_urls=f"file://{model_store.resolve()}/.*",
    )
    if cors_origin:
        properties["cors_allowed_origin"] = cors_origin
    lines = [f"# generated from {layout.serving_config}"] + [
        f"{k}={v}" for k, v in properties.items()
    ]
    destination.write_text("\n".join(lines) + "\n")
    return destination


def process_exists(pid: int) -> bool:
    """True for a live process (a zombie waiting to be reaped does not count)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_process_group(pgid: int, timeout_s: float = 30.0) -> None:
    """Terminate a process group; escalate to SIGKILL for members alive after `timeout_s`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not group_members(pgid):
                return
            time.sleep(0.2)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group."""
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return members
