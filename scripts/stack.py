"""The local serving stack behind `make run` / `make stop`.

    python scripts/stack.py up      train (or reuse the last run) -> package -> (re)start TorchServe
                                    and the upload page in the background -> forecast the sample
    python scripts/stack.py down    stop both
    python scripts/stack.py status  what is running, and where

`up` always restarts what a previous `up` left running, so it serves the archive it just built.
Process ids live in .run/*.pid, TorchServe's logs in .run/torchserve/logs/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil

from stockcast.local_torchserve import (
    REPO_ROOT,
    LocalTorchServe,
    Ports,
    page_origin,
    page_url,
    port_in_use,
    process_exists,
    start_page_server,
    stop_process_group,
)
from stockcast.packaging import build_mar, latest_run

MODEL_STORE = REPO_ROOT / "model_store"
STATE_DIR = REPO_ROOT / ".run"
TORCHSERVE_PID = STATE_DIR / "torchserve.pid"
PAGE_PID = STATE_DIR / "web.pid"
PROMETHEUS_PID = STATE_DIR / "prometheus.pid"
PROMETHEUS_CONFIG = REPO_ROOT / "monitoring" / "prometheus" / "prometheus.local.yml"
PROMETHEUS_URL = "http://127.0.0.1:9090"
PAGE_PORT = 8090
SAMPLE_CSV = REPO_ROOT / "data" / "GOOG.csv"
PORTS = Ports()  # 8080 inference, 8081 management, 8082 metrics (serving/config.properties)


def ensure_trained_run() -> Path:
    run = latest_run()
    if run is None:
        print("no trained run under outputs/train/runs/: training one on the bundled sample")
        subprocess.run([sys.executable, "train.py"], cwd=REPO_ROOT, check=True)
        run = latest_run()
        if run is None:
            raise RuntimeError("training finished but wrote no artifact/")
    return run


def up() -> int:
    run = ensure_trained_run()
    print(f"run:     {run}")
    mar = build_mar(run, MODEL_STORE)
    print(f"archive: {mar}")
    down(quiet=True)
    STATE_DIR.mkdir(exist_ok=True)
    page = start_page_server(PAGE_PORT, STATE_DIR / "web.log")
    PAGE_PID.write_text(str(page.pid))
    print("starting TorchServe (about 10-20 s)...")
    server = LocalTorchServe.start(
        MODEL_STORE, STATE_DIR / "torchserve", ports=PORTS, cors_origin=page_origin(PAGE_PORT)
    )
    TORCHSERVE_PID.write_text(str(server.pid))
    start_prometheus()
    request = urllib.request.Request(
        server.prediction_url,
        data=SAMPLE_CSV.read_bytes(),
        headers={"Content-Type": "text/csv"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        forecast = json.loads(response.read())
    print(f"\nPOST {SAMPLE_CSV.relative_to(REPO_ROOT)} -> {server.prediction_url}")
    print(json.dumps(forecast, indent=2))
    print_urls(server)
    return 0


def start_prometheus() -> subprocess.Popen | None:
    """Prometheus scraping the local TorchServe (alert rules included), if the binary exists."""
    binary = shutil.which("prometheus")
    if binary is None:
        return None
    if port_in_use(9090):
        print(f"prometheus: port 9090 is taken; not starting a second one ({PROMETHEUS_URL})")
        return None
    with open(STATE_DIR / "prometheus.log", "ab") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={PROMETHEUS_CONFIG}",
                f"--storage.tsdb.path={STATE_DIR / 'prometheus'}",
                "--web.listen-address=127.0.0.1:9090",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    PROMETHEUS_PID.write_text(str(process.pid))
    return process


def print_urls(server: LocalTorchServe) -> None:
    print(
        f"""
upload page:  {page_url(PAGE_PORT, server.inference_url)}
predictions:  {server.prediction_url}
              curl -T data/GOOG.csv {server.prediction_url}
              curl -F data=@data/GOOG.csv {server.prediction_url}
management:   {server.management_url}/models/{server.model_name}
metrics:      {server.metrics_url}
prometheus:   {PROMETHEUS_URL if _owned_pid(PROMETHEUS_PID, "prometheus") else "not running (needs the prometheus binary)"}
logs:         {server.log_dir}
stop with:    make stop"""
    )


def down(quiet: bool = False) -> int:
    """Stop what `up` started; a stale pid file (process gone or pid reused) is just removed."""
    for pid_file, marker in (
        (TORCHSERVE_PID, "torchserve"),
        (PAGE_PID, "http.server"),
        (PROMETHEUS_PID, "prometheus"),
    ):
        pid = _owned_pid(pid_file, marker)
        if pid is not None:
            stop_process_group(pid)
            if not quiet:
                print(f"stopped {marker} (process group {pid})")
        pid_file.unlink(missing_ok=True)
    return 0


def status() -> int:
    pid = _owned_pid(TORCHSERVE_PID, "torchserve")
    if pid is None:
        print("TorchServe: not running (make run starts it)")
        return 1
    server = LocalTorchServe(PORTS, pid, STATE_DIR / "torchserve")
    try:
        workers = server.describe()["workers"]
    except (OSError, ValueError) as error:
        print(f"TorchServe: process {pid} is up but the management API does not answer: {error}")
        return 1
    print(
        f"TorchServe: process group {pid}, workers "
        + ", ".join(f"{w['pid']} {w['status']}" for w in workers)
    )
    page_pid = _owned_pid(PAGE_PID, "http.server")
    print(f"upload page: {'process ' + str(page_pid) if page_pid else 'not running'}")
    print_urls(server)
    return 0


def _owned_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in `pid_file` if that process is alive and still the one we started."""
    try:
        pid = int(pid_file.read_text())
        command = " ".join(psutil.Process(pid).cmdline())
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return None
    return pid if marker in command and process_exists(pid) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the local serving stack (make run / make stop)")
    parser.add_argument("command", choices=("up", "down", "status"))
    command = parser.parse_args(argv).command
    try:
        return {"up": up, "down": down, "status": status}[command]()
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        if command == "up":
            down(quiet=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
