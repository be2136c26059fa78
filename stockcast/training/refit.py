"""The deployable refit: after an evaluated run, the same recipe again on every row up to the last.

The evaluated run holds out its last `test_fraction` of rows to be scored, so its artifact stops
learning well before the data ends. The refit that gets served drops the test split
(`data.test_fraction=0`): its network trains on the oldest rows, stops early on the rows after
those (its validation split) and its conformal band comes from the most recent rows, which the
network never trained on and nothing selected on. That is exactly how every fold of the
walk-forward backtest trains (stockcast/backtest/walk_forward.py), so the backtest measures the
recipe that is served. Its run lands in `<run>/refit/`.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

REFIT_DIR = "refit"  # a run's subdirectory holding the refit's own run (artifact/ included)


def refit_config(cfg: DictConfig, output_dir: Path) -> DictConfig:
    """The evaluated run's config, unresolved, turned into its refit: no test split, its own
    output directory, never resumed; epochs chosen by early stopping on its validation split."""
    refit = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    refit.data.test_fraction = 0.0
    refit.paths.output_dir = str(output_dir)
    refit.trainer.default_root_dir = str(output_dir)
    refit.ckpt_path = None
    return refit
