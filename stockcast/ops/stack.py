"""The local serving stack behind `make run` / `make stop` (CLI: scripts/stack.py).

    up      train (or reuse the last run) -> package -> (re)start TorchServe, the upload page and,
            when the binary exists, Prometheus in the background -> forecast the sample
    serve   the same (re)start on the model store as it is, without training or packaging:
            model_store/stockcast.mar is the default that `make retrain` / `make rollback` left
    down    stop them
    status  what is running, and where

`up` always restarts what a previous `up` left running, so it serves the archive it just built.
Process ids live in `.run/*.pid`, TorchServe's logs in `.run/torchserve/logs/`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil

from stockcast.ops.layout import MODEL_NAME, ProjectLayout
from stockcast.ops.local_torchserve import (
    HOST,
    LocalTorchServe,
    Ports,
    page_origin,
    page_url,
    port_in_use,
    process_exists,
    start_page_server,
    stop_process_group,
)
from stockcast.ops.packaging import build_mar, latest_run
from stockcast.ops.prometheus import LocalPrometheus, scrape_config
from stockcast.ops.versions import archive_version

PROMETHEUS_PORT = 9090
PROMETHEUS_URL = f"http://{HOST}:{PROMETHEUS_PORT}"
PAGE_PORT = 8090
PORTS = Ports()  # 8080 inference, 8081 management, 8082 metrics (serving/config.properties)
# pid file name -> a word of the command line that proves the pid is still ours
PID_FILES = {
    "torchserve.pid": "torchserve",
    "web.pid": "http.server",
    "prometheus.pid": "prometheus",
}


def ensure_trained_run(layout: ProjectLayout) -> Path:
    run = latest_run(layout.runs_dir)
    if run is None:
        print("no trained run under outputs/train/runs/: training one on the bundled sample")
        subprocess.run([sys.executable, "train.py"], cwd=layout.root, check=True)
        run = latest_run(layout.runs_dir)
        if run is None:
            raise RuntimeError("training finished but wrote no artifact/")
    return run


def up(layout: ProjectLayout) -> int:
    run = ensure_trained_run(layout)
    print(f"run:     {run}")
    mar = build_mar(layout, run, layout.model_store)
    print(f"archive: {mar}")
    return start(layout)


def serve(layout: ProjectLayout) -> int:
    """Restart the stack on the archive the model store holds (the version promoted last)."""
    mar = layout.model_store / f"{MODEL_NAME}.mar"
    if not mar.is_file():
        raise RuntimeError(f"no {mar}: `make run` trains and packages one")
    print(f"archive: {mar} (version {archive_version(mar)})")
    return start(layout)


def start(layout: ProjectLayout) -> int:
    """(Re)start TorchServe, the upload page and Prometheus on the model store; forecast the sample."""
    down(layout, quiet=True)
    state = layout.state_dir
    state.mkdir(exist_ok=True)
    page = start_page_server(layout.web_dir, PAGE_PORT, state / "web.log")
    (state / "web.pid").write_text(str(page.pid))
    print("starting TorchServe (about 10-20 s)...")
    server = LocalTorchServe.start(
        layout,
        layout.model_store,
        state / "torchserve",
        ports=PORTS,
        cors_origin=page_origin(PAGE_PORT),
    )
    (state / "torchserve.pid").write_text(str(server.pid))
    start_prometheus(layout, server)
    request = urllib.request.Request(
        server.prediction_url,
        data=layout.sample_csv.read_bytes(),
        headers={"Content-Type": "text/csv"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        forecast = json.loads(response.read())
    print(f"\nPOST {layout.sample_csv.relative_to(layout.root)} -> {server.prediction_url}")
    print(json.dumps(forecast, indent=2))
    print_urls(layout, server)
    return 0


def start_prometheus(layout: ProjectLayout, server: LocalTorchServe) -> LocalPrometheus | None:
    """Prometheus scraping the local TorchServe (alert rules included), if the binary exists."""
    if shutil.which("prometheus") is None:
        return None
    if port_in_use(PROMETHEUS_PORT):
        print(f"prometheus: port {PROMETHEUS_PORT} is taken; not starting a second one")
        return None
    config = scrape_config(layout, f"{HOST}:{server.ports.metrics}", f"{HOST}:{PROMETHEUS_PORT}")
    prometheus = LocalPrometheus(layout.state_dir / "prometheus", PROMETHEUS_PORT, config)
    prometheus.start(wait=False)
    (layout.state_dir / "prometheus.pid").write_text(str(prometheus.process.pid))
    return prometheus


def print_urls(layout: ProjectLayout, server: LocalTorchServe) -> None:
    prometheus = _owned_pid(layout.state_dir / "prometheus.pid", "prometheus")
    print(
        f"""
upload page:  {page_url(PAGE_PORT, server.inference_url)}
predictions:  {server.prediction_url}
              curl -T data/GOOG.csv {server.prediction_url}
              curl -F data=@data/GOOG.csv {server.prediction_url}
management:   {server.management_url}/models/{server.model_name}
metrics:      {server.metrics_url}
prometheus:   {PROMETHEUS_URL if prometheus else "not running (needs the prometheus binary)"}
logs:         {server.log_dir}
stop with:    make stop"""
    )


def down(layout: ProjectLayout, quiet: bool = False) -> int:
    """Stop what `up` started; a stale pid file (process gone or pid reused) is just removed."""
    for name, marker in PID_FILES.items():
        pid_file = layout.state_dir / name
        pid = _owned_pid(pid_file, marker)
        if pid is not None:
            stop_process_group(pid)
            if not quiet:
                print(f"stopped {marker} (process group {pid})")
        pid_file.unlink(missing_ok=True)
    return 0


def status(layout: ProjectLayout) -> int:
    pid = _owned_pid(layout.state_dir / "torchserve.pid", "torchserve")
    if pid is None:
        print("TorchServe: not running (make run starts it)")
        return 1
    server = LocalTorchServe(PORTS, pid, layout.state_dir / "torchserve")
    try:
        workers = server.describe()["workers"]
    except (OSError, ValueError) as error:
        print(f"TorchServe: process {pid} is up but the management API does not answer: {error}")
        return 1
    print(
        f"TorchServe: process group {pid}, workers "
        + ", ".join(f"{w['pid']} {w['status']}" for w in workers)
    )
    page_pid = _owned_pid(layout.state_dir / "web.pid", "http.server")
    print(f"upload page: {'process ' + str(page_pid) if page_pid else 'not running'}")
    print_urls(layout, server)
    return 0


def _owned_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in `pid_file` if that process is alive and still the one we started."""
    try:
        pid = int(pid_file.read_text())
        command = " ".join(psutil.Process(pid).cmdline())
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return None
    return pid if marker in command and process_exists(pid) else None
