"""MLflow tracking: where the store is, one run per Hydra job with its config, losses, final
figures and files, and the trainings inside a job (refit, backtest folds) nested under its run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from omegaconf import DictConfig, open_dict

from stockcast.app.tracked_job import TrackRuns
from stockcast.app.tracked_logger import TrackedRunLogger
from stockcast.app.tracking import (
    OUTPUT_DIR_TAG,
    RUN_ID_ENV,
    artifact_location,
    local_store_uri,
    tracking_uri,
)

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"
# the suite's training settings (tests/conftest.py), as train.py overrides
TINY = ("trainer.max_epochs=2", "model.net.hidden_size=16", "trainer.enable_progress_bar=false")


def job_config(output_dir: Path, *overrides: str) -> DictConfig:
    """train.yaml as train.py composes it for a job writing to `output_dir`, Hydra's part
    included, and Hydra's runtime set as a running job sees it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True, overrides=list(overrides))
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.name = "train"
    HydraConfig.instance().set_config(cfg)
    output_dir.mkdir(parents=True, exist_ok=True)
    return cfg


def tracker(cfg: DictConfig) -> TrackRuns:
    """The callback as conf/hydra/default.yaml configures it."""
    settings = cfg.hydra.callbacks.track_runs
    return TrackRuns(artifacts=settings.artifacts, metric_files=settings.metric_files)


@pytest.fixture
def client(mlflow_store: str) -> MlflowClient:
    return MlflowClient(mlflow_store)


@pytest.fixture(autouse=True)
def no_job_around(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No run id left over from another test's job, and no Hydra job left for the next test."""
    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    yield
    HydraConfig.instance().cfg = None


def test_the_store_is_the_environments_server_else_a_sqlite_file_in_the_project(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.org")
    assert tracking_uri(tmp_path) == "https://mlflow.example.org"
    assert artifact_location("https://mlflow.example.org") is None  # the server decides
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    uri = tracking_uri("outputs/mlflow")
    assert uri == f"sqlite:///{ROOT / 'outputs' / 'mlflow' / 'mlflow.db'}"
    assert artifact_location(uri) == (ROOT / "outputs" / "mlflow" / "artifacts").as_uri()


def test_every_run_logs_to_csv_and_mlflow_by_default_and_logger_csv_turns_mlflow_off(tmp_path):
    cfg = job_config(tmp_path)
    assert set(cfg.logger) == {"csv", "mlflow"}
    assert cfg.logger.mlflow.store_dir == "outputs/mlflow"
    assert "track_runs" in cfg.hydra.callbacks
    assert set(job_config(tmp_path, "logger=csv").logger) == {"csv"}


def test_a_job_is_one_run_with_its_config_final_figures_files_and_status(tmp_path, client):
    cfg = job_config(tmp_path / "run", "data.window=20")
    callback = tracker(cfg)
    callback.on_job_start(cfg)
    run_id = os.environ[RUN_ID_ENV]  # what the job's Lightning logger resumes
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"test/mae": 1.5, "n": 3}))
    (tmp_path / "run" / "forecast.png").write_bytes(b"png")
    (tmp_path / "run" / "train.log").write_text("the log\n")
    callback.on_job_end(cfg, JobReturn(status=JobStatus.COMPLETED, _return_value=0.1))

    assert RUN_ID_ENV not in os.environ
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "train"
    assert run.data.params["data.window"] == "20"
    assert run.data.params["model.net.hidden_size"] == str(cfg.model.net.hidden_size)
    assert run.data.params["paths.output_dir"] == str(tmp_path / "run")  # resolved
    assert run.data.tags[OUTPUT_DIR_TAG] == str(tmp_path / "run")
    assert run.data.tags["stockcast.overrides"] == "data.window=20"
    assert run.data.metrics == {"test/mae": 1.5, "n": 3.0}
    assert {a.path for a in client.list_artifacts(run_id)} == {
        "metrics.json",
        "forecast.png",
        "train.log",
    }


def test_a_failed_job_is_a_failed_run_with_its_error(tmp_path, client):
    cfg = job_config(tmp_path)
    callback = tracker(cfg)
    callback.on_job_start(cfg)
    run_id = os.environ[RUN_ID_ENV]
    error = ValueError("data.window must be at least 2")
    callback.on_job_end(cfg, JobReturn(status=JobStatus.FAILED, _return_value=error))
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["stockcast.error"] == "ValueError: data.window must be at least 2"


def test_a_job_resumed_into_its_directory_continues_its_run(tmp_path, client):
    first = job_config(tmp_path)
    callback = tracker(first)
    callback.on_job_start(first)
    run_id = os.environ[RUN_ID_ENV]
    # killed: no job end; then resumed from its last checkpoint into the same directory
    resumed = job_config(tmp_path, f"ckpt_path={tmp_path}/checkpoints/last.ckpt")
    callback.on_job_start(resumed)
    assert os.environ[RUN_ID_ENV] == run_id
    callback.on_job_end(resumed, JobReturn(status=JobStatus.COMPLETED, _return_value=0.1))
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["ckpt_path"] == "None"  # the first start's value stays
    # a new job in the same directory without ckpt_path is a new run
    again = job_config(tmp_path)
    callback.on_job_start(again)
    assert os.environ[RUN_ID_ENV] != run_id
    callback.on_job_end(again, JobReturn(status=JobStatus.COMPLETED, _return_value=0.1))


def logger_for(cfg: DictConfig, output_dir: Path) -> TrackedRunLogger:
    """The Lightning logger conf/logger/mlflow.yaml builds for a training in `output_dir`."""
    settings = cfg.logger.mlflow
    return TrackedRunLogger(
        store_dir=settings.store_dir,
        output_dir=str(output_dir),
        experiment_name=settings.experiment_name,
        run_id=os.environ.get(RUN_ID_ENV),
    )


def test_the_jobs_training_logs_into_the_jobs_run_and_the_refit_into_a_nested_one(tmp_path, client):
    cfg = job_config(tmp_path)
    callback = tracker(cfg)
    callback.on_job_start(cfg)
    job_run = os.environ[RUN_ID_ENV]

    own = logger_for(cfg, tmp_path)
    own.log_metrics({"val/loss": 0.5}, step=10)
    own.finalize("success")  # what Lightning does when fit returns
    assert own.run_id == job_run
    assert client.get_run(job_run).info.status == "RUNNING"  # the callback ends it

    refit = logger_for(cfg, tmp_path / "refit")
    refit.log_metrics({"train/loss": 0.7}, step=5)
    refit.finalize("success")
    nested = client.get_run(refit.run_id)
    assert nested.data.tags[MLFLOW_PARENT_RUN_ID] == job_run
    assert nested.info.run_name == "refit"
    assert nested.info.status == "FINISHED"
    assert nested.info.experiment_id == client.get_run(job_run).info.experiment_id

    callback.on_job_end(cfg, JobReturn(status=JobStatus.COMPLETED, _return_value=0.1))
    history = client.get_metric_history(job_run, "val/loss")
    assert [(m.step, m.value) for m in history] == [(10, 0.5)]


def test_a_fold_with_another_jobs_run_id_finds_its_own_job(tmp_path, client, monkeypatch):
    first = job_config(tmp_path / "sweep" / "0")
    callback = tracker(first)
    callback.on_job_start(first)
    stale = os.environ[RUN_ID_ENV]
    callback.on_job_end(first, JobReturn(status=JobStatus.COMPLETED, _return_value=0.1))
    second = job_config(tmp_path / "sweep" / "1")
    callback.on_job_start(second)
    job_run = os.environ[RUN_ID_ENV]
    # a reused worker process still holds the first job's id
    monkeypatch.setenv(RUN_ID_ENV, stale)
    fold = logger_for(second, tmp_path / "sweep" / "1" / "folds" / "0")
    assert client.get_run(fold.run_id).data.tags[MLFLOW_PARENT_RUN_ID] == job_run
    assert client.get_run(fold.run_id).info.run_name == "folds/0"
    callback.on_job_end(second, JobReturn(status=JobStatus.COMPLETED, _return_value=0.1))


def test_a_training_outside_any_job_has_a_run_of_its_own(tmp_path, client):
    cfg = job_config(tmp_path)
    alone = logger_for(cfg, tmp_path / "alone")
    alone.log_metrics({"train/loss": 0.7}, step=1)
    alone.finalize("success")
    run = client.get_run(alone.run_id)
    assert MLFLOW_PARENT_RUN_ID not in run.data.tags
    assert run.info.status == "FINISHED"


def test_without_a_server_the_store_is_a_file_in_the_project_and_needs_nothing(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    cfg = job_config(tmp_path / "run", f"paths.log_dir={tmp_path / 'outputs'}")
    callback = tracker(cfg)
    callback.on_job_start(cfg)
    run_id = os.environ[RUN_ID_ENV]
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"test/mae": 1.5}))
    callback.on_job_end(cfg, JobReturn(status=JobStatus.COMPLETED, _return_value=0.1))
    store = tmp_path / "outputs" / "mlflow"
    run = MlflowClient(local_store_uri(store)).get_run(run_id)
    assert run.data.metrics == {"test/mae": 1.5}
    assert (store / "artifacts").is_dir()
    assert list((store / "artifacts").rglob("metrics.json"))


def train_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_a_train_py_run_is_in_the_store_with_params_epochs_figures_plots_and_its_refit(
    tmp_path, client
):
    result = train_py(*TINY, "refit=true", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    experiment = client.get_experiment_by_name("train")
    (job,) = client.search_runs(
        [experiment.experiment_id], f"tags.`{OUTPUT_DIR_TAG}` = '{tmp_path}'"
    )
    assert job.info.status == "FINISHED"
    assert job.data.params["model.net.hidden_size"] == "16"
    assert job.data.params["trainer.max_epochs"] == "2"
    epochs = client.get_metric_history(job.info.run_id, "val/loss")
    assert len(epochs) == 2  # one per epoch, from Lightning
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert job.data.metrics["test/rel_mae"] == pytest.approx(metrics["test/rel_mae"])
    artifacts = {a.path for a in client.list_artifacts(job.info.run_id)}
    assert {"metrics.json", "forecast.png", ".hydra", "train.log", "refit"} <= artifacts
    (refit,) = client.search_runs(
        [experiment.experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{job.info.run_id}'"
    )
    assert refit.info.run_name == "refit" and refit.info.status == "FINISHED"
    assert len(client.get_metric_history(refit.info.run_id, "train/loss")) == 2


@pytest.mark.slow
def test_a_backtest_is_one_run_with_its_scores_and_its_folds_nested(tmp_path, client):
    result = subprocess.run(
        [sys.executable, "backtest.py", "backtest.last_days=40", "backtest.refit_every=20"]
        + ["trainer.max_epochs=1", "model.net.hidden_size=8", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    experiment = client.get_experiment_by_name("backtest")
    (job,) = client.search_runs(
        [experiment.experiment_id], f"tags.`{OUTPUT_DIR_TAG}` = '{tmp_path}'"
    )
    report = json.loads((tmp_path / "backtest.json").read_text())
    assert job.data.metrics["methods/model/winkler"] == pytest.approx(
        report["methods"]["model"]["winkler"]
    )
    assert job.data.metrics["days"] == 40
    artifacts = {a.path for a in client.list_artifacts(job.info.run_id)}
    assert {"backtest.json", "backtest.png", ".hydra", "backtest.log"} <= artifacts
    folds = client.search_runs(
        [experiment.experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{job.info.run_id}'"
    )
    assert sorted(f.info.run_name for f in folds) == ["folds/0", "folds/1"]
    assert all(f.info.status == "FINISHED" for f in folds)


def test_a_job_that_exits_on_a_user_error_by_itself_is_a_failed_run(tmp_path, client):
    result = subprocess.run(
        [sys.executable, "backtest.py", "backtest.last_days=5000", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    experiment = client.get_experiment_by_name("backtest")
    (run,) = client.search_runs(
        [experiment.experiment_id], f"tags.`{OUTPUT_DIR_TAG}` = '{tmp_path}'"
    )
    assert run.info.status == "FAILED"
    assert run.data.tags["stockcast.error"] == "SystemExit: exit status 2"


@pytest.mark.slow
def test_a_sweep_is_a_run_with_each_job_nested_under_it(tmp_path, client):
    result = train_py(
        "-m",
        "model.net.hidden_size=8,16",
        "trainer.max_epochs=1",
        "refit=false",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    experiment = client.get_experiment_by_name("train")
    (sweep,) = client.search_runs(
        [experiment.experiment_id], f"tags.`{OUTPUT_DIR_TAG}` = '{tmp_path}'"
    )
    assert sweep.info.status == "FINISHED" and sweep.info.run_name == f"sweep {tmp_path.name}"
    jobs = client.search_runs(
        [experiment.experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{sweep.info.run_id}'"
    )
    assert {job.data.params["model.net.hidden_size"] for job in jobs} == {"8", "16"}
    assert {job.info.run_name for job in jobs} == {f"{tmp_path.name}/0", f"{tmp_path.name}/1"}
    assert all(job.info.status == "FINISHED" and "test/rel_mae" in job.data.metrics for job in jobs)
