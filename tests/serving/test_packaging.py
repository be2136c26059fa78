"""The .mar: pickle-free, self-contained, versioned, and its handler runs the archived code."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from stockcast.packaging import artifact_dir, default_version

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "GOOG.csv"
HARNESS = Path(__file__).with_name("mock_context_harness.py")


@pytest.fixture(scope="module")
def archive(packaged_mar: Path) -> zipfile.ZipFile:
    with zipfile.ZipFile(packaged_mar) as mar:
        yield mar


def test_archive_holds_weights_spec_handler_package_and_both_yaml_files(archive):
    names = set(archive.namelist())
    assert {
        "weights.pt",
        "forecaster.json",
        "stockcast_handler.py",
        "model-config.yaml",
        "metrics.yaml",
        "MAR-INF/MANIFEST.json",
        "stockcast/__init__.py",
        "stockcast/forecaster.py",
        "stockcast/service.py",
        "stockcast/validation.py",
    } <= names
    assert not [name for name in names if name.endswith((".pkl", ".pickle", ".pyc"))]


def test_weights_are_a_plain_state_dict(archive):
    weights = torch.load(io.BytesIO(archive.read("weights.pt")), weights_only=True)
    assert weights and all(isinstance(value, torch.Tensor) for value in weights.values())


def test_model_config_turns_batching_on_with_a_short_delay(archive):
    config = yaml.safe_load(archive.read("model-config.yaml"))
    assert config["batchSize"] > 1
    assert 0 < config["maxBatchDelay"] <= 10
    assert config["minWorkers"] >= 1 and config["responseTimeout"] > 0


def test_manifest_records_the_version_and_the_handler(archive, trained_run):
    model = json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]
    assert model["modelName"] == "stockcast"
    assert model["modelVersion"] == default_version(artifact_dir(trained_run))
    assert model["handler"] == "stockcast_handler.py"
    assert model["configFile"] == "model-config.yaml"


def test_handler_imports_the_archived_package_and_answers_each_request(archive, tmp_path):
    archive.extractall(tmp_path / "model")
    result = subprocess.run(
        [sys.executable, str(HARNESS), str(tmp_path / "model"), str(SAMPLE)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["stockcast_file"]).is_relative_to(tmp_path / "model")
    assert report["statuses"] == [200, 400]
    good, bad = report["bodies"]
    assert (
        good["model"]["version"]
        == json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]["modelVersion"]
    )
    assert bad["error"] == "not a CSV" and bad["detail"].startswith("empty body")
    emitted = {name for name, _, _ in report["metrics"]}
    assert {
        "stockcast_inference_duration_seconds",
        "stockcast_predictions",
        "stockcast_rejected_requests",
        "stockcast_backtest_abs_error",
        "stockcast_worker_resident_memory_bytes",
    } <= emitted
    assert ["stockcast_rejected_requests", 1, ["empty_body", "stockcast"]] in report["metrics"]


def test_package_script_writes_the_mar_with_a_chosen_version(trained_run, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "package_model.py"),
            str(trained_run),
            "--model-store",
            str(tmp_path),
            "--version",
            "7.1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "version 7.1" in result.stdout
    with zipfile.ZipFile(tmp_path / "stockcast.mar") as mar:
        assert json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]["modelVersion"] == "7.1"


def test_package_script_explains_a_directory_without_an_artifact(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package_model.py"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no artifact/weights.pt" in result.stderr
