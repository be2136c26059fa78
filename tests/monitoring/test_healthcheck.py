"""The container's health check pings the inference port that the container's TorchServe config
names, so moving that port moves the check with it."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType

from stockcast.app.layout import read_properties

ROOT = Path(__file__).resolve().parents[2]
CONTAINER_CONFIG = ROOT / "torchserve" / "config.container.properties"


def healthcheck() -> ModuleType:
    """deploy/healthcheck.py as a module (the image runs it as a script)."""
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_check_pings_the_configured_inference_port_on_loopback(tmp_path):
    configured = read_properties(CONTAINER_CONFIG)["inference_address"]
    port = configured.rsplit(":", 1)[1]
    assert healthcheck().ping_url(CONTAINER_CONFIG) == f"http://127.0.0.1:{port}/ping"

    moved = tmp_path / "config.properties"
    shutil.copy2(CONTAINER_CONFIG, moved)
    text = re.sub(
        r"^inference_address=.*$",
        "inference_address=http://0.0.0.0:18080",
        moved.read_text(),
        flags=re.MULTILINE,
    )
    moved.write_text(text)
    assert healthcheck().ping_url(moved) == "http://127.0.0.1:18080/ping"
