"""Which run `make run` / `make package` serve, and when an archive is reused instead of rebuilt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stockcast.app.layout import ProjectLayout
from stockcast.app.run_record import COMPLETE, FAILED, RUNNING, RunRecord
from stockcast.release.packaging import archive_source, build_mar, newest_servable_run
from stockcast.stack.control import archive_for, choose_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def layout(tmp_path: Path) -> ProjectLayout:
    """A checkout of its own: the real torchserve/ and handlers/, an empty outputs/ and model store."""
    for shared in ("torchserve", "handlers", "conf"):
        (tmp_path / shared).symlink_to(ROOT / shared)
    return ProjectLayout(tmp_path)


def add_run(
    layout: ProjectLayout,
    name: str,
    tiny_run: Path,
    completed_at: str | None,
    status: str = COMPLETE,
    debug: bool = False,
) -> Path:
    """A run directory holding the session's artifact and, unless `completed_at` is None and the
    status is complete, a run.json (None: a run trained before run.json existed)."""
    run = layout.runs_dir / name
    shutil.copytree(tiny_run / "artifact", run / "artifact")
    if completed_at is not None or status != COMPLETE:
        RunRecord(status, debug, "2026-01-01T00:00:00+00:00", completed_at).write(run)
    return run


def test_the_newest_complete_run_by_completion_time_wins_not_the_last_name(layout, tiny_run):
    add_run(layout, "2026-03-01_09-00-00", tiny_run, "2026-03-01T09:05:00+00:00")
    real = add_run(layout, "2026-03-02_09-00-00", tiny_run, "2026-03-02T09:05:00+00:00")
    add_run(layout, "resume_test", tiny_run, "2026-02-01T00:00:00+00:00")  # sorts last by name
    add_run(layout, "2026-03-03_09-00-00", tiny_run, "2026-03-03T09:00:10+00:00", debug=True)
    add_run(layout, "2026-03-04_09-00-00", tiny_run, "2026-03-04T09:00:10+00:00", FAILED)
    add_run(layout, "2026-03-05_09-00-00", tiny_run, None, RUNNING)  # killed mid-run
    add_run(layout, "2026-03-06_09-00-00", tiny_run, None)  # no run.json
    run, record = newest_servable_run(layout.runs_dir)
    assert run == real and record.completed_at == "2026-03-02T09:05:00+00:00"


def test_a_named_run_is_served_even_a_smoke_test(layout, tiny_run):
    add_run(layout, "real", tiny_run, "2026-03-02T09:05:00+00:00")
    smoke = add_run(layout, "smoke", tiny_run, "2026-03-03T09:05:00+00:00", debug=True)
    assert choose_run(layout, smoke) == (smoke, "named")


def test_an_archive_packaged_after_the_newest_run_is_kept_and_a_later_run_replaces_it(
    layout, tiny_run
):
    older = add_run(layout, "older", tiny_run, "2026-03-01T09:05:00+00:00")
    newest = add_run(layout, "newest", tiny_run, "2026-03-02T09:05:00+00:00")
    assert choose_run(layout)[0] == newest

    build_mar(layout, older, layout.model_store)  # make package RUN=older, now
    run, why = choose_run(layout)  # make run
    assert run == older.resolve() and why.startswith("its archive, packaged")

    later = add_run(layout, "later", tiny_run, "2999-01-01T00:00:00+00:00")
    assert choose_run(layout)[0] == later


def test_an_up_to_date_archive_is_reused_and_a_changed_artifact_is_packaged_again(layout, tiny_run):
    run = add_run(layout, "run", tiny_run, "2026-03-02T09:05:00+00:00")
    mar = layout.model_store / f"{layout.model_name}.mar"
    build_mar(layout, run, layout.model_store, version="7.1")
    stamp = mar.stat().st_mtime_ns

    source, reused = archive_for(layout, run)
    assert reused and mar.stat().st_mtime_ns == stamp
    assert (source.run, source.version) == (run.resolve(), "7.1")

    spec = run / "artifact" / "forecaster.json"
    changed = json.loads(spec.read_text())
    changed["info"]["ticker"] += "2"
    spec.write_text(json.dumps(changed))
    source, reused = archive_for(layout, run)
    assert not reused and mar.stat().st_mtime_ns != stamp
    assert source.version == "7.1"  # a rebuild of the same run keeps the version it was given
    assert archive_source(mar).run == run.resolve()
