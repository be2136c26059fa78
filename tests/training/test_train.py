"""Real training runs on the bundled sample: outputs, accuracy bar, seeds, resume, CLI, sweeps, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from stockcast.ops.packaging import artifact_dir
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


def test_default_config_is_not_worse_than_naive_and_writes_every_output(tmp_path):
    result = run_cli(f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics.keys() >= REQUIRED_KEYS
    assert metrics["test/rel_mae"] <= 1.0
    assert metrics["test/rel_mae"] == pytest.approx(metrics["test/mae"] / metrics["test/naive_mae"])
    assert 0.75 <= metrics["test/interval_coverage"] <= 0.85
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
    assert (
        "test MAE relative to naive" in result.stdout and "naive" in result.stdout
    )  # the table is printed


def test_same_seed_repeats_exactly(make_cfg, tmp_path):
    first = train(make_cfg("trainer.max_epochs=2", output_dir=tmp_path / "a"))
    second = train(make_cfg("trainer.max_epochs=2", output_dir=tmp_path / "b"))
    for key in ("val/best_loss", "test/mae", "test/interval_coverage"):
        assert first[key] == second[key], key


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
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()  # it really died mid-run

    resumed = run_cli(*settings, f"ckpt_path={last}", f"hydra.run.dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    expected = json.loads((tmp_path / "full" / "metrics.json").read_text())
    actual = json.loads((run_dir / "metrics.json").read_text())
    for key in ("val/best_loss", "test/mae", "test/interval_coverage", "calibration/shrink"):
        assert actual[key] == expected[key], key


def test_unknown_ticker_offline_prints_one_line_not_a_traceback(tmp_path):
    result = run_cli(
        "data.ticker=NO_SUCH_TICKER",
        f"paths.data_dir={tmp_path}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "NO_SUCH_TICKER" in errors[0] and str(tmp_path / "NO_SUCH_TICKER.csv") in errors[0]
    assert "Traceback" not in result.stderr


def test_bad_setting_prints_one_line(tmp_path):
    result = run_cli("data.window=1", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "error: need window >= 2" in result.stderr
    assert "Traceback" not in result.stderr


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


def test_ddp_trains_with_two_cpu_processes(tmp_path):
    result = run_cli(
        "trainer=ddp", "trainer.devices=2", "trainer.max_epochs=2", f"hydra.run.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Starting with 2 processes" in result.stdout + result.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["test/rel_mae"] > 0


def test_the_deployable_refit_learns_up_to_the_last_row_for_the_epochs_evaluation_chose(
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
    best = next((run / "checkpoints").glob("epoch_*.ckpt")).name  # epoch_NNN.ckpt, 0-based
    assert metrics["refit/epochs"] == int(best[6:9]) + 1
    last = torch.load(run / "refit" / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] + 1 == metrics["refit/epochs"]  # exactly that many, no early stop
    assert artifact_dir(run) == run / "refit" / "artifact"  # what `make package` ships
