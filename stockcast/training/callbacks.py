"""Callbacks that Lightning lacks: exact resumption, and a model summary that is not wrong."""

from __future__ import annotations

import logging
import random
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count

# Lightning's own summary logger: its lines print plain, like the rest of Lightning's
log = logging.getLogger("lightning.pytorch.callbacks.model_summary")


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


class ParameterSummary(ModelSummary):
    """Lightning's model summary as one line: the network, its parameters and their size.

    Lightning's table ends in "Total FLOPs: 0": it counts FLOPs only through an
    `example_input_array`, and torch's FLOP counter does not see inside `nn.LSTM`, so even with one
    it would report the linear head alone. A count that is wrong either way is left out.
    """

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        columns = dict(summary_data)
        networks = [
            kind
            for kind, count in zip(columns["Type"], columns["Params"], strict=True)
            if count.strip() != "0"
        ]
        log.info(
            "model: %s, %s trainable parameters of %s (%.3f MB)",
            " + ".join(networks),
            get_human_readable_count(trainable_parameters).strip(),
            get_human_readable_count(total_parameters).strip(),
            model_size,
        )
