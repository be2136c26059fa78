"""run.json: what a training run says about itself, so no tool guesses from directory names.

The Hydra callback `RecordRuns` (stockcast.app.cli.py) writes it when a job
starts and again when it ends. `make run` and `make package` read it to pick the newest complete,
non-debug run by completion time (stockcast/release/packaging.py); a smoke test (`debug=fast`) or a
failed run is never picked unless named.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

RUN_RECORD = "run.json"
RUNNING, COMPLETE, FAILED = "running", "complete", "failed"


def utc_now() -> str:
    """An ISO 8601 UTC timestamp to the second: sortable as text."""
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunRecord:
    """One run's status.

    status: `running`, `complete` or `failed` (a run killed mid-way stays `running`).
    debug: a smoke test (`trainer.fast_dev_run`): trained on one batch, never served by default.
    started_at, completed_at: UTC, ISO 8601; `completed_at` is set when the job ends either way.
    error: the one-line reason a failed run gives.
    overrides: the command-line overrides of the job, as Hydra records them.
    """

    status: str
    debug: bool
    started_at: str
    completed_at: str | None = None
    error: str | None = None
    overrides: tuple[str, ...] = ()

    @property
    def servable(self) -> bool:
        """Complete and not a smoke test: what `make run` may pick by itself."""
        return self.status == COMPLETE and not self.debug

    def ended(self, error: str | None = None) -> RunRecord:
        """This record at the job's end: complete, or failed with `error`."""
        return replace(
            self, status=FAILED if error else COMPLETE, completed_at=utc_now(), error=error
        )

    def write(self, run_dir: str | Path) -> None:
        """Write `<run_dir>/run.json` atomically (a reader never sees half a record)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".run.", suffix=".json", dir=run_dir)
        with os.fdopen(fd, "w") as handle:
            json.dump({**asdict(self), "overrides": list(self.overrides)}, handle, indent=2)
        os.replace(tmp, run_dir / RUN_RECORD)

    @classmethod
    def read(cls, run_dir: str | Path) -> RunRecord | None:
        """The run's record, or None when it has none (or an unreadable one)."""
        try:
            data = json.loads((Path(run_dir) / RUN_RECORD).read_text())
            return cls(**{**data, "overrides": tuple(data.get("overrides", ()))})
        except (OSError, ValueError, TypeError):
            return None
