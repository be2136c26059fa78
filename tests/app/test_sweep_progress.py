"""A search's progress: a line per trial with the best so far, and its total at the end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stockcast.app.sweep_progress import best, duration

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4.4, "4 s"), (65, "1 min 05 s"), (185, "3 min 05 s"), (3720, "1 h 02 min")],
)
def test_durations_read_as_a_person_says_them(seconds, text):
    assert duration(seconds) == text


def test_the_best_trial_follows_the_search_direction():
    values = {0: 0.5, 1: 0.3, 2: 0.4}
    assert best(values, "minimize") == (1, 0.3)
    assert best(values, "maximize") == (0, 0.5)
    assert best({}, "minimize") is None


@pytest.mark.slow
def test_an_optuna_search_prints_each_trial_and_its_total(tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", "hparams_search=optuna", "hydra.sweeper.n_trials=2"]
        + ["trainer.max_epochs=1", "data.ticker=GOOG", f"hydra.sweep.dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    values = [
        json.loads((tmp_path / str(trial) / "metrics.json").read_text())["val/best_loss"]
        for trial in (0, 1)
    ]
    lines = result.stdout.splitlines()
    first = next(line for line in lines if line.startswith("trial 1/2: "))
    second = next(line for line in lines if line.startswith("trial 2/2: "))
    assert f"val/best_loss {values[0]:.6g}; best so far {values[0]:.6g} (trial 1)" in first
    assert re.search(r"elapsed, about \d+ s left$", first)
    winner = min((0, 1), key=lambda trial: values[trial])
    assert f"best so far {values[winner]:.6g} (trial {winner + 1})" in second
    total = next(line for line in lines if line.startswith("2 trial(s) in "))
    assert f"best val/best_loss {values[winner]:.6g}, trial {winner + 1}" in total
