"""Build the TorchServe archive (`stockcast.mar`) from a training run directory, and pick the run.

The archive is self-contained and pickle-free: `weights.pt` (a state_dict, loaded with
`weights_only=True`) and `forecaster.json` (settings, scaler, calibration, drift reference,
training range) from the run's deployable refit (`refit/artifact/`, or `artifact/` for a run
without one), the handler, a copy of the part of the `stockcast` package a worker imports
(`inputs`, `model`, `serving`, whole: the archive keeps serving as trained after this repository changes,
and carries nothing that needs Lightning, Hydra, yfinance or the tooling), the model-config YAML (workers,
batching, timeout), the metrics YAML it emits against, and `source.json` (which run it was built
from, and when). torch-model-archiver stages files in `$TMPDIR/<model name>`, so each build gets a
private TMPDIR and concurrent builds cannot collide.

Which run: the one named, else the newest complete, non-debug run by completion time (its
run.json, stockcast/app/run_record.py); never a smoke test or a failed run by default.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import stockcast
from stockcast.app.layout import ProjectLayout
from stockcast.app.run_record import RunRecord, utc_now
from stockcast.model.forecaster import ARTIFACT_DIR, SPEC_FILE, WEIGHTS_FILE, Forecaster
from stockcast.training.refit import REFIT_DIR

# What a TorchServe worker imports, shipped whole: reading and checking uploads, the model artifact
# and the request service (tests/test_architecture.py pins that these import nothing else of
# stockcast, so nothing that needs Lightning, Hydra or yfinance reaches the serving image).
SERVED_SUBPACKAGES = ("inputs", "model", "serving")
SERVED_MODULES = ("__init__.py", "errors.py")
# what the model store's files are: readable by the serving image's own user, written by the host's
ARCHIVE_MODE = 0o644
SOURCE_FILE = "source.json"  # in the archive: the run it was built from and when
MANIFEST = "MAR-INF/MANIFEST.json"
# beside the archives: <store>/heldout/<version>/ holds the evaluated twin of a refit version,
# the model whose held-out days `make retrain` compares versions on (never served)
HELDOUT_DIR = "heldout"


@dataclass(frozen=True)
class ArchiveSource:
    """What an archive says about itself: its run, when it was packaged, its model version."""

    run: Path
    packaged_at: str  # UTC, ISO 8601, comparable with run.json's completed_at
    version: str


def newest_servable_run(runs_dir: Path) -> tuple[Path, RunRecord] | None:
    """The complete, non-debug run with a serving artifact that completed last, if any."""
    candidates = []
    for weights in runs_dir.glob(f"*/{ARTIFACT_DIR}/{WEIGHTS_FILE}"):
        run = weights.parent.parent
        record = RunRecord.read(run)
        if record is not None and record.servable and record.completed_at:
            candidates.append((record.completed_at, run.name, run, record))
    if not candidates:
        return None
    _, _, run, record = max(candidates)
    return run, record


def archive_source(mar: Path) -> ArchiveSource | None:
    """The archive's `source.json` and manifest version; None without an archive or a record."""
    try:
        with zipfile.ZipFile(mar) as archive:
            source = json.loads(archive.read(SOURCE_FILE))
            version = json.loads(archive.read(MANIFEST))["model"]["modelVersion"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return ArchiveSource(Path(source["run"]), source["packaged_at"], version)


def archive_is_current(layout: ProjectLayout, mar: Path, run_dir: str | Path) -> bool:
    """The archive holds, byte for byte, what a build from `run_dir` would put in it now."""
    files = served_files(layout, artifact_dir(run_dir))
    try:
        with zipfile.ZipFile(mar) as archive:
            packaged = {name for name in archive.namelist() if name.startswith("stockcast/")}
            if packaged != {name for name in files if name.startswith("stockcast/")}:
                return False
            return all(archive.read(name) == path.read_bytes() for name, path in files.items())
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


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
    model_name: str | None = None,
    file_name: str | None = None,
) -> Path:
    """Archive the run's artifact into `<model_store>/<file_name>` (default `<model_name>.mar`;
    the model name defaults to the layout's).

    The file is replaced in one rename (the scratch directory sits in the model store, on the
    same file system), so a server starting meanwhile reads the old archive or the new one,
    never half of one.
    """
    artifact = artifact_dir(run_dir)
    Forecaster.load(artifact)  # refuse to archive an artifact that would not load
    model_name = model_name or layout.model_name
    version = version or default_version(artifact)
    model_store = Path(model_store)
    model_store.mkdir(parents=True, exist_ok=True)
    passed_apart = {layout.handler.name, layout.model_config.name}  # given to the archiver as flags
    with tempfile.TemporaryDirectory(prefix=".stockcast-mar-", dir=model_store) as scratch:
        extra = Path(scratch) / "extra"
        for name, source in served_files(layout, artifact).items():
            if name not in passed_apart:
                (extra / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, extra / name)
        record = {"run": str(Path(run_dir).resolve()), "packaged_at": utc_now()}
        (extra / SOURCE_FILE).write_text(json.dumps(record, indent=2))
        built = archive_handler(
            layout, layout.handler, Path(scratch), version, model_name, extra_dir=extra
        )
        target = model_store / (file_name or f"{model_name}.mar")
        os.chmod(built, ARCHIVE_MODE)  # the serving image's user reads what the host packages
        os.replace(built, target)
    evaluated = Path(run_dir) / ARTIFACT_DIR
    if artifact != evaluated and evaluated.is_dir():
        save_heldout(evaluated, model_store, version)
    return target


def archive_handler(
    layout: ProjectLayout,
    handler: Path,
    export_dir: str | Path,
    version: str,
    model_name: str,
    extra_dir: Path | None = None,
) -> Path:
    """Run torch-model-archiver: `handler`, `extra_dir`'s contents and torchserve/model-config.yaml
    into `<export_dir>/<model_name>.mar`. The benchmark's two floors (the empty and the checks
    handler) are archived this way too, so the servers it compares run with the same settings."""
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
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
                str(export_dir),
                "--force",
            ],
            check=True,
            env={**os.environ, "TMPDIR": archiver_tmp},
        )
    return export_dir / f"{model_name}.mar"


def save_heldout(evaluated: Path, model_store: Path, version: str) -> Path:
    """Keep the evaluated twin of a refit version beside the archives (its two files)."""
    destination = Path(model_store) / HELDOUT_DIR / version
    destination.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS_FILE, SPEC_FILE):
        shutil.copy2(evaluated / name, destination / name)
    return destination


def versioned_archive(version: str, model_name: str) -> str:
    """The file name of one version in the model store, e.g. `stockcast-20130301.1a2b3c4d.mar`:
    versions sit side by side, and `<model_name>.mar` is a copy of the default (what a restart
    loads)."""
    return f"{model_name}-{version}.mar"


def served_files(layout: ProjectLayout, artifact: Path) -> dict[str, Path]:
    """Every file the archive carries besides its manifest and source.json, by archive name:
    the artifact, the handler, both YAML files and the served package's Python sources."""
    files = {
        WEIGHTS_FILE: artifact / WEIGHTS_FILE,
        SPEC_FILE: artifact / SPEC_FILE,
        layout.handler.name: layout.handler,
        layout.model_config.name: layout.model_config,
        layout.metrics_config.name: layout.metrics_config,
    }
    package = Path(stockcast.__file__).resolve().parent
    for name in SERVED_MODULES:
        files[f"stockcast/{name}"] = package / name
    for subpackage in SERVED_SUBPACKAGES:
        for path in sorted((package / subpackage).rglob("*.py")):
            files[f"stockcast/{path.relative_to(package).as_posix()}"] = path
    return files
