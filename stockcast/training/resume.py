"""Resuming a run into its own directory: a run that already completed has nothing to resume.

`python train.py ckpt_path=<run>/checkpoints/last.ckpt hydra.run.dir=<run>` continues an
interrupted run. Given a run that completed, Lightning would train one more epoch (its early
stopping decides only after an epoch) and the run would write its metrics and run.json again, so
the figures a person has read would change under them. `complete_run_notice` is checked before
Hydra starts the job, so such a command changes nothing in the run directory, not even its log.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from stockcast.app.run_record import COMPLETE, RunRecord


def complete_run_notice(arguments: Sequence[str]) -> str | None:
    """One line saying the run is complete, when `arguments` (train.py's command line) resume a
    completed run's checkpoint into that run's own directory; otherwise None."""
    try:
        parsed = OverridesParser.create().parse_overrides(
            [arg for arg in arguments if not arg.startswith("-")]
        )
    except HydraException:  # Hydra reports a malformed override itself
        return None
    values = {override.key_or_group: override.value() for override in parsed}
    checkpoint, run_dir = values.get("ckpt_path"), values.get("hydra.run.dir")
    if not isinstance(checkpoint, str) or not isinstance(run_dir, str):
        return None
    run = Path(run_dir).resolve()
    if Path(checkpoint).resolve().parent.parent != run:  # <run>/checkpoints/<file>.ckpt
        return None
    record = RunRecord.read(run)
    if record is None or record.status != COMPLETE:
        return None
    return (
        f"{run_dir} is complete (finished {record.completed_at}): nothing to resume, nothing "
        f"changed; its figures are in {Path(run_dir) / 'metrics.json'}"
    )
