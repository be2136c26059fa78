"""The deployable refit: after an evaluated run, the same recipe again on every row up to the last.

The evaluated run holds out its last `test_fraction` of rows to be scored, so its artifact stops
learning well before the data ends. The refit that gets served drops the test split
(`data.test_fraction=0`): its network trains on the oldest rows, its shrink is chosen on the
rows after those and its conformal band comes from the most recent rows, which the network never
trained on and nothing selected on. It trains for exactly the number of epochs the evaluated run's
best checkpoint had seen (no early stopping, no checkpoint selection), so nothing the refit
decides is chosen on data it is then judged by. Its run lands in `<run>/refit/`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

REFIT_DIR = "refit"  # a run's subdirectory holding the refit's own run (artifact/ included)


def chosen_epochs(best_checkpoint: str | Path) -> int:
    """Epochs the evaluated run trained before its best checkpoint: its epoch index + 1."""
    # our own just-written checkpoint; it holds callback and loop state beyond tensors
    checkpoint = torch.load(best_checkpoint, map_location="cpu", weights_only=False)
    return int(checkpoint["epoch"]) + 1


def refit_config(cfg: DictConfig, epochs: int, output_dir: Path) -> DictConfig:
    """The evaluated run's config, unresolved, turned into its refit: no test split, `epochs`
    epochs exactly (the last one's weights are kept), its own output directory, never resumed."""
    refit = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    refit.data.test_fraction = 0.0
    refit.trainer.max_epochs = epochs
    refit.trainer.min_epochs = epochs
    refit.paths.output_dir = str(output_dir)
    refit.trainer.default_root_dir = str(output_dir)
    refit.ckpt_path = None
    if refit.get("callbacks"):
        refit.callbacks.early_stopping = None
        # keep the last epoch, select nothing: the every-epoch last.ckpt is its checkpoint
        refit.callbacks.model_checkpoint = None
    return refit
