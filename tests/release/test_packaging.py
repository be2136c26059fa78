"""The .mar: pickle-free, self-contained, versioned, and its handler runs the archived code."""

from __future__ import annotations

import ast
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from stockcast.app.layout import ProjectLayout
from stockcast.release.packaging import artifact_dir, build_mar, default_version, versioned_archive

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "GOOG.csv"
HARNESS = ROOT / "tests" / "serving" / "mock_context_harness.py"
LAYOUT = ProjectLayout(ROOT)


@pytest.fixture(scope="module")
def archive(tiny_mar: Path) -> zipfile.ZipFile:
    """The archive of the session's tiny artifact: packaging treats every artifact alike."""
    with zipfile.ZipFile(tiny_mar) as mar:
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
        "stockcast/model/forecaster.py",
        "stockcast/serving/service.py",
        "stockcast/inputs/validation.py",
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


def test_manifest_records_the_version_and_the_handler(archive, tiny_run):
    model = json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]
    assert model["modelName"] == LAYOUT.model_name
    assert model["modelVersion"] == default_version(artifact_dir(tiny_run))
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
    version = json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]["modelVersion"]
    assert good["model"]["version"] == version
    assert bad["error"] == "not a CSV" and bad["detail"].startswith("empty body")
    emitted = {name for name, _, _ in report["metrics"]}
    assert {
        "stockcast_inference_duration_seconds",
        "stockcast_predictions",
        "stockcast_rejected_requests",
        "stockcast_backtest_abs_error",
        "stockcast_worker_resident_memory_bytes",
    } <= emitted
    assert ["stockcast_rejected_requests", 1, ["empty_body", "stockcast", version]] in report[
        "metrics"
    ]


def test_package_script_writes_the_mar_with_a_chosen_version(tiny_run, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "package_model.py"),
            str(tiny_run),
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


# --- what the serving image can import -----------------------------------------------------------

TRAINING_ONLY = ("lightning", "pytorch_lightning", "hydra", "omegaconf", "sklearn", "matplotlib")
TRAINING_ONLY += ("requests", "rich", "yfinance", "optuna")
# pip distribution -> the top-level module it installs, where the names differ
MODULE_OF = {"torchserve": "ts", "pyyaml": "yaml"}
# what TorchServe's own worker imports without declaring it as a dependency (its worker crashes at
# start without PyYAML), so the image installs it though the archive does not import it
WORKER_ONLY = {"yaml"}
BLOCKER = """
import importlib.abc, json, pkgutil, sys
BLOCKED = set(json.loads(sys.argv[2]))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is not installed in the serving image")
sys.meta_path.insert(0, Blocker())
sys.path.insert(0, sys.argv[1])
import stockcast, stockcast_handler
names = [m.name for m in pkgutil.walk_packages(stockcast.__path__, "stockcast.")]
for name in names:
    __import__(name)
print(json.dumps({"file": stockcast.__file__, "modules": names}))
"""


def archived_python(archive: zipfile.ZipFile) -> dict[str, str]:
    return {n: archive.read(n).decode() for n in archive.namelist() if n.endswith(".py")}


def third_party_imports(sources: dict[str, str]) -> set[str]:
    """Top-level modules imported by `sources` that are neither stdlib nor archived code."""
    found = set()
    for text in sources.values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    own = {"stockcast", "stockcast_handler"}
    return {name for name in found if name not in sys.stdlib_module_names and name not in own}


def image_packages() -> set[str]:
    """The modules the serving image installs: torch, then deploy/requirements-serving.txt."""
    packages = {"torch"}
    for line in LAYOUT.serving_requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = re.split(r"[=<>\[]", line)[0].lower()
            packages.add(MODULE_OF.get(name, name))
    return packages


def test_archive_carries_only_the_served_subpackages(archive):
    packaged = {name.split("/")[1] for name in archive.namelist() if name.startswith("stockcast/")}
    assert packaged == {"__init__.py", "errors.py", "inputs", "model", "serving"}


def test_no_archived_file_imports_a_training_or_ops_library(archive):
    imported = third_party_imports(archived_python(archive))
    assert not imported & set(TRAINING_ONLY), imported & set(TRAINING_ONLY)


def test_archived_imports_are_exactly_what_the_serving_image_installs(archive):
    """Every library the archive imports is in the image's requirements, and the image installs
    nothing else but what TorchServe's worker needs (psutil: the worker-memory metric)."""
    assert third_party_imports(archived_python(archive)) == image_packages() - WORKER_ONLY


def test_archived_code_imports_with_training_libraries_absent(archive, tmp_path):
    archive.extractall(tmp_path / "model")
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, str(tmp_path / "model"), json.dumps(TRAINING_ONLY)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(tmp_path / "model")
    assert "stockcast.model.forecaster" in report["modules"]
    assert "stockcast.serving.service" in report["modules"]


def test_a_run_with_a_refit_ships_the_refit_and_keeps_its_evaluated_twin_beside_it(
    tiny_run, tmp_path
):
    run = tmp_path / "run"
    shutil.copytree(tiny_run / "artifact", run / "artifact")
    shutil.copytree(tiny_run / "artifact", run / "refit" / "artifact")
    refit_spec = run / "refit" / "artifact" / "forecaster.json"
    spec = json.loads(refit_spec.read_text())
    spec["info"]["trained_until"] = "2013-03-01T00:00:00"
    refit_spec.write_text(json.dumps(spec))
    store = tmp_path / "store"
    mar = build_mar(
        LAYOUT, run, store, version="7.0", file_name=versioned_archive("7.0", LAYOUT.model_name)
    )
    assert mar == store / "stockcast-7.0.mar" and not (store / "stockcast.mar").exists()
    with zipfile.ZipFile(mar) as archive:
        served = json.loads(archive.read("forecaster.json"))["info"]
    assert served["trained_until"] == "2013-03-01T00:00:00"
    twin = json.loads((store / "heldout" / "7.0" / "forecaster.json").read_text())["info"]
    assert twin == json.loads((tiny_run / "artifact" / "forecaster.json").read_text())["info"]
    assert not [p for p in store.iterdir() if p.name.startswith(".")]  # no scratch left behind
