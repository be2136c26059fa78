"""The local serving stack behind `make run` / `make stop` (CLI: scripts/stack.py).

    up      choose the run -> reuse its archive or package it -> (re)start TorchServe, the upload
            page and, when the binary exists, Prometheus in the background -> forecast the sample
    serve   the same (re)start without training or packaging, on the model store synced from
            the model registry: model_store/stockcast.mar is its champion, the version
            `make retrain` / `make rollback` left the default
    down    stop them
    status  what is running, and where

Which run `up` serves, printed first as `serving run: <path> (version ...)`: the one named
(`make run RUN=<run>`); else the archive in model_store/ when it was packaged after the newest
complete, non-debug run completed (so `make package RUN=<run>; make run` serves that run); else
that newest run (by completion time, from run.json: a `debug=fast` smoke test or a failed run is
never picked); with no run at all, one is trained on the bundled sample. An archive that already
holds exactly what packaging the run would give is reused, not rebuilt.

`up` always restarts what a previous `up` left running, so it serves the archive it chose, and
makes that version the registry's champion (stockcast/release/registry.py: registered with its
archive and evaluated twin, `previous` cleared, since no rule replaced anything).
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

from stockcast.app.layout import ProjectLayout
from stockcast.app.tracking import tracking_uri
from stockcast.errors import StockcastError
from stockcast.release.packaging import (
    SOURCE_FILE,
    ArchiveSource,
    archive_is_current,
    archive_source,
    artifact_dir,
    build_mar,
    newest_servable_run,
)
from stockcast.release.registry import Registry
from stockcast.release.versions import archive_version
from stockcast.stack import prometheus, upload_page
from stockcast.stack.prometheus import LocalPrometheus, scrape_config
from stockcast.stack.torchserve import (
    HOST,
    LocalTorchServe,
    Ports,
    port_in_use,
    process_exists,
    stop_process_group,
)
from stockcast.stack.upload_page import page_origin, page_url, start_page_server

# pid file name -> a word of the command line that proves the pid is still ours
PID_FILES = {
    "torchserve.pid": "torchserve",
    "web.pid": "http.server",
    "prometheus.pid": "prometheus",
}


def default_archive(layout: ProjectLayout) -> Path:
    """model_store/<model name>.mar: the archive `make run` serves."""
    return layout.model_store / f"{layout.model_name}.mar"


def choose_run(layout: ProjectLayout, requested: Path | None = None) -> tuple[Path, str]:
    """The run `up` serves and why (see the module docstring); trains one when there is none."""
    if requested is not None:
        artifact_dir(requested)  # a clear error for a directory without an artifact
        return requested, "named"
    newest = newest_servable_run(layout.runs_dir)
    packaged = archive_source(default_archive(layout))
    if (
        packaged is not None
        and packaged.run.is_dir()
        and (newest is None or packaged.packaged_at >= newest[1].completed_at)
    ):
        return packaged.run, f"its archive, packaged {packaged.packaged_at}, after the newest run"
    if newest is not None:
        return newest[0], f"the newest complete run, completed {newest[1].completed_at}"
    print(
        f"no complete, non-debug run under {layout.runs_dir}: training one on the bundled sample "
        "(serve another with `make run RUN=<run>`)"
    )
    subprocess.run([sys.executable, "train.py"], cwd=layout.root, check=True)
    newest = newest_servable_run(layout.runs_dir)
    if newest is None:
        raise StockcastError("training finished but left no complete run with an artifact/")
    return newest[0], "trained just now"


def archive_for(layout: ProjectLayout, run: Path) -> tuple[ArchiveSource, bool]:
    """model_store/stockcast.mar for `run`, reused when it is up to date, else built (keeping
    the version a rebuilt archive of the same run had). (its source, whether it was reused)"""
    mar = default_archive(layout)
    reused = archive_is_current(layout, mar, run)
    if not reused:
        before = archive_source(mar)
        same_run = before is not None and before.run == run.resolve()
        build_mar(layout, run, layout.model_store, version=before.version if same_run else None)
    source = archive_source(mar)
    if source is None:
        raise StockcastError(f"{mar} holds no {SOURCE_FILE}: package it again (make package)")
    return source, reused


def up(layout: ProjectLayout, run: Path | None = None) -> int:
    """Choose the run, package it if needed, start the stack and forecast the sample."""
    run, why = choose_run(layout, run)
    source, reused = archive_for(layout, run)
    shown = (
        run.resolve().relative_to(layout.root) if run.resolve().is_relative_to(layout.root) else run
    )
    print(f"serving run: {shown} (version {source.version}; {why})")
    print(
        f"archive:     {default_archive(layout)} "
        f"({'up to date, reused' if reused else 'packaged now'})"
    )
    registry = layout_registry(layout)
    registry.register(layout.model_store, source.version, run)
    registry.deploy(source.version)  # what TorchServe serves by default is the champion
    return start(layout)


def serve(layout: ProjectLayout) -> int:
    """Restart the stack on the registry's champion, the model store synced from the registry."""
    mar = default_archive(layout)
    registry = layout_registry(layout)
    champion = registry.sync(layout.model_store)  # the store follows the registry
    if champion is None and mar.is_file():  # a store packaged before the registry kept it
        source = archive_source(mar)
        registry.register(layout.model_store, archive_version(mar), source.run if source else None)
        registry.deploy(archive_version(mar))
    if not mar.is_file():
        raise RuntimeError(f"no {mar}: `make run` trains and packages one")
    print(f"archive: {mar} (version {archive_version(mar)}, the registry's champion)")
    return start(layout)


def layout_registry(layout: ProjectLayout) -> Registry:
    """The checkout's model registry (its tracking store), for the model TorchServe serves."""
    return Registry.at(layout.mlflow_dir, layout.model_name)


def start(layout: ProjectLayout) -> int:
    """(Re)start TorchServe, the upload page and Prometheus on the model store; forecast the sample."""
    down(layout, quiet=True)
    state = layout.state_dir
    state.mkdir(exist_ok=True)
    page_port = upload_page.configured_port(layout)
    page = start_page_server(layout.web_dir, page_port, state / "web.log")
    (state / "web.pid").write_text(str(page.pid))
    print("starting TorchServe (about 10-20 s)...")
    server = LocalTorchServe.start(
        layout,
        layout.model_store,
        state / "torchserve",
        ports=Ports.configured(layout),
        cors_origin=page_origin(page_port),
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
    port = prometheus.configured_port(layout)
    if port_in_use(port):
        print(f"prometheus: port {port} is taken; not starting a second one")
        return None
    config = scrape_config(layout, f"{HOST}:{server.ports.metrics}", f"{HOST}:{port}")
    local = LocalPrometheus(layout.state_dir / "prometheus", port, config)
    local.start(wait=False)
    (layout.state_dir / "prometheus.pid").write_text(str(local.process.pid))
    return local


def print_urls(layout: ProjectLayout, server: LocalTorchServe) -> None:
    running = _owned_pid(layout.state_dir / "prometheus.pid", "prometheus")
    prometheus_url = f"http://{HOST}:{prometheus.configured_port(layout)}"
    print(
        f"""
upload page:  {page_url(upload_page.configured_port(layout), server.inference_url)}
predictions:  {server.prediction_url}
              curl -T data/GOOG.csv {server.prediction_url}
              curl -F data=@data/GOOG.csv {server.prediction_url}
management:   {server.management_url}/models/{server.model_name}
metrics:      {server.metrics_url}
prometheus:   {prometheus_url if running else "not running (needs the prometheus binary)"}
mlflow:       {tracking_uri(layout.mlflow_dir)} (browse it: make mlflow)
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
    server = LocalTorchServe(
        Ports.configured(layout), pid, layout.state_dir / "torchserve", layout.model_name
    )
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
