"""LightningModule around `LSTMNet`: loss, logging and the injected optimiser / scheduler."""

from __future__ import annotations

from collections.abc import Callable

import lightning.pytorch as pl
import torch
from torch import nn

from stockcast.training.losses import ScaleNLL


class ForecastModule(pl.LightningModule):
    """Trains `net` on (window, target) pairs: inputs and next returns in units of the
    window's no-network scale (stockcast/training/datamodule.py).

    Args:
        net: maps [B, W, F] to [B, H] log factors on that scale.
        optimizer: partial optimiser (Hydra `_partial_: true`), called with the parameters.
        scheduler: optional partial LR scheduler, stepped on `val/loss`.
        loss: the training criterion, called (prediction, target); by default the Student-t
            negative log-likelihood of the scale (stockcast/training/losses.py), a proper score
            of what the band is built from.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        loss: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.criterion = loss if loss is not None else ScaleNLL()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch  # [B, W, F], [B, H]
        loss = self.criterion(self(x), y)
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_epoch=True,
            on_step=False,
            batch_size=len(x),
            sync_dist=True,
        )
        return loss

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> dict:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss", "interval": "epoch"},
        }
