"""LightningDataModule: load prices, build features, split by date, window them."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from stockcast.errors import DataValidationError
from stockcast.inputs.calendars import DEFAULT_CALENDAR, trading_sessions
from stockcast.inputs.spacing import check_bar_spacing
from stockcast.market.prices import load_prices
from stockcast.market.symbols import symbol_calendar
from stockcast.model.calibration import horizon_scale, window_volatility
from stockcast.model.features import RETURN_FEATURE, anchor_closes, compute_features
from stockcast.model.network_inputs import network_inputs
from stockcast.model.scaling import Standardizer
from stockcast.model.windows import (
    SplitBounds,
    cumulative_targets,
    sliding_windows,
    split_anchors,
    split_bounds,
)

SPLITS = ("train", "val", "calib", "test")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitArrays:
    """Unscaled inputs and price-unit truth for one split, for evaluation outside the loop."""

    windows: np.ndarray  # [n, W, F] raw features
    last_close: np.ndarray  # [n] close at the anchor
    future_close: np.ndarray  # [n, H] closes at anchor+1..anchor+H
    target_dates: pd.Series  # [n] date of the first forecast close
    tickers: np.ndarray  # [n] the series each sample comes from


@dataclass
class Series:
    """One ticker's rows, features, anchor closes and the anchors of each split."""

    ticker: str
    frame: pd.DataFrame
    features: np.ndarray  # [N-1, F]
    closes: np.ndarray  # [N-1]
    bounds: SplitBounds | None = None
    anchors: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def feature_dates(self) -> np.ndarray:
        """The date of each feature row (bar t of the frame for feature row t-1)."""
        return self.frame["Date"].to_numpy()[1:]


class StockDataModule(pl.LightningDataModule):
    """Daily OHLCV of one ticker or several as windowed tensors, for one global model.

    Four chronological splits: train (fitting), val (selection: early stopping, checkpoint, LR
    schedule, sweeps), calib (the conformal band only: rows no fitting or selection saw)
    and test (scored; `test_fraction=0` leaves none, for a model refit on all rows up to `end`).
    With several tickers the split boundaries are dates, cut on the union of their trading days
    and applied to every ticker alike, so no ticker's held-out days inform training on another.
    A sample's input is its window in units of the window's no-network scale (the band's EWMA
    volatility, `vol_lambda` and `vol_estimator`: stockcast/model/network_inputs.py) and its
    target the next H cumulative log returns in the same units, so the network learns a factor
    on that scale. The scaler is fitted on training windows only, of all tickers together.
    """

    def __init__(
        self,
        ticker: str | None = None,
        tickers: Sequence[str] = ("GOOG",),
        data_dir: str = "data",
        start: str | None = None,
        end: str | None = None,
        interval: str = "1d",
        calendar: str = DEFAULT_CALENDAR,
        refresh: bool = False,
        window: int = 30,
        horizon: int = 1,
        val_fraction: float = 0.15,
        calib_fraction: float = 0.15,
        test_fraction: float = 0.15,
        batch_size: int = 64,
        num_workers: int = 0,
        path: str | None = None,
        vol_lambda: float = 0.94,
        vol_estimator: str = "ohlc",
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
        names = [ticker] if ticker else list(tickers)
        if not names or len(set(n.upper() for n in names)) != len(names):
            raise DataValidationError(
                f"data.tickers must name at least one ticker, each once; got {list(tickers)}"
            )
        self.tickers = [name.upper() for name in names]
        self.data_dir, self.start, self.end = Path(data_dir), start, end
        self.interval, self.refresh = interval, refresh
        # each ticker's market (its yfinance suffix; `calendar` for one without a known suffix)
        # decides which of its bars have closed; the first ticker's dates the artifact's forecasts
        self.calendars = {name: symbol_calendar(name, calendar) for name in self.tickers}
        self.calendar = self.calendars[self.tickers[0]]
        for market in set(self.calendars.values()):  # checked now, not after training
            trading_sessions(market)
        if len(set(self.calendars.values())) > 1:
            log.warning(
                "the tickers trade on different calendars (%s): the model's forecasts are dated "
                "by %s unless an upload's own dates or its exchange= say otherwise",
                ", ".join(f"{name} {market}" for name, market in self.calendars.items()),
                self.calendar,
            )
        self.path = path  # a CSV read instead of the cache, if given (one ticker only)
        if path is not None and len(self.tickers) != 1:
            raise DataValidationError(
                f"data.path={path} is one file: set data.ticker to the one ticker it holds"
            )
        self.window, self.horizon = window, horizon
        self.val_fraction, self.calib_fraction = val_fraction, calib_fraction
        self.test_fraction = test_fraction
        self.batch_size, self.num_workers = batch_size, num_workers
        self.vol_lambda, self.vol_estimator = vol_lambda, vol_estimator
        self.series: list[Series] = []
        self.scaler: Standardizer | None = None
        self.datasets: dict[str, TensorDataset] = {}

    @property
    def ticker(self) -> str:
        """A label for the data: the ticker, or the tickers joined by '+'."""
        return "+".join(self.tickers)

    @property
    def frame(self) -> pd.DataFrame:
        """The price rows of a single-ticker module."""
        if len(self.series) != 1:
            raise AttributeError("frame is defined for one ticker; use .series")
        return self.series[0].frame

    @property
    def bounds(self) -> SplitBounds:
        """The split bounds of a single-ticker module (feature-row indices)."""
        if len(self.series) != 1:
            raise AttributeError("bounds are per ticker; use .series")
        return self.series[0].bounds

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

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits this module holds: no test split when `test_fraction` is 0."""
        return SPLITS if self.test_fraction > 0 else SPLITS[:-1]

    def prepare_data(self) -> None:
        """Download once (rank 0) when a cache is missing or a refresh is asked for."""
        for ticker in self.tickers:
            self._load(ticker, refresh=self.refresh)

    def setup(self, stage: str | None = None) -> None:
        if self.series:
            return
        series = []
        for ticker in self.tickers:
            frame = self._load(ticker, refresh=False)
            series.append(Series(ticker, frame, compute_features(frame), anchor_closes(frame)))
        cuts = date_cuts(series, self.val_fraction, self.calib_fraction, self.test_fraction)
        for one in series:
            dates = one.feature_dates
            val, calib, test = (int(np.searchsorted(dates, cut)) for cut in cuts)
            one.bounds = SplitBounds(val, calib, test, len(dates))
            one.anchors = split_anchors(one.bounds, self.window, self.horizon)
        empty = [name for name in self.splits if not sum(len(one.anchors[name]) for one in series)]
        if empty:
            rows = ", ".join(f"{one.ticker} {len(one.frame)}" for one in series)
            raise DataValidationError(
                f"{self.ticker}: the rows ({rows}) leave the {empty} split(s) empty with "
                f"window={self.window}, horizon={self.horizon}; need at least {self.min_rows} rows"
            )
        self.series = series
        inputs, scales = {}, {}
        for one in series:
            if len(one.features) < self.window + self.horizon:
                continue  # too short to give a single sample; its rows only set the cuts
            raw = sliding_windows(
                torch.from_numpy(one.features), self.window
            ).numpy()  # [N-W+1, W, F]
            scales[one.ticker] = window_volatility(raw, self.vol_lambda, self.vol_estimator)
            inputs[one.ticker] = network_inputs(raw, scales[one.ticker])  # [N-W+1, W, F+1]
        self.scaler = Standardizer.fit(
            np.concatenate(
                [
                    inputs[one.ticker][one.anchors["train"].numpy() - self.window + 1]
                    for one in series
                    if one.ticker in inputs
                ]
            )
        )
        parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {name: [] for name in SPLITS}
        for one in series:
            if one.ticker not in inputs:
                continue
            scaled = torch.from_numpy(self.scaler.transform(inputs[one.ticker])).float()
            spread = horizon_scale(scales[one.ticker], self.horizon)  # [N-W+1, H]
            log_close = torch.from_numpy(np.log(one.closes))
            returns = cumulative_targets(log_close, self.horizon).numpy()  # [N-H, H]
            for name, anchors in one.anchors.items():
                rows = anchors.numpy() - self.window + 1  # the window of each anchor
                targets = returns[anchors.numpy()] / spread[rows]  # returns in scale units
                parts[name].append((scaled[rows], torch.from_numpy(targets).float()))
        for name, pieces in parts.items():
            if pieces:
                self.datasets[name] = TensorDataset(
                    torch.cat([x for x, _ in pieces]), torch.cat([y for _, y in pieces])
                )

    def split_arrays(self, split: str) -> SplitArrays:
        """Raw windows and price-unit truth of a split, all tickers in order (for calibration
        and test metrics)."""
        pieces = [self._series_arrays(one, split) for one in self.series]
        pieces = [piece for piece in pieces if len(piece.last_close)]
        return SplitArrays(
            windows=np.concatenate([p.windows for p in pieces]),
            last_close=np.concatenate([p.last_close for p in pieces]),
            future_close=np.concatenate([p.future_close for p in pieces]),
            target_dates=pd.concat([p.target_dates for p in pieces], ignore_index=True),
            tickers=np.concatenate([p.tickers for p in pieces]),
        )

    def _series_arrays(self, one: Series, split: str) -> SplitArrays:
        anchors = one.anchors[split].numpy()
        if len(anchors) == 0:
            return SplitArrays(
                np.empty((0, self.window, one.features.shape[1])),
                np.empty(0),
                np.empty((0, self.horizon)),
                pd.Series([], dtype="datetime64[ns]"),
                np.empty(0, dtype=object),
            )
        raw = sliding_windows(torch.from_numpy(one.features), self.window).numpy()
        future_index = anchors[:, None] + np.arange(1, self.horizon + 1)  # [n, H]
        dates = (
            one.frame["Date"].iloc[anchors + 2].reset_index(drop=True)
        )  # frame row = feature row + 1
        return SplitArrays(
            windows=raw[anchors - self.window + 1],
            last_close=one.closes[anchors],
            future_close=one.closes[future_index],
            target_dates=dates,
            tickers=np.full(len(anchors), one.ticker, dtype=object),
        )

    def training_returns(self) -> list[np.ndarray]:
        """Daily log returns of each ticker's training rows: the drift reference's distribution."""
        return [one.features[: one.bounds.val_start, RETURN_FEATURE] for one in self.series]

    def date_range(self, split: str) -> tuple[str, str]:
        """First and last target date of a split over all tickers, as ISO dates."""
        firsts, lasts = [], []
        for one in self.series:
            anchors = one.anchors[split]
            if len(anchors):
                firsts.append(one.frame["Date"].iloc[int(anchors[0]) + 2])
                lasts.append(one.frame["Date"].iloc[int(anchors[-1]) + 1 + self.horizon])
        return min(firsts).isoformat(), max(lasts).isoformat()

    def load_frame(self) -> pd.DataFrame:
        """The validated price rows of a single-ticker module (downloaded when not cached)."""
        if len(self.tickers) != 1:
            raise AttributeError("load_frame is defined for one ticker")
        return self._load(self.tickers[0], refresh=self.refresh)

    def _load(self, ticker: str, refresh: bool) -> pd.DataFrame:
        frame = load_prices(
            ticker,
            self.data_dir,
            start=self.start,
            end=self.end,
            interval=self.interval,
            refresh=refresh,
            min_rows=self.min_rows if len(self.tickers) == 1 else self.window + 2,
            path=self.path,
            calendar=self.calendars[ticker],
        )
        check_bar_spacing(
            frame["Date"],
            self.interval,
            expects=f"data.interval={self.interval} asks for",
            source=ticker,
            hint="set data.interval to match the data, or download again with data.refresh=true",
        )
        return frame

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


def date_cuts(
    series: Sequence[Series], val_fraction: float, calib_fraction: float, test_fraction: float
) -> tuple[np.datetime64, np.datetime64, np.datetime64]:
    """The first date of val, calib and test: the split fractions of the union of all tickers'
    feature-row dates (for one ticker, exactly its row fractions)."""
    dates = np.unique(np.concatenate([one.feature_dates for one in series]))
    bounds = split_bounds(len(dates), val_fraction, calib_fraction, test_fraction)
    at = [min(index, len(dates) - 1) for index in (bounds.val_start, bounds.calib_start)]
    test = dates[bounds.test_start] if bounds.test_start < len(dates) else dates[-1] + 1
    return dates[at[0]], dates[at[1]], test
