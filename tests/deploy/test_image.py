"""The serving image, built and run for real (deploy/Dockerfile, as `make image` builds it).

Two paths a user takes: Docker alone (the image serves the model trained into it, no volume), and
a model store written by the host's own commands (`make package`, a promotion) mounted read-only,
as docker-compose.yaml mounts it. Containers run on the host's network on free loopback ports: the
test writes the container config with those ports and mounts it over the image's.

With CI=true a missing Docker engine is a failure; elsewhere these tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
import requests

from stockcast.app.layout import ProjectLayout
from stockcast.release.image import docker
from stockcast.release.packaging import build_mar
from stockcast.release.versions import publish_version

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
HOME = "/home/model-server"
BUILT_IN_STORE = "/opt/stockcast/model-store"


def readable_store(tmp_path: Path, *archives: Path) -> Path:
    """A model store the image's user (uid 1000) can read, as the host's commands leave it."""
    store = tmp_path / "model_store"
    store.mkdir()
    for archive in archives:
        shutil.copy(archive, store / archive.name)
    for path in (tmp_path, store):
        path.chmod(0o755)
    return store


def manifest_version(mar: Path) -> str:
    with zipfile.ZipFile(mar) as archive:
        return json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]["modelVersion"]


def test_the_image_alone_serves_the_model_trained_into_it(start, image, tmp_path):
    container = start()
    built_in = tmp_path / "built-in.mar"
    docker("cp", f"{container.name}:{BUILT_IN_STORE}/stockcast.mar", str(built_in))

    answer = container.forecast(LAYOUT.sample_upload())

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"]["version"] == manifest_version(built_in)
    assert body["model"]["tickers"] == ["GOOG", "AAPL", "IBM", "MSFT"]
    assert body["last_date"] == "2013-03-01"
    (forecast,) = body["forecast"]
    assert forecast["lower"] < forecast["close"] < forecast["upper"]


def test_a_mounted_store_from_the_host_is_served_and_answers_as_the_local_server(
    start, tmp_path, packaged_mar, torchserve
):
    container = start(readable_store(tmp_path, packaged_mar))
    body = LAYOUT.sample_upload()

    ours = container.forecast(body)
    local = requests.post(
        torchserve.prediction_url, data=body, headers={"Content-Type": "text/csv"}, timeout=60
    )

    assert ours.status_code == 200, ours.text
    assert ours.json() == local.json()
    assert ours.json()["model"]["version"] == manifest_version(packaged_mar)


def test_the_archive_the_host_packages_is_readable_by_the_image_user(tmp_path, packaged_mar):
    """`make package` and a promotion leave archives any user may read (the image runs as 1000)."""
    store = tmp_path / "store"
    store.mkdir()
    promoted = publish_version(packaged_mar, store / "stockcast.mar")
    assert promoted.stat().st_mode & 0o777 == 0o644
    assert packaged_mar.stat().st_mode & 0o044 == 0o044


def test_requests_without_the_key_are_refused_and_the_worker_keeps_serving(start):
    container = start()
    url = f"{container.inference_url}/predictions/{LAYOUT.model_name}"

    refused = requests.post(url, data=LAYOUT.sample_upload(), timeout=30)
    bad_input = container.forecast(b"Date,Open\n2024-01-02,1\n")
    good = container.forecast(LAYOUT.sample_upload())

    assert refused.status_code in (400, 401)
    assert bad_input.status_code == 400
    assert "missing column(s)" in bad_input.json()["detail"]
    assert good.status_code == 200


def test_management_needs_the_management_key(start):
    container = start()
    models = f"{container.management_url}/models"

    assert requests.get(models, timeout=10).status_code in (400, 401)
    assert requests.get(models, headers=container.auth("inference"), timeout=10).status_code in (
        400,
        401,
    )
    listed = requests.get(models, headers=container.auth("management"), timeout=10)
    assert listed.status_code == 200
    assert [model["modelName"] for model in listed.json()["models"]] == [LAYOUT.model_name]


def test_the_server_runs_as_a_user_that_cannot_change_its_config_model_or_store(
    start, tmp_path, packaged_mar
):
    container = start(readable_store(tmp_path, packaged_mar))

    assert container.exec("id", "-u").stdout.strip() == "1000"
    for path in (
        f"{HOME}/config.properties",
        f"{HOME}/metrics.yaml",
        f"{BUILT_IN_STORE}/stockcast.mar",
    ):
        assert container.exec("test", "-w", path, check=False).returncode != 0, path
    touched = container.exec("touch", f"{HOME}/model-store/intruder", check=False)
    assert touched.returncode != 0 and "Read-only" in touched.stderr


def test_a_restart_serves_the_version_promoted_last(start, tmp_path, packaged_mar):
    """The store's stockcast.mar is the default a restart loads; a promotion replaces it."""
    store = readable_store(tmp_path, packaged_mar)
    container = start(store)
    first = container.forecast(LAYOUT.sample_upload()).json()["model"]["version"]

    promoted = tmp_path / "promoted.mar"
    with zipfile.ZipFile(packaged_mar) as source, zipfile.ZipFile(promoted, "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                manifest["model"]["modelVersion"] = "promoted"
                data = json.dumps(manifest).encode()
            copy.writestr(item, data)
    publish_version(promoted, store / "stockcast.mar")
    docker("restart", container.name, timeout=120)
    deadline = time.monotonic() + 240
    while not container.healthy():
        assert time.monotonic() < deadline, container.logs()
        time.sleep(1)

    assert first == manifest_version(packaged_mar)
    assert container.forecast(LAYOUT.sample_upload()).json()["model"]["version"] == "promoted"


def test_the_image_runs_the_torch_and_torchserve_the_suite_tests_with(image):
    """The suite runs the real TorchServe and the archived handler on this host: the image must
    carry the same releases (torch's CPU build included)."""
    probe = "import importlib.metadata as m; print(m.version('torch'), m.version('torchserve'))"
    inside = docker("run", "--rm", "--network", "none", image, "python3", "-c", probe)
    assert inside.stdout.split() == [version("torch"), version("torchserve")]


def test_the_container_exports_torchserve_and_handler_metrics_for_prometheus(start):
    container = start()
    assert container.forecast(LAYOUT.sample_upload()).status_code == 200

    deadline = time.monotonic() + 30
    while True:
        text = requests.get(f"http://127.0.0.1:{container.ports.metrics}/metrics", timeout=10).text
        if "stockcast_band_nominal_coverage" in text or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "ts_inference_requests_total" in text
    assert "stockcast_band_nominal_coverage" in text


# the session's trained_run recipe (tests/conftest.py), spelled for the lifecycle config: the
# challenger ties with the champion and is promoted, as in tests/release/test_lifecycle.py
RECIPE = ("trainer.max_epochs=3", "model.net.hidden_size=16", "trainer.enable_progress_bar=false")


def lifecycle_command(command: str, run_dir: Path, keys: dict[str, str], *overrides: str):
    """`python lifecycle.py command=...` as `make retrain` / `make rollback` run it, with the
    container's keys in the environment the lifecycle config reads."""
    return subprocess.run(
        [
            sys.executable,
            "lifecycle.py",
            f"command={command}",
            *overrides,
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        env={**os.environ, **keys},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_make_retrain_and_make_rollback_reach_the_container_with_its_keys(
    start, tmp_path, trained_run
):
    store = tmp_path / "model_store"
    build_mar(LAYOUT, trained_run, store)
    for path in (tmp_path, store):
        path.chmod(0o755)
    container = start(store)
    champion = container.forecast(LAYOUT.sample_upload()).json()["model"]["version"]
    keys = {
        "STOCKCAST_MANAGEMENT_KEY": container.key("management"),
        "STOCKCAST_INFERENCE_KEY": container.key("inference"),
    }
    where = (
        f"lifecycle.management_url={container.management_url}",
        f"lifecycle.inference_url={container.inference_url}",
        f"lifecycle.model_store={store}",
    )

    retrain = lifecycle_command(
        "retrain",
        tmp_path / "retrain",
        keys,
        *RECIPE,
        *where,
        f"lifecycle.data_dir={tmp_path / 'data'}",
        "lifecycle.refresh=false",
        "lifecycle.last_days=60",
    )
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    decision = json.loads((tmp_path / "retrain" / "decision.json").read_text())
    challenger = decision["challenger"]
    assert decision["promoted"] and decision["champion"] == champion
    assert container.forecast(LAYOUT.sample_upload()).json()["model"]["version"] == challenger

    rollback = lifecycle_command("rollback", tmp_path / "rollback", keys, *where)
    assert rollback.returncode == 0, rollback.stderr[-3000:]
    assert container.forecast(LAYOUT.sample_upload()).json()["model"]["version"] == champion
    unauthorised = lifecycle_command("rollback", tmp_path / "no-keys", {}, *where)
    assert unauthorised.returncode == 2 and len(unauthorised.stderr.strip().splitlines()) == 1
