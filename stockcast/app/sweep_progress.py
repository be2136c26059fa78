"""A line per finished trial of a search (`train.py hparams_search=optuna`), and the total at the end.

An Optuna search of 20 trials takes minutes, and Hydra prints only each trial's overrides as it
starts. `SweepProgress` (a Hydra callback, conf/hparams_search/optuna.yaml) prints, as each trial
ends, `trial i/n`, its value of `optimized_metric`, the best so far, the time spent and about how
much is left; at the end, the number of trials, the best one and the total time. The values come
from the trials' metrics.json under the sweep directory, so they are right whichever process ran
the trial.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from stockcast.app.run_record import RUN_RECORD

METRICS = "metrics.json"


def duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def trial_values(sweep_dir: Path, metric: str) -> dict[int, float]:
    """Each finished trial's value of `metric`, by trial number (its directory's name)."""
    values = {}
    for path in sweep_dir.glob(f"*/{METRICS}"):
        value = json.loads(path.read_text()).get(metric)
        if path.parent.name.isdigit() and value is not None and math.isfinite(value):
            values[int(path.parent.name)] = float(value)
    return values


def best(values: dict[int, float], direction: str) -> tuple[int, float] | None:
    """(trial, value) of the best trial so far; None before any trial has a value."""
    if not values:
        return None
    pick = max if str(direction).lower().startswith("max") else min
    return pick(values.items(), key=lambda item: item[1])


class SweepProgress(Callback):
    """See the module docstring."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.monotonic()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        metric, direction = config.get("optimized_metric"), config.hydra.sweeper.direction
        trial = int(config.hydra.job.num)
        values = trial_values(sweep_dir, metric)
        if job_return.status != JobStatus.COMPLETED:
            outcome = f"failed ({type(job_return._return_value).__name__})"
        elif trial in values:
            outcome = f"{metric} {values[trial]:.6g}"
        else:
            outcome = f"no {metric}"
        leader = best(values, direction)
        so_far = f"; best so far {leader[1]:.6g} (trial {leader[0] + 1})" if leader else ""
        trials, elapsed = int(config.hydra.sweeper.n_trials), time.monotonic() - self.started
        left = elapsed / (trial + 1) * (trials - trial - 1)  # the trials so far, on average
        print(
            f"trial {trial + 1}/{trials}: {outcome}{so_far}; {duration(elapsed)} elapsed"
            + (f", about {duration(left)} left" if left else ""),
            flush=True,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        metric = config.get("optimized_metric")
        trials = len(list(sweep_dir.glob(f"*/{RUN_RECORD}")))
        leader = best(trial_values(sweep_dir, metric), config.hydra.sweeper.direction)
        verdict = (
            f"best {metric} {leader[1]:.6g}, trial {leader[0] + 1} ({sweep_dir / str(leader[0])}; "
            f"its settings in {sweep_dir / 'optimization_results.yaml'})"
            if leader
            else f"no trial gave {metric}"
        )
        print(f"{trials} trial(s) in {duration(time.monotonic() - self.started)}: {verdict}")
