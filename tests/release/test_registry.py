"""The MLflow model registry as the record of versions: each packaged version once, with its
archive, evaluated twin and where it came from; the champion and what a rollback restores as
aliases; the model store written from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockcast.app.layout import ProjectLayout
from stockcast.backtest.promotion import RULE_VERSION
from stockcast.model.forecaster import ARTIFACT_DIR, SPEC_FILE, WEIGHTS_FILE
from stockcast.release.packaging import HELDOUT_DIR, build_mar, save_heldout, versioned_archive
from stockcast.release.registry import CHALLENGER, CHAMPION, PREVIOUS, SERVED_TAG, Registry
from stockcast.release.versions import archive_version

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
NAME = LAYOUT.model_name


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A registry of its own: a fresh tracking store for this test."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'tracking' / 'mlflow.db'}")
    return Registry.at(tmp_path / "unused", NAME)


@pytest.fixture
def store(tiny_run: Path, tmp_path: Path) -> Path:
    """A model store with two versions of the tiny artifact, `a` with its evaluated twin."""
    store = tmp_path / "store"
    for version in ("20130301.a", "20130301.b"):
        build_mar(
            LAYOUT, tiny_run, store, version=version, file_name=versioned_archive(version, NAME)
        )
    save_heldout(tiny_run / ARTIFACT_DIR, store, "20130301.a")
    return store


def test_a_packaged_version_is_registered_once_with_its_archive_twin_and_origin(
    registry, store, tiny_run, tmp_path
):
    first = registry.register(store, "20130301.a", tiny_run)
    assert registry.register(store, "20130301.a", tiny_run).version == first.version  # once
    info = json.loads((tiny_run / ARTIFACT_DIR / SPEC_FILE).read_text())["info"]
    assert first.tags[SERVED_TAG] == "20130301.a"
    assert first.tags["trained_until"] == info["trained_until"]
    assert first.tags["data_sha256"] == info["data_sha256"]
    assert first.tags["source_run"] == str(tiny_run.resolve())
    # the archive and the twin are the version's artifacts: a store without them gets them back
    other = tmp_path / "other_store"
    archive = registry.fetch("20130301.a", other)
    assert archive == other / versioned_archive("20130301.a", NAME)
    assert archive.read_bytes() == (store / archive.name).read_bytes()
    twin = other / HELDOUT_DIR / "20130301.a"
    assert (twin / WEIGHTS_FILE).read_bytes() == (
        tiny_run / ARTIFACT_DIR / WEIGHTS_FILE
    ).read_bytes()
    # a run the tracking store does not know gets a source run of its own, named by its directory
    run = registry.client.get_run(first.run_id)
    assert run.data.tags["stockcast.output_dir"] == str(tiny_run.resolve())


def test_promotion_moves_the_champion_and_keeps_the_one_it_replaced_for_a_rollback(
    registry, store, tiny_run
):
    for version in ("20130301.a", "20130301.b"):
        registry.register(store, version, tiny_run)
    registry.deploy("20130301.a")  # `make run`
    assert registry.served(CHAMPION) == "20130301.a" and registry.served(PREVIOUS) is None
    registry.point(CHALLENGER, "20130301.b")
    assert registry.promote("20130301.b") == "20130301.a"
    assert registry.served(CHAMPION) == "20130301.b"
    assert registry.served(PREVIOUS) == "20130301.a"  # what `make rollback` restores
    assert registry.served(CHALLENGER) == "20130301.b"
    # `make run` deploying by hand leaves nothing for a rollback to undo
    registry.deploy("20130301.a")
    assert registry.served(CHAMPION) == "20130301.a" and registry.served(PREVIOUS) is None


def test_the_model_store_is_written_from_the_registry_with_the_champion_as_default(
    registry, store, tiny_run, tmp_path
):
    for version in ("20130301.a", "20130301.b"):
        registry.register(store, version, tiny_run)
    copy = tmp_path / "copy"
    assert registry.sync(copy) is None  # no champion yet: no default archive
    assert not (copy / f"{NAME}.mar").exists()
    assert (copy / versioned_archive("20130301.b", NAME)).is_file()
    registry.deploy("20130301.b")
    assert registry.sync(copy) == "20130301.b"
    assert archive_version(copy / f"{NAME}.mar") == "20130301.b"
    registry.promote("20130301.a")
    registry.sync(copy)
    assert archive_version(copy / f"{NAME}.mar") == "20130301.a"
    assert (copy / HELDOUT_DIR / "20130301.a" / WEIGHTS_FILE).is_file()


def test_a_decision_is_kept_on_the_challengers_version_and_linked_from_the_champions(
    registry, store, tiny_run
):
    registry.register(store, "20130301.a", tiny_run)
    registry.register(store, "20130301.b", tiny_run)
    decision = {
        "at": "2026-12-06T12:00:00+00:00",
        "champion": "20130301.a",
        "promoted": False,
        "objections": ["interval score 10.2 > 10.1"],
        "basis": "champion and reference",
        "rule_version": RULE_VERSION,
        "comparison": {"days": 250},
    }
    registry.record_decision("20130301.b", decision)
    tags = registry.version("20130301.b").tags
    assert tags["decision.promoted"] == "false"
    assert tags["decision.champion"] == "20130301.a"
    assert tags["decision.objections"] == "interval score 10.2 > 10.1"
    assert tags["decision.basis"] == "champion and reference"
    assert tags["decision.days"] == "250"
    assert tags["decision.rule_version"] == str(RULE_VERSION)
    assert registry.version("20130301.a").tags["decision.last_challenger"] == "20130301.b"
