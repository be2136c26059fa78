"""How `python train.py` behaves for a person: run records, user errors, sweep failures.

`run_cli` calls the `@hydra.main` function so that Hydra's own errors (an unknown override, a
missing config group) end in one line and exit status 2 instead of Hydra's five lines and 1.

`RecordRuns` writes run.json (stockcast/app/run_record.py) at each job's start and end, and
turns a user error (a `StockcastError`: bad data, a bad setting) into what a person needs: in a
single run, `error: <one line>` and exit status 2; in a sweep, the job is marked failed and the
others go on, and the failed jobs are listed in one table at the end (exit status 2).

Why a callback: Hydra's basic sweeper runs every job of its batch, then raises the first failure,
skipping `on_multirun_end`, so the failures of a sweep could not be reported together. A job that
failed on a user error is therefore handed back to the basic sweeper as completed with no value,
once its failure is recorded. Other sweepers (Optuna) handle failed jobs themselves and keep
them; any other exception (a bug) keeps Hydra's traceback.

`RequireSlurm` (conf/launcher/slurm.yaml) stops `launcher=slurm` in one line on a machine with no
SLURM, before submitit raises from inside Hydra's launcher.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException, InstantiationException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from stockcast.app.run_record import FAILED, RUN_RECORD, RUNNING, RunRecord, utc_now
from stockcast.errors import StockcastError

log = logging.getLogger(__name__)
USER_ERROR_EXIT = 2
T = TypeVar("T")
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def run_cli(main: Callable[[], Any]) -> None:
    """Run `main` (a `@hydra.main` function); a Hydra config error ends in one line, exit 2."""
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its errors instead of printing them
    try:
        main()
    except CompactHydraException as error:
        print(f"error: {_unknown_key(error) or _one_line(error)}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    except SystemExit as exit_:
        # a task that exits itself (or_exit, lifecycle.py) skips Hydra's on_job_end: its MLflow
        # run is ended here (imported here: the resume notice path never loads MLflow)
        from stockcast.app.tracked_job import end_unfinished_job

        end_unfinished_job(exit_.code)
        raise


def _unknown_key(error: CompactHydraException) -> str | None:
    """For an override of a key that does not exist (`data.windw=3`), say so and name the
    closest key, instead of Hydra's advice to add it with `+data.windw=3`."""
    cause = error.__cause__
    if not isinstance(cause, ConfigKeyError | ConfigAttributeError) or not cause.full_key:
        return None
    parent = cause.parent_node
    known = [str(k) for k in parent if k != "hydra"] if isinstance(parent, DictConfig) else []
    where = cause.full_key.rpartition(".")[0]
    prefix = f"{where}." if where else ""
    close = difflib.get_close_matches(str(cause.key), known, n=1)
    hint = f"; did you mean {prefix}{close[0]}?" if close else ""
    listed = f" (its keys: {', '.join(known)})" if known and not close else ""
    section = f"`{where}`" if where else "the config"
    return f"{cause.full_key} is not a setting: {section} has no key {cause.key!r}{hint}{listed}"


def _one_line(error: CompactHydraException) -> str:
    """Hydra's message and the first line of its cause, without the config search path."""
    lines = [*str(error).splitlines(), *str(error.__cause__ or "").splitlines()[:1]]
    kept = []
    for line in (line.strip().rstrip(".:") for line in lines):
        if line.startswith("Config search path"):
            break
        if line:
            kept.append(line)
    return "; ".join(kept)


def or_exit(call: Callable[[], T]) -> T:
    """`call()`, or, for a user error (a `StockcastError`, also as Hydra's instantiate wraps
    it), its message on one line and exit status 2; anything else is a bug and propagates."""
    try:
        return call()
    except (StockcastError, InstantiationException) as exception:
        cause = user_error(exception)
        if cause is None:
            raise
        print(f"error: {cause}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)


def user_error(exception: BaseException) -> StockcastError | None:
    """The `StockcastError` behind a failure (Hydra wraps errors raised while instantiating)."""
    if isinstance(exception, InstantiationException):
        exception = exception.__cause__
    return exception if isinstance(exception, StockcastError) else None


class RecordRuns(Callback):
    """See the module docstring. DDP's extra processes (rank > 0) leave the record alone."""

    @rank_zero_only
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        RunRecord(
            status=RUNNING,
            debug=bool(OmegaConf.select(config, "trainer.fast_dev_run")),
            started_at=utc_now(),
            overrides=tuple(config.hydra.overrides.task),
        ).write(config.hydra.runtime.output_dir)

    @rank_zero_only
    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        run_dir = Path(config.hydra.runtime.output_dir)
        record = RunRecord.read(run_dir) or RunRecord(RUNNING, False, utc_now())
        if job_return.status == JobStatus.COMPLETED:
            record.ended().write(run_dir)
            return
        exception = job_return._return_value  # the raised exception; `return_value` re-raises it
        error = user_error(exception)
        record.ended(str(error) if error else f"{type(exception).__name__}: {exception}").write(
            run_dir
        )
        if error is None:
            return
        if HydraConfig.get().mode == RunMode.RUN:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(USER_ERROR_EXIT)
        log.error("error: %s", error)
        if config.hydra.sweeper._target_ == BASIC_SWEEPER:
            job_return.status, job_return.return_value = JobStatus.COMPLETED, None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        records = {
            path.parent: RunRecord.read(path.parent) for path in sweep_dir.glob(f"*/{RUN_RECORD}")
        }
        failed = sorted(
            (run_dir for run_dir, record in records.items() if record and record.status == FAILED),
            key=lambda run_dir: (len(run_dir.name), run_dir.name),
        )
        if not failed:
            print(f"{len(records)} job(s) finished: python scripts/summarize_runs.py {sweep_dir}")
            return
        shared = set.intersection(*(set(r.overrides) for r in records.values() if r))
        lines = [
            f"error: {len(failed)} of {len(records)} job(s) failed; the others finished "
            f"(python scripts/summarize_runs.py {sweep_dir}):",
            "| job | overrides | error |",
            "|---|---|---|",
        ]
        for run_dir in failed:
            record = records[run_dir]
            own = " ".join(o for o in record.overrides if o not in shared)  # what this job varies
            lines.append(f"| {run_dir.name} | {own} | {record.error} |")
        print("\n".join(lines), file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)


class RequireSlurm(Callback):
    """Refuse `launcher=slurm` in one line where no SLURM client is installed."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from submitit import SlurmExecutor

        if SlurmExecutor.affinity() < 0:
            print(
                "error: launcher=slurm submits each job to a SLURM cluster, and this machine has "
                "no SLURM client (`srun` is not on PATH): run it on the cluster's login node, or "
                "use launcher=joblib to run the jobs here in parallel",
                file=sys.stderr,
            )
            sys.exit(USER_ERROR_EXIT)
