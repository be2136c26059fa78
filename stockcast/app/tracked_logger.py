"""Lightning's MLflow logger, attached to the run of the Hydra job it trains in.

conf/logger/mlflow.yaml builds it for every training with `run_id` = the job's run (exported by
`stockcast.app.tracked_job.TrackRuns` as MLFLOW_RUN_ID) and the training's own directory:

- the job's own training (same directory as the run's `stockcast.output_dir` tag) resumes that
  run, so its per-epoch losses sit beside the config and final figures the callback logs; the
  callback, which started the run, also ends it (Lightning's logger would mark it finished when
  `fit` returns, before the test, the refit and the artifacts);
- a training in a subdirectory of the job's (the deployable refit in `<run>/refit`, a backtest
  fold in `<run>/folds/<n>`, in this process or a worker) gets its own run nested under the
  job's (`mlflow.parentRunId`), named by that subdirectory, and ends it itself;
- anything else (`train(cfg)` called from Python, outside any job) starts a run of its own in
  the experiment `experiment_name`.

When `run_id` is missing or names a run whose directory does not hold this training's (a backtest
fold in a worker process that another job of the same sweep started: workers are reused and keep
the environment they started with), the running job whose directory holds this one is looked up
by its tag instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from stockcast.app.tracking import (
    OUTPUT_DIR_TAG,
    artifact_location,
    experiment_id,
    open_store,
    tracking_uri,
)

# how far above its own directory a training looks for its job's: <job>/folds/<n> is two
ENCLOSING_LEVELS = 3


class TrackedRunLogger(MLFlowLogger):
    """`MLFlowLogger` on the job's run, a run nested under it, or a run of its own (see the
    module docstring)."""

    def __init__(
        self,
        store_dir: str,
        output_dir: str,
        experiment_name: str,
        run_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        uri = tracking_uri(store_dir)
        here = Path(output_dir).resolve()
        tags = {OUTPUT_DIR_TAG: str(here)}
        job = None
        if rank_zero_only.rank == 0:  # other DDP ranks never log
            client = open_store(uri)
            job = holding_run(client, run_id, here) or enclosing_run(client, experiment_name, here)
        resume = job.info.run_id if job is not None and job_dir(job) == here else None
        if job is not None and resume is None:
            tags |= {
                MLFLOW_PARENT_RUN_ID: job.info.run_id,
                MLFLOW_RUN_NAME: str(here.relative_to(job_dir(job))),
            }
        super().__init__(
            experiment_name=experiment_name,
            tracking_uri=uri,
            tags=tags if resume is None else None,
            artifact_location=artifact_location(uri),
            run_id=resume,
            **kwargs,
        )
        self._owns_run = resume is None
        if job is not None:
            self._experiment_id = job.info.experiment_id
        elif rank_zero_only.rank == 0:
            # found or made here, so parallel trainings never race Lightning's lookup
            self._experiment_id = experiment_id(client, uri, experiment_name)

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """End the run only when this logger started it; the job's run is the callback's."""
        if self._owns_run:
            super().finalize(status)


def job_dir(run: Run) -> Path:
    return Path(run.data.tags[OUTPUT_DIR_TAG])


def holding_run(client: MlflowClient, run_id: str | None, here: Path) -> Run | None:
    """The run `run_id` when its directory is `here` or holds it; None otherwise (no id, an id
    this store does not know, another job's run)."""
    if not run_id:
        return None
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None
    if OUTPUT_DIR_TAG in run.data.tags and here.is_relative_to(job_dir(run)):
        return run
    return None


def enclosing_run(client: MlflowClient, experiment_name: str, here: Path) -> Run | None:
    """The running job of `experiment_name` whose directory is nearest above `here` (up to
    ENCLOSING_LEVELS), if any."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    for directory in here.parents[:ENCLOSING_LEVELS]:
        if "'" in str(directory):  # not expressible in a search filter; no job is found
            return None
        found = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{OUTPUT_DIR_TAG}` = '{directory}' "
            "and attributes.status = 'RUNNING'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if found:
            return found[0]
    return None
