"""What a person sees around a training run: a completed run resumed, a run with no test split,
and a training started outside train.py (a backtest fold's worker) without library noise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stockcast.app.run_record import RUNNING, RunRecord, utc_now
from stockcast.training.resume import complete_run_notice

ROOT = Path(__file__).resolve().parents[2]
TINY = ("data.ticker=GOOG", "trainer.max_epochs=1", "model.net.hidden_size=16", "refit=false")


def train_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_resuming_a_completed_run_says_so_in_one_line_and_changes_nothing(tmp_path):
    run = tmp_path / "run"
    first = train_py(*TINY, f"hydra.run.dir={run}")
    assert first.returncode == 0, first.stderr[-2000:]
    before = files(run)
    resumed = train_py(*TINY, f"ckpt_path={run}/checkpoints/last.ckpt", f"hydra.run.dir={run}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stderr == "" and resumed.stdout.count("\n") == 1
    assert f"{run} is complete" in resumed.stdout and "nothing to resume" in resumed.stdout
    assert files(run) == before  # metrics, run.json, checkpoints, log: all as they were


@pytest.mark.slow
def test_a_run_without_a_test_split_prints_its_calibration_figures_and_says_so(tmp_path):
    result = train_py(*TINY, "data.test_fraction=0", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no test split (data.test_fraction=0)" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert f"{metrics['calib/mae']:.3f}" in result.stdout
    assert f"{metrics['calib/interval_coverage']:.3f}" in result.stdout
    assert "test MAE" not in result.stdout


# what a backtest fold does in its worker process: compose the config and call train(), no
# train.py (and so none of its set-up) on the way
FOLD_LIKE = """
import sys
from hydra import compose, initialize_config_dir
from omegaconf import open_dict
from stockcast.app.resolvers import register_resolvers
from stockcast.training.run import train
register_resolvers()
with initialize_config_dir(config_dir=sys.argv[1], version_base="1.3"):
    cfg = compose("train", overrides=sys.argv[3:])
with open_dict(cfg):
    cfg.paths.output_dir = sys.argv[2]
train(cfg)
"""


@pytest.mark.slow
def test_a_training_outside_train_py_prints_none_of_the_libraries_notes(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", FOLD_LIKE, str(ROOT / "conf"), str(tmp_path), *TINY]
        + [
            "data.test_fraction=0",
            f"paths.data_dir={ROOT / 'data'}",
            "callbacks.rich_progress_bar=null",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "Trainer.fit` stopped" in output  # Lightning's own lines still come through
    for noise in ("litlogger", "LeafSpec", "Seed set to", "Restoring states", "no test split"):
        assert noise not in output, noise


def test_a_run_that_did_not_complete_is_resumed_as_usual(tmp_path):
    RunRecord(status=RUNNING, debug=False, started_at=utc_now()).write(tmp_path)
    arguments = [f"ckpt_path={tmp_path}/checkpoints/last.ckpt", f"hydra.run.dir={tmp_path}"]
    assert complete_run_notice(arguments) is None


def test_a_completed_run_resumed_elsewhere_or_not_resumed_is_left_to_train(tmp_path):
    RunRecord(status=RUNNING, debug=False, started_at=utc_now()).ended().write(tmp_path)
    checkpoint = f"ckpt_path={tmp_path}/checkpoints/last.ckpt"
    assert complete_run_notice([checkpoint, f"hydra.run.dir={tmp_path}"]) is not None
    assert complete_run_notice([checkpoint, f"hydra.run.dir={tmp_path / 'next'}"]) is None
    assert complete_run_notice([checkpoint]) is None
    assert complete_run_notice([f"hydra.run.dir={tmp_path}"]) is None
    assert complete_run_notice(["data.windw=[", f"hydra.run.dir={tmp_path}"]) is None
