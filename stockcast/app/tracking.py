"""Where MLflow tracking goes, and the conventions every tracked job shares.

The store is `MLFLOW_TRACKING_URI` when it is set (a team's tracking server; its credentials in
`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`, which MLflow's client reads itself), else
a SQLite file in the project (`paths.mlflow_dir`, outputs/mlflow/ by default) with its artifacts
in a folder beside it: `make run` and `make test` need no server and work offline, and
`make mlflow` browses that file.

Every Hydra job is one MLflow run (`stockcast.app.tracked_job.TrackRuns` starts and ends it, in
the experiment named after the task: train, backtest, lifecycle); the run carries the job's
directory as a tag, which is how a training inside the job (the deployable refit, a backtest
fold) finds the run to nest under (`stockcast.app.tracked_logger.TrackedRunLogger`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # MLflow itself is imported where it is used: a job that tracks nothing
    from mlflow import MlflowClient  # (`logger=csv`) never pays its second of imports

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
# MLflow's own variable for "the active run": the job exports its run's id here for its loggers
RUN_ID_ENV = "MLFLOW_RUN_ID"
DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
SQLITE = "sqlite:///"
# the job's run directory (absolute): a training inside it nests its run under the job's
OUTPUT_DIR_TAG = "stockcast.output_dir"
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's system tag: the UI shows the run nested
# what MLflow accepts in one log_batch call
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000


def tracking_uri(store_dir: str | Path) -> str:
    """`MLFLOW_TRACKING_URI`, else the SQLite file in `store_dir` (see the module docstring)."""
    return os.environ.get(TRACKING_URI_ENV) or local_store_uri(store_dir)


def local_store_uri(store_dir: str | Path) -> str:
    """The project's embedded store: `sqlite:///<store_dir>/mlflow.db`, absolute."""
    return f"{SQLITE}{Path(store_dir).resolve() / DB_FILE}"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a local SQLite file (MLflow's default
    would be ./mlruns in whatever directory the job started from); a server decides its own."""
    if not uri.startswith(SQLITE):
        return None
    return (Path(uri.removeprefix(SQLITE)).resolve().parent / ARTIFACTS_DIR).as_uri()


def open_store(uri: str) -> MlflowClient:
    """A client of the store; a local SQLite store's folder is made first (MLflow creates the
    file and its tables, not the folder)."""
    if uri.startswith(SQLITE):
        Path(uri.removeprefix(SQLITE)).parent.mkdir(parents=True, exist_ok=True)
    # "Creating initial MLflow database tables...", "Updating database tables": two lines on a
    # store's first use that tell a user nothing (and would break an error's one line)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    from mlflow import MlflowClient

    return MlflowClient(uri)


def experiment_id(client: MlflowClient, uri: str, name: str) -> str:
    """The id of experiment `name` in the store at `uri`, created (or restored from MLflow's
    trash) when needed. Parallel jobs may both create it: the loser of that race reads the
    winner's."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location(uri))
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def source_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """`tags` and MLflow's own about where a run comes from (script, git commit, user)."""
    from mlflow.tracking.context.registry import resolve_tags

    return resolve_tags(dict(tags))


def flat(tree: Mapping[str, Any], separator: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(`a<sep>b<sep>c`, leaf) for every leaf of nested mappings; lists are leaves."""
    for key, value in tree.items():
        name = f"{prefix}{separator}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from flat(value, separator, name)
        else:
            yield name, value


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    """`params` (flat) as the run's parameters, in the batches MLflow accepts."""
    from mlflow.entities import Param

    entries = [Param(key, str(value)) for key, value in params.items()]
    for start in range(0, len(entries), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=entries[start : start + PARAMS_PER_BATCH])


def numeric_leaves(tree: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> dict[str, float]:
    """Every number of a JSON report, keyed by its path (`methods/model/winkler`); lists,
    text, nulls and the top-level keys in `skip` are left out."""
    return {
        key: float(value)
        for key, value in flat({k: v for k, v in tree.items() if k not in skip}, "/")
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def log_metrics(client: MlflowClient, run_id: str, metrics: Mapping[str, float]) -> None:
    """Final figures (step 0) in the batches MLflow accepts; NaN is kept (MLflow stores it)."""
    from mlflow.entities import Metric

    now = int(1000 * time.time())
    entries = [
        Metric(key, value if math.isfinite(value) else float("nan"), now, 0)
        for key, value in metrics.items()
    ]
    for start in range(0, len(entries), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=entries[start : start + METRICS_PER_BATCH])


def json_metrics(path: Path) -> dict[str, float]:
    """The numbers of a JSON report the job wrote (metrics.json, backtest.json), without its
    measuring conditions (`stamp`: load, machine), which are not results."""
    return numeric_leaves(json.loads(path.read_text()), skip=frozenset({"stamp"}))
