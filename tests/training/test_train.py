"""Real training runs on the bundled sample: outputs, accuracy bar, seeds, resume, CLI, sweeps, DDP."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from stockcast.release.packaging import artifact_dir
from stockcast.training.run import train

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = {
    "test/mae",
    "test/rmse",
    "test/mape",
    "test/directional_accuracy",
    "test/up_share",
    "test/naive_mae",
    "test/rel_mae",
    "test/interval_coverage",
    "calib/interval_coverage",
}
pytestmark = pytest.mark.slow
# what third-party libraries printed on every run before they were silenced at the source
NOISE = (
    "litlogger",  # Lightning's advertisement
    "LeafSpec",  # torch's deprecation note about Lightning's pytree helper
    "FLOPs",  # Lightning's summary counting 0 FLOPs for an LSTM
    "Test metric",  # Lightning's box of test/loss before the real table
    "setup plugin",  # alembic, imported by optuna
    "Trainer already configured",
    "Seed set to",  # Lightning's seeding note (the seed is in .hydra/config.yaml)
    "Restoring states from the checkpoint path",  # said again by the line that follows it
)


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python train.py ...` from the project root, as a user runs it."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_default_config_serves_a_band_that_holds_and_writes_every_output(tmp_path):
    result = run_cli(f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics.keys() >= REQUIRED_KEYS
    assert metrics["test/rel_mae"] == 1.0  # the point is the last close
    assert 0.75 <= metrics["test/interval_coverage"] <= 0.85
    # the network's band scores better than the same band without it on the test split
    assert metrics["test/winkler"] < metrics["test/no_network_winkler"]
    for output in (
        ".hydra/config.yaml",
        "forecast.png",
        "artifact/weights.pt",
        "artifact/forecaster.json",
        "refit/artifact/weights.pt",  # the deployable refit, on by default
        "refit/artifact/forecaster.json",
    ):
        assert (tmp_path / output).exists(), output
    assert list((tmp_path / "checkpoints").glob("epoch_*.ckpt"))
    assert "interval score / last close" in result.stdout  # the table is printed
    assert "no network" in result.stdout
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "complete"
    output = result.stdout + result.stderr
    for noise in NOISE:
        assert noise not in output, noise
    log = (tmp_path / "train.log").read_text()  # the whole log, the table included
    assert "Loaded model weights from the checkpoint" in log  # the tested checkpoint, named
    assert "interval score / last close" in log


def test_same_seed_repeats_exactly(make_cfg, tmp_path):
    first = train(make_cfg("trainer.max_epochs=2", output_dir=tmp_path / "a"))
    second = train(make_cfg("trainer.max_epochs=2", output_dir=tmp_path / "b"))
    for key in ("val/best_loss", "test/mae", "test/interval_coverage"):
        assert first[key] == second[key], key


def checkpoint_epoch(path: Path) -> int:
    """The epoch a checkpoint holds."""
    return torch.load(path, map_location="cpu", weights_only=False)["epoch"]


def last_logged_epoch(run_dir: Path) -> int:
    """The newest epoch whose training loss is in csv/metrics.csv (-1 before the first).

    Lightning logs an epoch's training loss just after its checkpoints are written, so an epoch
    whose row is there is complete on disk.
    """
    try:
        with (run_dir / "csv" / "metrics.csv").open(newline="") as file:
            return max(
                (int(row["epoch"]) for row in csv.DictReader(file) if row.get("train/loss")),
                default=-1,
            )
    except (FileNotFoundError, ValueError):  # not yet written, or caught mid-write
        return -1


def test_training_killed_mid_run_resumes_to_the_uninterrupted_result(tmp_path):
    settings = (
        "trainer.max_epochs=6",
        "callbacks.early_stopping=null",
        "model.net.hidden_size=16",
        "refit=false",
    )
    full = run_cli(*settings, f"hydra.run.dir={tmp_path / 'full'}")
    assert full.returncode == 0, full.stderr[-2000:]

    run_dir = tmp_path / "killed"
    last = run_dir / "checkpoints" / "last.ckpt"
    process = subprocess.Popen(
        [sys.executable, "train.py", *settings, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while last_logged_epoch(run_dir) < 2 and process.poll() is None:  # a later epoch than the first
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()  # it really died mid-run
    killed_at = checkpoint_epoch(last)
    assert 2 <= killed_at < 5
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    resumed = run_cli(*settings, f"ckpt_path={last}", f"hydra.run.dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # the run's own checkpoints in its own directory are no news
    assert "exists and is not empty" not in resumed.stderr
    assert "Restoring states" not in resumed.stderr and "Restored all states" in resumed.stderr
    expected = json.loads((tmp_path / "full" / "metrics.json").read_text())
    actual = json.loads((run_dir / "metrics.json").read_text())
    for key in ("val/best_loss", "test/mae", "test/interval_coverage", "test/winkler"):
        assert actual[key] == expected[key], key
    assert checkpoint_epoch(last) == 5  # last.ckpt is the last epoch, not the best one
    # the history is whole: every epoch once, as the uninterrupted run logged it
    history = (run_dir / "csv" / "metrics.csv").read_text()
    assert history == (tmp_path / "full" / "csv" / "metrics.csv").read_text()
    log = (run_dir / "train.log").read_text()
    assert log.count("model: LSTMNet") == 2 and "Restored all states from the checkpoint" in log


def test_unknown_ticker_offline_prints_one_line_not_a_traceback(tmp_path):
    result = run_cli(
        "data.ticker=NO_SUCH_TICKER",
        f"paths.data_dir={tmp_path}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error:")  # nothing before it, nothing after
    assert "NO_SUCH_TICKER" in errors[0] and str(tmp_path / "NO_SUCH_TICKER.csv") in errors[0]


def test_bad_setting_prints_one_line(tmp_path):
    result = run_cli("data.window=1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "error: need window >= 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_daily_cache_trained_as_hourly_bars_is_refused_in_one_line(tmp_path):
    (tmp_path / "GOOG_1h.csv").write_bytes((ROOT / "data" / "GOOG.csv").read_bytes())
    result = run_cli(
        "data.interval=1h", f"paths.data_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: data.interval=1h asks for hourly bars; GOOG's bars are 1 day apart; set "
        "data.interval to match the data, or download again with data.refresh=true"
    ]
    assert "Traceback" not in result.stderr


def test_a_smoke_test_is_recorded_as_debug_and_writes_no_checkpoint(tmp_path):
    result = run_cli("debug=fast", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["debug"] is True and record["status"] == "complete"
    assert not (tmp_path / "checkpoints").exists()
    assert "best checkpoint" not in result.stdout and "weights of the last step" in result.stdout


def test_a_mistyped_key_is_named_with_the_key_it_resembles_in_one_line(tmp_path):
    result = run_cli("data.windw=3", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr == (
        "error: data.windw is not a setting: `data` has no key 'windw'; did you mean data.window?\n"
    )


def test_an_unknown_key_like_no_other_lists_the_keys_there_are(tmp_path):
    result = run_cli("trainer.zzz=1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "`trainer` has no key 'zzz' (its keys: " in result.stderr
    assert "max_epochs" in result.stderr and "+trainer.zzz" not in result.stderr


def test_slurm_launcher_without_slurm_prints_one_line(tmp_path):
    result = run_cli("-m", "launcher=slurm", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.startswith("error: launcher=slurm") and result.stderr.count("\n") == 1
    assert "no SLURM client" in result.stderr and "launcher=joblib" in result.stderr


def test_a_sweep_with_a_bad_ticker_finishes_the_rest_and_lists_the_failure(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "GOOG.csv").write_bytes((ROOT / "data" / "GOOG.csv").read_bytes())
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "data.ticker=NOPE,GOOG",  # the bad one first: the good one must still run
        f"paths.data_dir={data}",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 2
    assert (sweep / "1" / "metrics.json").exists()
    assert json.loads((sweep / "1" / "run.json").read_text())["status"] == "complete"
    failed = json.loads((sweep / "0" / "run.json").read_text())
    assert failed["status"] == "failed" and "no data for ticker 'NOPE'" in failed["error"]
    assert "error: 1 of 2 job(s) failed" in result.stderr
    assert "| 0 | data.ticker=NOPE | no data for ticker 'NOPE'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_optuna_search_prints_no_plugin_noise(tmp_path):
    result = run_cli(
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=1",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    for noise in NOISE:
        assert noise not in output, noise


def test_sweep_runs_every_point(tmp_path):
    result = run_cli(
        "-m",
        "model.net.hidden_size=8,16",
        "trainer.max_epochs=1",
        "refit=false",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list(tmp_path.glob("*/metrics.json"))) == 2


def test_joblib_launcher_trains_several_tickers_in_parallel(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for ticker in ("GOOG", "GOOGX"):
        (data / f"{ticker}.csv").write_bytes((ROOT / "data" / "GOOG.csv").read_bytes())
    result = run_cli(
        "-m",
        "launcher=joblib",
        "data.ticker=GOOG,GOOGX",
        f"paths.data_dir={data}",
        "trainer.max_epochs=1",
        "refit=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    tickers = {
        json.loads((p.parent / "artifact" / "forecaster.json").read_text())["info"]["ticker"]
        for p in (tmp_path / "sweep").glob("*/metrics.json")
    }
    assert tickers == {"GOOG", "GOOGX"}
    records = [json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/run.json")]
    assert [r["status"] for r in records] == ["complete", "complete"]  # written in the workers


def test_ddp_trains_with_two_cpu_processes(tmp_path):
    result = run_cli(
        "trainer=ddp", "trainer.devices=2", "trainer.max_epochs=2", f"hydra.run.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Starting with 2 processes" in result.stdout + result.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["test/rel_mae"] > 0
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "complete"  # rank 0's


def test_the_deployable_refit_learns_up_to_the_last_row_and_stops_early_as_backtest_folds_do(
    make_cfg, tmp_path
):
    run = tmp_path / "run"
    metrics = train(make_cfg("refit=true", "trainer.max_epochs=3", output_dir=run))
    evaluated = json.loads((run / "artifact" / "forecaster.json").read_text())["info"]
    refit = json.loads((run / "refit" / "artifact" / "forecaster.json").read_text())["info"]
    # evaluation: everything it learned ends before the test split it is scored on
    assert evaluated["trained_until"] == evaluated["calibrated_until"] < "2011-11-16"
    # the refit: learned up to the data's last row; its band comes from its most recent rows,
    # which come after every row its network trained on
    assert refit["trained_until"][:10] == "2013-03-01"
    trained_to = refit["trained_on"].split("..")[1]
    calibrated_from = refit["calibrated_on"].split("..")[0]
    assert trained_to < refit["selected_until"][:10] < calibrated_from
    # the refit picks its epochs as every backtest fold does: its own best checkpoint on its
    # own validation split, and that checkpoint is what it serves
    best = next((run / "refit" / "checkpoints").glob("epoch_*.ckpt")).name  # 0-based epoch
    assert metrics["refit/epochs"] == int(best[6:9]) + 1
    refit_metrics = json.loads((run / "refit" / "metrics.json").read_text())
    assert refit_metrics["epochs"] == metrics["refit/epochs"] and "val/best_loss" in refit_metrics
    assert artifact_dir(run) == run / "refit" / "artifact"  # what `make package` ships
