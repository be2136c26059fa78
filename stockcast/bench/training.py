"""Lightning overhead: the same LSTM, batch size and optimiser steps, through `Trainer.fit` and
through a bare PyTorch loop, alternated in one process so both see the same machine load.

CLI: `python -m stockcast.bench training [--steps 300] [--rounds 5] [--batch-size 64]
[--hidden-size 64] [--json out.json]`.

Prints windows/s for both and the ratio (target: Lightning within 1.25x of the bare loop).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from stockcast.model.network import LSTMNet
from stockcast.training.datamodule import StockDataModule
from stockcast.training.lightning_module import ForecastModule

TARGET_RATIO = 1.25  # Lightning's loop may take at most this many times the bare loop's time


class StepTimer(pl.Callback):
    """Wall time from the first training batch to the end of training (excludes Trainer setup)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 0 and batch_idx == 0:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.start


def make_module(hidden_size: int) -> ForecastModule:
    torch.manual_seed(0)
    return ForecastModule(
        LSTMNet(hidden_size=hidden_size),
        optimizer=lambda params: torch.optim.AdamW(params, lr=1e-3),
    )


def lightning_run(loader: DataLoader, steps: int, hidden_size: int) -> tuple[float, float]:
    """(seconds in the training loop, seconds for the whole fit call)."""
    timer = StepTimer()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        max_epochs=-1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    start = time.perf_counter()
    trainer.fit(make_module(hidden_size), train_dataloaders=loader)
    return timer.seconds, time.perf_counter() - start


def bare_run(loader: DataLoader, steps: int, hidden_size: int) -> float:
    module = make_module(hidden_size)
    optimizer = module.configure_optimizers()["optimizer"]
    module.train()
    done, start = 0, time.perf_counter()
    while done < steps:
        for x, y in loader:
            optimizer.zero_grad()
            loss = module.criterion(module(x), y)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    return time.perf_counter() - start


def measure(
    steps: int = 300,
    rounds: int = 5,
    batch_size: int = 64,
    hidden_size: int = 64,
    progress: Callable[[str], None] = print,
) -> dict:
    """Lightning and the bare loop alternated `rounds` times after a warm-up of each; the
    figures per round and their medians. `progress` gets the setup line and one line per round."""
    datamodule = StockDataModule()
    datamodule.setup()
    x, y = datamodule.datasets["train"].tensors
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, drop_last=True)
    windows = steps * batch_size
    progress(
        f"LSTM hidden={hidden_size}, batch={batch_size}, steps={steps}, "
        f"torch threads={torch.get_num_threads()}, {len(x)} training windows of {tuple(x.shape[1:])}"
    )

    bare_run(loader, 50, hidden_size)  # warm-up: allocator, thread pool, lazy imports
    lightning_run(loader, 50, hidden_size)
    per_round = []
    for round_ in range(1, rounds + 1):
        loop_s, fit_s = lightning_run(loader, steps, hidden_size)
        bare_s = bare_run(loader, steps, hidden_size)
        per_round.append(
            {
                "lightning_windows_per_s": windows / loop_s,
                "lightning_fit_windows_per_s": windows / fit_s,
                "bare_windows_per_s": windows / bare_s,
                "ratio": loop_s / bare_s,
            }
        )
        progress(
            f"round {round_}/{rounds}: lightning loop {windows / loop_s:8.0f} windows/s "
            f"(whole fit {windows / fit_s:8.0f}), bare loop {windows / bare_s:8.0f} windows/s, "
            f"ratio {loop_s / bare_s:.3f}x"
        )
    loop, fit, bare = (
        statistics.median(r[key] for r in per_round)
        for key in ("lightning_windows_per_s", "lightning_fit_windows_per_s", "bare_windows_per_s")
    )
    return {
        "steps": steps,
        "rounds": rounds,
        "batch_size": batch_size,
        "hidden_size": hidden_size,
        "torch_threads": torch.get_num_threads(),
        "lightning_windows_per_s": loop,
        "lightning_fit_windows_per_s": fit,
        "bare_windows_per_s": bare,
        "ratio": bare / loop,
        "ratio_with_setup": bare / fit,
        "target_ratio": TARGET_RATIO,
        "per_round": per_round,
    }


def summary(figures: dict) -> str:
    """The medians in one line, and the target."""
    return (
        f"median: lightning {figures['lightning_windows_per_s']:.0f} windows/s, bare "
        f"{figures['bare_windows_per_s']:.0f} windows/s, lightning takes {figures['ratio']:.3f}x "
        f"the bare loop's time ({figures['ratio_with_setup']:.3f}x including Trainer setup); "
        f"target <= {figures['target_ratio']}x"
    )
