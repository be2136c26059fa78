"""Lightning overhead: the same LSTM, batch size and optimiser steps, through `Trainer.fit` and
through a bare PyTorch loop, alternated in one process so both see the same machine load.

CLI: `python scripts/benchmark_training.py [--steps 300] [--rounds 3] [--batch-size 64] [--hidden-size 64]`.

Prints windows/s for both and the ratio (target: Lightning within 1.25x of the bare loop).
"""

from __future__ import annotations

import argparse
import statistics
import time

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from stockcast.model.network import LSTMNet
from stockcast.training.datamodule import StockDataModule
from stockcast.training.lightning_module import ForecastModule


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=64)
    args = parser.parse_args()

    datamodule = StockDataModule()
    datamodule.setup()
    x, y = datamodule.datasets["train"].tensors
    loader = DataLoader(
        TensorDataset(x, y), batch_size=args.batch_size, shuffle=True, drop_last=True
    )
    windows = args.steps * args.batch_size
    print(
        f"LSTM hidden={args.hidden_size}, batch={args.batch_size}, steps={args.steps}, "
        f"torch threads={torch.get_num_threads()}, {len(x)} training windows of {tuple(x.shape[1:])}"
    )

    bare_run(loader, 50, args.hidden_size)  # warm-up: allocator, thread pool, lazy imports
    lightning_run(loader, 50, args.hidden_size)
    loop_rates, fit_rates, bare_rates = [], [], []
    for round_ in range(1, args.rounds + 1):
        loop_s, fit_s = lightning_run(loader, args.steps, args.hidden_size)
        bare_s = bare_run(loader, args.steps, args.hidden_size)
        loop_rates.append(windows / loop_s)
        fit_rates.append(windows / fit_s)
        bare_rates.append(windows / bare_s)
        print(
            f"round {round_}: lightning loop {windows / loop_s:8.0f} windows/s "
            f"(whole fit {windows / fit_s:8.0f}), bare loop {windows / bare_s:8.0f} windows/s, "
            f"ratio {loop_s / bare_s:.3f}x"
        )
    loop, fit, bare = (statistics.median(r) for r in (loop_rates, fit_rates, bare_rates))
    print(
        f"median: lightning {loop:.0f} windows/s, bare {bare:.0f} windows/s, "
        f"lightning takes {bare / loop:.3f}x the bare loop's time "
        f"({bare / fit:.3f}x including Trainer setup); target <= 1.25x"
    )
