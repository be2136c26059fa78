"""LightningDataModule: load prices, build features, split by date, window them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from stockcast.data.features import RETURN_FEATURE, anchor_closes, compute_features
from stockcast.data.market_data import load_prices
from stockcast.data.windows import (
    SplitBounds,
    cumulative_targets,
    sliding_windows,
    split_anchors,
    split_bounds,
)
from stockcast.errors import DataValidationError
from stockcast.model.scaling import Standardizer

SPLITS = ("train", "val", "calib", "test")


@dataclass(frozen=True)
class SplitArrays:
    """Unscaled inputs and price-unit truth for one split, for evaluation outside the loop."""

    windows: np.ndarray  # [n, W, F] raw features
    last_close: np.ndarray  # [n] close at the anchor
    future_close: np.ndarray  # [n, H] closes at anchor+1..anchor+H
    target_dates: pd.Series  # [n] date of the first forecast close


class StockDataModule(pl.LightningDataModule):
    """Daily OHLCV for one ticker as windowed tensors.

    Four chronological splits: train (fitting), val (selection: early stopping, checkpoint, LR
    schedule, sweeps, shrink), calib (the conformal band only: rows no fitting or selection saw)
    and test (scored; `test_fraction=0` leaves none, for a model refit on all rows up to `end`).
    The scaler is fitted on training rows only.
    """

    def __init__(
        self,
        ticker: str = "GOOG",
        data_dir: str = "data",
        start: str | None = None,
        end: str | None = None,
        interval: str = "1d",
        refresh: bool = False,
        window: int = 30,
        horizon: int = 1,
        val_fraction: float = 0.15,
        calib_fraction: float = 0.15,
        test_fraction: float = 0.15,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if window < 2 or horizon < 1:
            raise DataValidationError(f"need window >= 2 and horizon >= 1, got {window}, {horizon}")
        fractions = (val_fraction, calib_fraction, test_fraction)
        if not (
            0 < val_fraction < 1
            and 0 < calib_fraction < 1
            and 0 <= test_fraction < 1
            and sum(fractions) < 1
        ):
            raise DataValidationError(
                "val_fraction and calib_fraction must be in (0, 1), test_fraction in [0, 1), "
                f"with a sum below 1; got {val_fraction}, {calib_fraction} and {test_fraction}"
            )
        self.ticker, self.data_dir, self.start, self.end = (
            ticker.upper(),
            Path(data_dir),
            start,
            end,
        )
        self.interval, self.refresh = interval, refresh
        self.window, self.horizon = window, horizon
        self.val_fraction, self.calib_fraction = val_fraction, calib_fraction
        self.test_fraction = test_fraction
        self.batch_size, self.num_workers = batch_size, num_workers
        self.frame: pd.DataFrame | None = None
        self.scaler: Standardizer | None = None
        self.bounds: SplitBounds | None = None
        self.datasets: dict[str, TensorDataset] = {}
        self._anchors: dict[str, torch.Tensor] = {}

    @property
    def min_rows(self) -> int:
        """Rows needed so that every split holds at least one sample."""
        train_share = 1 - self.val_fraction - self.calib_fraction - self.test_fraction
        held_out = [f for f in (self.val_fraction, self.calib_fraction, self.test_fraction) if f]
        need = max(
            (self.window + self.horizon) / train_share,
            *(self.horizon / fraction for fraction in held_out),
        )
        return math.ceil(need) + 2

    def prepare_data(self) -> None:
        """Download once (rank 0) when the cache is missing or a refresh is asked for."""
        self._load(refresh=self.refresh)

    def setup(self, stage: str | None = None) -> None:
        if self.frame is not None:
            return
        frame = self._load(refresh=False)
        features = compute_features(frame)  # [N-1, F]
        closes = anchor_closes(frame)  # [N-1]
        self.bounds = split_bounds(
            len(features), self.val_fraction, self.calib_fraction, self.test_fraction
        )
        self._anchors = split_anchors(self.bounds, self.window, self.horizon)
        empty = [name for name in self.splits if len(self._anchors[name]) == 0]
        if empty:
            raise DataValidationError(
                f"{self.ticker}: {len(frame)} rows leave the {empty} split(s) empty with "
                f"window={self.window}, horizon={self.horizon}; need at least {self.min_rows} rows"
            )
        self.scaler = Standardizer.fit(features[: self.bounds.val_start], RETURN_FEATURE)
        self.frame, self._features, self._closes = frame, features, closes

        scaled = torch.from_numpy(self.scaler.transform(features)).float()
        windows = sliding_windows(scaled, self.window)  # [N-W, W, F]
        targets = cumulative_targets(torch.from_numpy(np.log(closes)), self.horizon)  # [N-1-H, H]
        targets = (targets / self.scaler.target_scale).float()
        for name, anchors in self._anchors.items():
            self.datasets[name] = TensorDataset(
                windows[anchors - self.window + 1], targets[anchors]
            )

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits this module holds: no test split when `test_fraction` is 0."""
        return SPLITS if self.test_fraction > 0 else SPLITS[:-1]

    def split_arrays(self, split: str) -> SplitArrays:
        """Raw windows and price-unit truth of a split (for calibration and test metrics)."""
        anchors = self._anchors[split].numpy()
        raw = sliding_windows(torch.from_numpy(self._features), self.window).numpy()
        future_index = anchors[:, None] + np.arange(1, self.horizon + 1)  # [n, H]
        dates = (
            self.frame["Date"].iloc[anchors + 2].reset_index(drop=True)
        )  # frame row = feature row + 1
        return SplitArrays(
            windows=raw[anchors - self.window + 1],
            last_close=self._closes[anchors],
            future_close=self._closes[future_index],
            target_dates=dates,
        )

    def training_returns(self) -> np.ndarray:
        """Daily log returns of the training rows [n]: the drift reference's distribution."""
        return self._features[: self.bounds.val_start, RETURN_FEATURE]

    def date_range(self, split: str) -> tuple[str, str]:
        """First and last target date of a split, as ISO dates."""
        anchors = self._anchors[split]
        first = self.frame["Date"].iloc[int(anchors[0]) + 2]
        last = self.frame["Date"].iloc[int(anchors[-1]) + 1 + self.horizon]
        return first.isoformat(), last.isoformat()

    def load_frame(self) -> pd.DataFrame:
        """The validated price rows this module would train on (downloaded when not cached)."""
        return self._load(refresh=self.refresh)

    def _load(self, refresh: bool) -> pd.DataFrame:
        return load_prices(
            self.ticker,
            self.data_dir,
            start=self.start,
            end=self.end,
            interval=self.interval,
            refresh=refresh,
            min_rows=self.min_rows,
        )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
