"""The model store as the record of versions: archives side by side, and which one is default.

    model_store/
      stockcast.mar                 a copy of the default version: what a (re)started TorchServe
                                    loads (`make run`, the container's load_models)
      stockcast-<version>.mar       every version that was ever registered
      heldout/<version>/            the evaluated twin of a refit version (packaging.save_heldout)
      lifecycle.json                the default promoted last, and every promotion and rollback

TorchServe keeps its default in memory only (the stack runs without config snapshots), so the
promotion state lives here, written in one rename each time the default changes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stockcast.errors import LifecycleError
from stockcast.model.forecaster import SPEC_FILE, WEIGHTS_FILE, Forecaster
from stockcast.release.packaging import ARCHIVE_MODE, HELDOUT_DIR, versioned_archive

STATE_FILE = "lifecycle.json"


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


def install_default(store: Path, version: str, model_name: str) -> None:
    """Copy `<model_name>-<version>.mar` onto `<model_name>.mar`, so a restart serves it."""
    publish_version(
        Path(store) / versioned_archive(version, model_name), default_archive(store, model_name)
    )


def heldout_forecaster(store: Path, version: str, model_name: str, scratch: Path) -> Forecaster:
    """The model whose held-out days stand for `version`: its evaluated twin when the store keeps
    one, else the archive's own artifact (an evaluated run packaged as is), unpacked in `scratch`."""
    twin = Path(store) / HELDOUT_DIR / version
    if (twin / WEIGHTS_FILE).is_file():
        return Forecaster.load(twin)
    destination = Path(scratch) / version
    with zipfile.ZipFile(Path(store) / keep_archive(store, version, model_name)) as mar:
        mar.extract(WEIGHTS_FILE, destination)
        mar.extract(SPEC_FILE, destination)
    return Forecaster.load(destination)


@dataclass
class PromotionState:
    """What `make retrain` and `make rollback` did to the default, oldest first."""

    default: str | None = None
    events: list[dict] = field(default_factory=list)  # {at, action, version, previous}
    decisions: dict[str, dict] = field(default_factory=dict)  # challenger -> its decision

    @classmethod
    def load(cls, store: Path) -> PromotionState:
        path = Path(store) / STATE_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else cls()

    def save(self, store: Path) -> None:
        """Write lifecycle.json in one rename."""
        fd, tmp = tempfile.mkstemp(prefix=f".{STATE_FILE}.", dir=store)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
        os.chmod(tmp, ARCHIVE_MODE)
        os.replace(tmp, Path(store) / STATE_FILE)

    def record(self, action: str, version: str, previous: str | None) -> None:
        """`version` became the default by `action` (promote / rollback), replacing `previous`."""
        self.default = version
        self.events.append(
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "action": action,
                "version": version,
                "previous": previous,
            }
        )

    def rollback_target(self) -> str | None:
        """The version the last promotion replaced; None when the last change was a rollback
        (rolling back twice changes nothing) or nothing was ever promoted."""
        if not self.events or self.events[-1]["action"] != "promote":
            return None
        return self.events[-1]["previous"]


def publish_version(source: Path, target: Path) -> Path:
    """Copy `source` over `target` in one rename, readable by every user: the serving image runs
    as its own user and reads the model store the host writes (mkstemp's files are 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.chmod(tmp, ARCHIVE_MODE)
    os.replace(tmp, target)
    return target
