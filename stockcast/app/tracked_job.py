"""`TrackRuns`: every Hydra job (train.py, backtest.py, lifecycle.py, each job of a sweep) is one
MLflow run, from the job's start to its end.

At the start it opens the run in the experiment named by `logger.mlflow.experiment_name` (the
task: train, backtest, lifecycle), tagged with the job's directory, the overrides and the source
(MLflow's own context tags: script, git commit, user), logs the composed config, resolved, as
params (`model.net.hidden_size`, ...) and exports the run's id as MLFLOW_RUN_ID, which the
Lightning logger of conf/logger/mlflow.yaml resumes (stockcast/app/tracked_logger.py). At the end
it logs the numbers of the job's JSON reports as final metrics, its artifacts and its log, and
ends the run FINISHED or FAILED.

A job resumed into its own directory (`ckpt_path=...`) continues the run of that directory
instead of starting another. A sweep is a run too, and its jobs' runs are nested under it.

It follows the job's config: without `logger.mlflow` (`logger=csv`) nothing is tracked. DDP's
extra processes (rank > 0) leave the run alone, like the run record.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from stockcast.app.tracking import (
    OUTPUT_DIR_TAG,
    PARENT_RUN_TAG,
    RUN_ID_ENV,
    experiment_id,
    flat,
    json_metrics,
    log_metrics,
    log_params,
    open_store,
    source_tags,
    tracking_uri,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

# the sweep's run, for its jobs to nest under (a joblib worker inherits it from the sweep)
SWEEP_RUN_ENV = "STOCKCAST_MLFLOW_SWEEP_RUN_ID"
OVERRIDES_TAG = "stockcast.overrides"
DEBUG_TAG = "stockcast.debug"
ERROR_TAG = "stockcast.error"
MAX_TAG_LENGTH = 5000  # MLflow keeps tag values up to 8000 characters


def end_unfinished_job(exit_code: int | str | None) -> None:
    """End the run of a job that left the process from inside its task (`sys.exit`: the user
    errors of backtest.py and lifecycle.py, lifecycle.py's status), which Hydra's `on_job_end`
    never sees: as the job would have ended, FINISHED for status 0, else FAILED."""
    if TrackRuns.running is not None:
        TrackRuns.running.end_exited(exit_code)


class TrackRuns(Callback):
    """See the module docstring.

    artifacts: paths in the job's directory logged when it ends, where they exist (files, or
        folders logged whole), e.g. metrics.json, forecast.png, backtest.json, .hydra.
    metric_files: JSON reports in the job's directory whose numbers become final metrics.
    """

    running: ClassVar[TrackRuns | None] = None  # the one whose job runs in this process

    def __init__(self, artifacts: Sequence[str] = (), metric_files: Sequence[str] = ()) -> None:
        self.artifacts = tuple(artifacts)
        self.metric_files = tuple(metric_files)
        self._job: tuple[str, str] | None = None  # (store URI, run id) of the running job
        self._job_config: DictConfig | None = None
        self._sweep: tuple[str, str] | None = None

    @rank_zero_only
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = OmegaConf.select(config, "logger.mlflow")
        if not settings:
            return
        uri = tracking_uri(settings.store_dir)
        client = open_store(uri)
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        run = client.create_run(
            experiment_id(client, uri, settings.experiment_name),
            run_name=f"sweep {sweep_dir.name}",
            tags=source_tags(
                {OUTPUT_DIR_TAG: str(sweep_dir), OVERRIDES_TAG: " ".join(sweep_overrides(config))}
            ),
        )
        self._sweep = (uri, run.info.run_id)
        os.environ[SWEEP_RUN_ENV] = run.info.run_id

    @rank_zero_only
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._sweep is None:
            return
        uri, run_id = self._sweep
        self._sweep = None
        os.environ.pop(SWEEP_RUN_ENV, None)
        open_store(uri).set_terminated(run_id, "FINISHED")

    @rank_zero_only
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = OmegaConf.select(config, "logger.mlflow")
        if not settings:
            return
        uri = tracking_uri(settings.store_dir)
        client = open_store(uri)
        experiment = experiment_id(client, uri, settings.experiment_name)
        output_dir = Path(config.hydra.runtime.output_dir).resolve()
        run_id = resumed_run(client, experiment, output_dir, config)
        logged: dict[str, str] = {}
        if run_id is None:
            tags = {
                OUTPUT_DIR_TAG: str(output_dir),
                OVERRIDES_TAG: " ".join(config.hydra.overrides.task)[:MAX_TAG_LENGTH],
                DEBUG_TAG: str(bool(OmegaConf.select(config, "trainer.fast_dev_run"))).lower(),
            }
            sweep = os.environ.get(SWEEP_RUN_ENV)
            if sweep and config.hydra.mode == RunMode.MULTIRUN:
                tags[PARENT_RUN_TAG] = sweep
            run_id = client.create_run(
                experiment, run_name=run_name(config, output_dir), tags=source_tags(tags)
            ).info.run_id
        else:
            client.update_run(run_id, status="RUNNING")
            logged = client.get_run(run_id).data.params
        os.environ[RUN_ID_ENV] = run_id
        self._job, self._job_config = (uri, run_id), config
        TrackRuns.running = self
        # a resumed job differs from its first start by ckpt_path alone, and MLflow keeps the
        # first value of a param: the resume is in the overrides tag and the log
        params = {key: value for key, value in composed_params(config).items() if key not in logged}
        log_params(client, run_id, params)

    @rank_zero_only
    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if self._job is None:
            return
        uri, run_id = self._job
        self._job = self._job_config = None
        TrackRuns.running = None
        os.environ.pop(RUN_ID_ENV, None)
        client = open_store(uri)
        output_dir = Path(config.hydra.runtime.output_dir)
        metrics: dict[str, float] = {}
        for name in self.metric_files:
            if (output_dir / name).is_file():
                metrics |= json_metrics(output_dir / name)
        log_metrics(client, run_id, metrics)
        log_outputs(client, run_id, output_dir, (*self.artifacts, f"{config.hydra.job.name}.log"))
        if job_return.status == JobStatus.COMPLETED:
            client.set_terminated(run_id, "FINISHED")
            return
        error = job_return._return_value  # the raised exception; `return_value` re-raises it
        client.set_tag(run_id, ERROR_TAG, f"{type(error).__name__}: {error}"[:MAX_TAG_LENGTH])
        client.set_terminated(run_id, "FAILED")

    def end_exited(self, exit_code: int | str | None) -> None:
        """`on_job_end` for a job that called `sys.exit(exit_code)` (`end_unfinished_job`)."""
        if self._job_config is None:
            return
        if exit_code in (0, None):
            status, value = JobStatus.COMPLETED, None
        else:
            status, value = JobStatus.FAILED, SystemExit(f"exit status {exit_code}")
        self.on_job_end(self._job_config, JobReturn(status=status, _return_value=value))


def composed_params(config: DictConfig) -> dict[str, str]:
    """The job's config (Hydra's own settings left out), resolved, flat: `data.window` -> `30`."""
    task = copy.deepcopy(config)
    with open_dict(task):
        del task["hydra"]
    resolved = OmegaConf.to_container(task, resolve=True)
    return {key: str(value) for key, value in flat(resolved, ".")}


def resumed_run(
    client: MlflowClient, experiment: str, output_dir: Path, config: DictConfig
) -> str | None:
    """For a job resumed into its own directory (`ckpt_path=` set), the run that directory
    started, if the store has it."""
    if not OmegaConf.select(config, "ckpt_path") or "'" in str(output_dir):
        return None
    found = client.search_runs(
        [experiment],
        filter_string=f"tags.`{OUTPUT_DIR_TAG}` = '{output_dir}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0].info.run_id if found else None


def run_name(config: DictConfig, output_dir: Path) -> str:
    """The run directory's name; in a sweep, `<sweep>/<job>`."""
    if config.hydra.mode == RunMode.MULTIRUN:
        return f"{Path(config.hydra.sweep.dir).name}/{output_dir.name}"
    return output_dir.name


def sweep_overrides(config: DictConfig) -> list[str]:
    """The sweep's command-line overrides (its jobs' own are in each job's tags)."""
    return list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])


def log_outputs(client: MlflowClient, run_id: str, output_dir: Path, names: Sequence[str]) -> None:
    """Each of `names` that the job wrote, under the same relative path in the run."""
    for name in names:
        path = output_dir / name
        if path.is_dir():
            client.log_artifacts(run_id, str(path), name)
        elif path.is_file():
            parent = Path(name).parent
            client.log_artifact(run_id, str(path), str(parent) if parent != Path(".") else None)
