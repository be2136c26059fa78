"""The MLflow model registry as the one record of versions: what exists, what is served by
default, what a rollback restores.

Registered model `<model_name>` (stockcast) in the tracking store (stockcast/app/tracking.py: the
project's SQLite file, or the team's server). Every packaged version is one MLflow model version:

    artifacts   `models/<served>/` of its source run (the training run, found by its directory;
                a run of the experiment `package` for an archive trained elsewhere): the archive
                `<model_name>-<served>.mar` and, for a refit version, `heldout/` (its evaluated
                twin, the model `make retrain` judges it by)
    tags        served_version (TorchServe's version string), trained_until, data_sha256 (the
                rows it learned from), source_run (the training run's directory); a judged
                challenger also its decision (decision.promoted, decision.objections, ...)
    aliases     champion: what TorchServe serves by default and a restart loads;
                challenger: the version judged last;
                previous: the champion the last promotion replaced, what `make rollback`
                restores (a rollback removes it, so a second one has nothing to undo)

The model store TorchServe and the container read is a copy: `sync` writes each version's
archive (and twin) that it lacks, and `<model_name>.mar` = the champion's archive.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from stockcast.app.tracking import (
    OUTPUT_DIR_TAG,
    experiment_id,
    open_store,
    source_tags,
    tracking_uri,
)
from stockcast.errors import LifecycleError
from stockcast.model.forecaster import SPEC_FILE
from stockcast.release.packaging import HELDOUT_DIR, versioned_archive
from stockcast.release.versions import archive_version, default_archive, publish_version

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
SERVED_TAG = "served_version"
MODELS_DIR = "models"  # in the source run's artifacts: models/<served version>/
PACKAGE_EXPERIMENT = "package"  # source runs of archives trained outside any tracked job


@dataclass(frozen=True)
class Registry:
    """The registered model `name` in the tracking store at `uri`."""

    uri: str
    name: str

    @classmethod
    def at(cls, store_dir: str | Path, name: str) -> Registry:
        """The registry of the tracking store `store_dir` names (MLFLOW_TRACKING_URI wins)."""
        return cls(tracking_uri(store_dir), name)

    @cached_property
    def client(self) -> MlflowClient:
        return open_store(self.uri)

    # --- reading -------------------------------------------------------------------------------

    def version(self, served: str) -> ModelVersion | None:
        """The model version whose TorchServe version string is `served`."""
        if "'" in served:
            return None
        found = self.client.search_model_versions(
            f"name='{self.name}' and tags.{SERVED_TAG}='{served}'"
        )
        return found[0] if found else None

    def versions(self) -> list[ModelVersion]:
        """Every version of the model, oldest first."""
        found = self.client.search_model_versions(f"name='{self.name}'")
        return sorted(found, key=lambda version: int(version.version))

    def aliased(self, alias: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException:  # no such model yet, or no such alias
            return None

    def served(self, alias: str) -> str | None:
        """The TorchServe version string the alias points at, if it is set."""
        version = self.aliased(alias)
        return version.tags[SERVED_TAG] if version is not None else None

    # --- writing -------------------------------------------------------------------------------

    def register(self, store: Path, served: str, run_dir: Path | None = None) -> ModelVersion:
        """The model version of the archive of `served` in `store` (its versioned file, or the
        default archive when that holds it), registered now if it is not yet; idempotent."""
        existing = self.version(served)
        if existing is not None:
            return existing
        archive = archive_file(store, served, self.name)
        run_id = self._source_run(run_dir, served)
        with tempfile.TemporaryDirectory(prefix="stockcast-registry-") as scratch:
            staged = Path(scratch)
            shutil.copyfile(archive, staged / versioned_archive(served, self.name))
            twin = Path(store) / HELDOUT_DIR / served
            if twin.is_dir():
                shutil.copytree(twin, staged / HELDOUT_DIR)
            self.client.log_artifacts(run_id, str(staged), f"{MODELS_DIR}/{served}")
        info = archive_info(archive)
        tags = {
            SERVED_TAG: served,
            "trained_until": str(info.get("trained_until", "")),
            "data_sha256": str(info.get("data_sha256", "")),
            "source_run": str(run_dir.resolve()) if run_dir else "",
        }
        self._ensure_model()
        return self.client.create_model_version(
            self.name, f"runs:/{run_id}/{MODELS_DIR}/{served}", run_id=run_id, tags=tags
        )

    def point(self, alias: str, served: str) -> None:
        """Move `alias` to the version `served` (registered)."""
        version = self.version(served)
        if version is None:
            raise LifecycleError(f"version {served} is not in the registry of {self.name}")
        self.client.set_registered_model_alias(self.name, alias, version.version)

    def drop(self, alias: str) -> None:
        if self.aliased(alias) is not None:
            self.client.delete_registered_model_alias(self.name, alias)

    def promote(self, served: str) -> str | None:
        """`served` becomes the champion; the champion it replaces becomes `previous` (what a
        rollback restores). Returns that replaced champion."""
        replaced = self.served(CHAMPION)
        self.point(CHAMPION, served)
        if replaced is not None and replaced != served:
            self.point(PREVIOUS, replaced)
        return replaced

    def deploy(self, served: str) -> None:
        """`served` is deployed as the default by hand (`make run`): the champion, and nothing
        is left for a rollback (no rule replaced anything)."""
        if self.served(CHAMPION) != served:
            self.drop(PREVIOUS)
        self.point(CHAMPION, served)

    def record_decision(self, served: str, decision: dict) -> None:
        """The decision on challenger `served`, as tags of its version."""
        version = self.version(served)
        if version is None:
            raise LifecycleError(f"version {served} is not in the registry of {self.name}")
        tags = {
            "decision.at": decision["at"],
            "decision.champion": decision["champion"],
            "decision.promoted": str(decision["promoted"]).lower(),
            "decision.objections": "; ".join(decision["objections"])[:5000],
            "decision.run": os.environ.get("MLFLOW_RUN_ID", ""),
            "decision.basis": decision["basis"],
            "decision.days": str(decision["comparison"]["days"]),
            "decision.rule_version": str(decision["rule_version"]),
        }
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version.version, key, value)
        # the champion's version links back to the challengers it was judged against
        defended = self.version(decision["champion"])
        if defended is not None and defended.version != version.version:
            self.client.set_model_version_tag(
                self.name, defended.version, "decision.last_challenger", served
            )

    # --- the model store as a copy -------------------------------------------------------------

    def fetch(self, served: str, store: Path) -> Path:
        """`<store>/<model_name>-<served>.mar` (and its twin), downloaded when missing."""
        target = Path(store) / versioned_archive(served, self.name)
        if target.is_file():
            return target
        version = self.version(served)
        if version is None:
            raise LifecycleError(f"version {served} is neither in {store} nor in the registry")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        with tempfile.TemporaryDirectory(prefix="stockcast-registry-") as scratch:
            local = Path(
                self.client.download_artifacts(version.run_id, f"{MODELS_DIR}/{served}", scratch)
            )
            twin = local / HELDOUT_DIR
            if twin.is_dir() and not (Path(store) / HELDOUT_DIR / served).is_dir():
                shutil.copytree(twin, Path(store) / HELDOUT_DIR / served)
            Path(store).mkdir(parents=True, exist_ok=True)
            publish_version(local / target.name, target)
        return target

    def sync(self, store: Path) -> str | None:
        """Every registered version's archive in `store`, and `<model_name>.mar` the
        champion's (what a restarted TorchServe loads); returns the champion."""
        for version in self.versions():
            self.fetch(version.tags[SERVED_TAG], store)
        champion = self.served(CHAMPION)
        if champion is not None:
            default = default_archive(store, self.name)
            if not default.is_file() or archive_version(default) != champion:
                publish_version(self.fetch(champion, store), default)
        return champion

    # --- helpers -------------------------------------------------------------------------------

    def _ensure_model(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            try:
                self.client.create_registered_model(
                    self.name, description="stockcast forecaster versions (TorchServe archives)"
                )
            except MlflowException:  # created meanwhile by another process
                self.client.get_registered_model(self.name)

    def _source_run(self, run_dir: Path | None, served: str) -> str:
        """The tracked run of the training in `run_dir`, else a run of its own in `package`."""
        client = self.client
        if run_dir is not None and "'" not in str(run_dir.resolve()):
            experiments = [e.experiment_id for e in client.search_experiments()]
            found = client.search_runs(
                experiments,
                f"tags.`{OUTPUT_DIR_TAG}` = '{run_dir.resolve()}'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )
            if found:
                return found[0].info.run_id
        tags = {OUTPUT_DIR_TAG: str(run_dir.resolve())} if run_dir else {}
        run = client.create_run(
            experiment_id(client, self.uri, PACKAGE_EXPERIMENT),
            run_name=f"{self.name} {served}",
            tags=source_tags(tags),
        )
        client.set_terminated(run.info.run_id, "FINISHED")
        return run.info.run_id


def archive_file(store: Path, served: str, model_name: str) -> Path:
    """The archive of `served` in `store`: its versioned file, or the default when it holds it."""
    versioned = Path(store) / versioned_archive(served, model_name)
    if versioned.is_file():
        return versioned
    default = default_archive(store, model_name)
    if default.is_file() and archive_version(default) == served:
        return default
    raise LifecycleError(f"no archive of version {served} in {store}")


def archive_info(archive: Path) -> dict:
    """The `info` block of the forecaster an archive carries (training range, fingerprint)."""
    with zipfile.ZipFile(archive) as mar:
        return json.loads(mar.read(SPEC_FILE)).get("info", {})
