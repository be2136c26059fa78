"""Callbacks that Lightning lacks for exact resumption."""

from __future__ import annotations

import random
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch


class RestoreRNGState(pl.Callback):
    """Store the Python / NumPy / torch RNG states in each checkpoint and restore them on resume.

    Without it, a run resumed from `last.ckpt` draws different shuffles and dropout masks than the
    uninterrupted run with the same seed, so the two end at different weights. States are kept as
    tensors and tuples of ints so the checkpoint still loads with `weights_only=True`.
    """

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        return {
            "python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
            "torch": torch.get_rng_state(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Restoring happens before the first training dataloader iterator draws its seed
        # (Lightning runs the sanity check inside `isolate_rng`), so the next epoch shuffles
        # exactly as the uninterrupted run did.
        kind, keys, pos, has_gauss, cached = state_dict["numpy"]
        random.setstate(state_dict["python"])
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])
