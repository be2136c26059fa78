"""Build the TorchServe archive (`stockcast.mar`) from a training run directory.

The archive is self-contained and pickle-free: `weights.pt` (a state_dict, loaded with
`weights_only=True`) and `forecaster.json` (settings, scaler, calibration, training range) from
the run's `artifact/`, the handler, a copy of the part of the `stockcast` package a worker imports
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

# What a TorchServe worker imports: the archive carries these subpackages and nothing else
# (training and ops pull in Lightning, Hydra, sklearn, matplotlib and requests, which the
# serving image does not install).
SERVED_SUBPACKAGES = ("data", "model", "serving")
SERVED_MODULES = ("__init__.py", "errors.py")
# data/ modules a worker never runs: downloading and caching market data (yfinance) is training's
NOT_SERVED = ("market_data.py",)


def latest_run(runs_dir: Path) -> Path | None:
    """The newest run directory (names are timestamps) that holds a serving artifact."""
    runs = sorted(
        weights.parent.parent for weights in runs_dir.glob(f"*/{ARTIFACT_DIR}/{WEIGHTS_FILE}")
    )
    return runs[-1] if runs else None


def artifact_dir(run_dir: str | Path) -> Path:
    """`<run>/artifact`, or `run_dir` itself when it already is an artifact directory."""
    run_dir = Path(run_dir)
    for candidate in (run_dir / ARTIFACT_DIR, run_dir):
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
) -> Path:
    """Archive the run's artifact into `<model_store>/<model_name>.mar` (replacing it)."""
    artifact = artifact_dir(run_dir)
    Forecaster.load(artifact)  # refuse to archive an artifact that would not load
    with tempfile.TemporaryDirectory(prefix="stockcast-mar-") as scratch:
        extra = Path(scratch) / "extra"
        _copy_package(extra / "stockcast")
        for source in (artifact / WEIGHTS_FILE, artifact / SPEC_FILE, layout.metrics_config):
            shutil.copy2(source, extra / source.name)
        return archive_handler(
            layout,
            layout.handler,
            model_store,
            version or default_version(artifact),
            model_name,
            extra_dir=extra,
        )


def archive_handler(
    layout: ProjectLayout,
    handler: Path,
    model_store: str | Path,
    version: str,
    model_name: str,
    extra_dir: Path | None = None,
) -> Path:
    """Run torch-model-archiver: `handler`, `extra_dir`'s contents and serving/model-config.yaml
    into `<model_store>/<model_name>.mar`. The benchmark's empty handler is archived this way too,
    so both servers it compares run with the same settings."""
    model_store = Path(model_store)
    model_store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stockcast-archiver-") as archiver_tmp:
        extra = ["--extra-files", str(extra_dir)] if extra_dir else []  # its contents: the root
        subprocess.run(
            [
                str(Path(sys.executable).with_name("torch-model-archiver")),
                "--model-name",
                model_name,
                "--version",
                version,
                "--handler",
                str(handler),
                *extra,
                "--config-file",
                str(layout.model_config),
                "--runtime",
                "python",
                "--archive-format",
                "default",
                "--export-path",
                str(model_store),
                "--force",
            ],
            check=True,
            env={**os.environ, "TMPDIR": archiver_tmp},
        )
    return model_store / f"{model_name}.mar"


def _copy_package(destination: Path) -> None:
    """The served part of the package, Python sources only (no bytecode, no install metadata)."""
    source = Path(stockcast.__file__).resolve().parent
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", *NOT_SERVED)
    destination.mkdir(parents=True)
    for name in SERVED_MODULES:
        shutil.copy2(source / name, destination / name)
    for name in SERVED_SUBPACKAGES:
        shutil.copytree(source / name, destination / name, ignore=ignore)
