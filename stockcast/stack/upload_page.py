"""The upload page (web/upload.html) served on loopback by the standard library's static file server,
told where the inference API is; TorchServe's CORS setting must allow its origin."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from stockcast.app.layout import ProjectLayout, read_properties
from stockcast.stack.torchserve import HOST, address_port, port_in_use, stop_process_group

PAGE = "upload.html"


def start_page_server(web_dir: Path, port: int, log_file: Path) -> subprocess.Popen:
    """Serve `web_dir` (the checkout's web/) on loopback with the standard library's static file server (own session)."""
    if port_in_use(port):
        raise RuntimeError(f"port {port} on {HOST} is taken by another process")
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                str(port),
                "--bind",
                HOST,
                "--directory",
                str(web_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 15
    while not port_in_use(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process_group(process.pid)
            raise RuntimeError(f"the upload page server did not start; see {log_file}")
        time.sleep(0.1)
    return process


def configured_port(layout: ProjectLayout) -> int:
    """Where `make run` serves the page: the port of the browser origin that
    torchserve/config.properties lets call TorchServe (`cors_allowed_origin`)."""
    return address_port(read_properties(layout.serving_config)["cors_allowed_origin"])


def page_url(port: int, inference_url: str) -> str:
    """The upload page, told where the inference API is."""
    return f"http://{HOST}:{port}/{PAGE}?api={inference_url}"


def page_origin(port: int) -> str:
    """The browser origin of the upload page: what TorchServe's CORS setting must allow."""
    return f"http://{HOST}:{port}"
