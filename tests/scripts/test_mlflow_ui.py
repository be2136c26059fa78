"""`make mlflow`: MLflow's UI on the store the runs were tracked in, on loopback only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

from stockcast.stack.torchserve import free_port

ROOT = Path(__file__).resolve().parents[2]


def ui(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "mlflow_ui.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the UI's workers too are stopped with its process group
    )


def wait_for(url: str, process: subprocess.Popen, timeout_s: float = 90) -> requests.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            return requests.get(url, timeout=10)
        except requests.RequestException:  # not listening yet, or too busy starting to answer
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout_s} s")


@pytest.mark.integration
def test_the_ui_shows_the_tracked_experiments_on_loopback(mlflow_store, tmp_path):
    client = MlflowClient(mlflow_store)
    if client.get_experiment_by_name("ui-check") is None:
        client.create_experiment("ui-check", artifact_location=(tmp_path / "a").as_uri())
    port = free_port()
    process = ui("--port", str(port), env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_store})
    try:
        page = wait_for(f"http://127.0.0.1:{port}/", process)
        assert page.status_code == 200
        answer = requests.post(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search",
            json={"max_results": 100},
            timeout=10,
        )
        assert "ui-check" in {e["name"] for e in answer.json()["experiments"]}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert f"mlflow: {mlflow_store} on http://127.0.0.1:{port}" in process.stdout.read()


def test_a_tracking_server_is_named_not_started():
    env = {**os.environ, "MLFLOW_TRACKING_URI": "https://mlflow.example.org"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "mlflow_ui.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("mlflow: https://mlflow.example.org")


def test_an_empty_store_is_one_line(tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'none.db'}"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "mlflow_ui.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "no runs tracked yet" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
