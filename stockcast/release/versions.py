"""The model store: the archives TorchServe and the container read, side by side.

    model_store/
      stockcast.mar                 a copy of the champion: what a (re)started TorchServe loads
                                    (`make run`, the container's load_models)
      stockcast-<version>.mar       every version registered with TorchServe
      heldout/<version>/            the evaluated twin of a refit version (packaging.save_heldout)

Which version is the champion, and what a rollback restores, is the MLflow model registry's to
say (stockcast/release/registry.py); the store is its copy, each file written in one rename.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from stockcast.errors import LifecycleError
from stockcast.model.forecaster import SPEC_FILE, WEIGHTS_FILE, Forecaster
from stockcast.release.packaging import ARCHIVE_MODE, HELDOUT_DIR, versioned_archive


def archive_version(archive: Path) -> str:
    """The version written in an archive's manifest."""
    with zipfile.ZipFile(archive) as mar:
        return json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]["modelVersion"]


def default_archive(store: Path, model_name: str) -> Path:
    """`<model_name>.mar`: the archive a restart of TorchServe loads."""
    return Path(store) / f"{model_name}.mar"


def keep_archive(store: Path, version: str, model_name: str) -> str:
    """Make sure `<model_name>-<version>.mar` exists, copying the default archive when only that
    holds the version (a `make run` deployment); return its file name."""
    name = versioned_archive(version, model_name)
    if (Path(store) / name).is_file():
        return name
    default = default_archive(store, model_name)
    if default.is_file() and archive_version(default) == version:
        publish_version(default, Path(store) / name)
        return name
    raise LifecycleError(
        f"no archive of version {version} in {store}: neither {name} nor {default.name}"
    )


def heldout_forecaster(store: Path, version: str, model_name: str, scratch: Path) -> Forecaster:
    """The model whose held-out days stand for `version`: its evaluated twin when the store keeps
    one, else the archive's own artifact (an evaluated run packaged as is), unpacked in `scratch`."""
    twin = Path(store) / HELDOUT_DIR / version
    if (twin / WEIGHTS_FILE).is_file():
        return Forecaster.load(twin)
    archive = Path(store) / keep_archive(store, version, model_name)
    return archive_forecaster(archive, Path(scratch) / version)


def archive_forecaster(archive: Path, destination: Path) -> Forecaster:
    """The Forecaster an archive serves: its two artifact files unpacked into `destination` and
    loaded, as TorchServe's worker loads them (the archive's code is not imported)."""
    with zipfile.ZipFile(archive) as mar:
        mar.extract(WEIGHTS_FILE, destination)
        mar.extract(SPEC_FILE, destination)
    return Forecaster.load(destination)


def publish_version(source: Path, target: Path) -> Path:
    """Copy `source` over `target` in one rename, readable by every user: the serving image runs
    as its own user and reads the model store the host writes (mkstemp's files are 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.chmod(tmp, ARCHIVE_MODE)
    os.replace(tmp, target)
    return target
