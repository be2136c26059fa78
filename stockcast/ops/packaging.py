"""Build the TorchServe archive (`stockcast.mar`) from a training run directory.

The archive is self-contained and pickle-free: `weights.pt` (a state_dict, loaded with
`weights_only=True`) and `forecaster.json` (settings, scaler, calibration, drift reference,
training range) from the run's deployable refit (`refit/artifact/`, or `artifact/` for a run
without one), the handler, a copy of the part of the `stockcast` package a worker imports
(`data`, `model`, `serving`: the archive keeps serving as trained after this repository changes,
and carries nothing that needs Lightning, Hydra or the ops tooling), the model-config YAML (workers,
batching, timeout) and the metrics YAML it emits against. torch-model-archiver stages files in
`$TMPDIR/<model name>`, so each build gets a private TMPDIR and concurrent builds cannot collide.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import stockcast
from stockcast.model.forecaster import ARTIFACT_DIR, SPEC_FILE, WEIGHTS_FILE, Forecaster
from stockcast.ops.layout import MODEL_NAME, ProjectLayout
from stockcast.training.refit import REFIT_DIR

# What a TorchServe worker imports: the archive carries these subpackages and nothing else
# (training and ops pull in Lightning, Hydra, sklearn, matplotlib and requests, which the
# serving image does not install).
SERVED_SUBPACKAGES = ("data", "model", "serving")
SERVED_MODULES = ("__init__.py", "errors.py")
# data/ modules a worker never runs: downloading and caching market data (yfinance) is training's
NOT_SERVED = ("market_data.py",)
# beside the archives: <store>/heldout/<version>/ holds the evaluated twin of a refit version,
# the model whose held-out days `make retrain` compares versions on (never served)
HELDOUT_DIR = "heldout"


def latest_run(runs_dir: Path) -> Path | None:
    """The newest run directory (names are timestamps) that holds a serving artifact."""
    runs = sorted(
        weights.parent.parent for weights in runs_dir.glob(f"*/{ARTIFACT_DIR}/{WEIGHTS_FILE}")
    )
    return runs[-1] if runs else None


def artifact_dir(run_dir: str | Path) -> Path:
    """What a run serves: its deployable refit `<run>/refit/artifact` when it has one (trained
    up to the data's last row), else `<run>/artifact`, or `run_dir` itself when it already is
    an artifact directory."""
    run_dir = Path(run_dir)
    for candidate in (run_dir / REFIT_DIR / ARTIFACT_DIR, run_dir / ARTIFACT_DIR, run_dir):
        if (candidate / WEIGHTS_FILE).is_file() and (candidate / SPEC_FILE).is_file():
            return candidate
    raise FileNotFoundError(
        f"{run_dir}: no {ARTIFACT_DIR}/{WEIGHTS_FILE} and {SPEC_FILE}; "
        "pass a training run directory (outputs/train/runs/<run>)"
    )


def default_version(artifact: Path) -> str:
    """When the weights were written (UTC), e.g. `20261124.210545`: sortable and URL-safe."""
    written = datetime.fromtimestamp((artifact / WEIGHTS_FILE).stat().st_mtime, tz=UTC)
    return written.strftime("%Y%m%d.%H%M%S")


def build_mar(
    layout: ProjectLayout,
    run_dir: str | Path,
    model_store: str | Path,
    version: str | None = None,
    model_name: str = MODEL_NAME,
    file_name: str | None = None,
) -> Path:
    """Archive the run's artifact into `<model_store>/<file_name>` (default `<model_name>.mar`).

    The file is replaced in one rename (the scratch directory sits in the model store, on the
    same file system), so a server starting meanwhile reads the old archive or the new one,
    never half of one.
    """
    artifact = artifact_dir(run_dir)
    Forecaster.load(artifact)  # refuse to archive an artifact that would not load
    version = version or default_version(artifact)
    model_store = Path(model_store)
    model_store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".stockcast-mar-", dir=model_store) as scratch:
        extra = Path(scratch) / "extra"
        _copy_package(extra / "stockcast")
        for source in (artifact / WEIGHTS_FILE, artifact / SPEC_FILE, layout.metrics_config):
            shutil.copy2(source, extra / source.name)
        archiver_tmp = Path(scratch) / "tmp"
        archiver_tmp.mkdir()
        subprocess.run(
            [
                str(Path(sys.executable).with_name("torch-model-archiver")),
                "--model-name",
                model_name,
                "--version",
                version,
                "--handler",
                str(layout.handler),
                "--extra-files",
                str(extra),  # a directory: its contents land at the archive root
                "--config-file",
                str(layout.model_config),
                "--runtime",
                "python",
                "--archive-format",
                "default",
                "--export-path",
                str(scratch),
            ],
            check=True,
            env={**os.environ, "TMPDIR": str(archiver_tmp)},
        )
        target = model_store / (file_name or f"{model_name}.mar")
        os.replace(Path(scratch) / f"{model_name}.mar", target)
    evaluated = Path(run_dir) / ARTIFACT_DIR
    if artifact != evaluated and evaluated.is_dir():
        save_heldout(evaluated, model_store, version)
    return target


def save_heldout(evaluated: Path, model_store: Path, version: str) -> Path:
    """Keep the evaluated twin of a refit version beside the archives (its two files)."""
    destination = Path(model_store) / HELDOUT_DIR / version
    destination.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS_FILE, SPEC_FILE):
        shutil.copy2(evaluated / name, destination / name)
    return destination


def versioned_archive(version: str, model_name: str = MODEL_NAME) -> str:
    """The file name of one version in the model store, e.g. `stockcast-20130301.1a2b3c4d.mar`:
    versions sit side by side, and `<model_name>.mar` is a copy of the default (what a restart
    loads)."""
    return f"{model_name}-{version}.mar"


def _copy_package(destination: Path) -> None:
    """The served part of the package, Python sources only (no bytecode, no install metadata)."""
    source = Path(stockcast.__file__).resolve().parent
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", *NOT_SERVED)
    destination.mkdir(parents=True)
    for name in SERVED_MODULES:
        shutil.copy2(source / name, destination / name)
    for name in SERVED_SUBPACKAGES:
        shutil.copytree(source / name, destination / name, ignore=ignore)
