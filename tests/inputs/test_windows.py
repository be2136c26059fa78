"""Windows and splits: vectorised shapes, and no target row shared between splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stockcast.errors import DataValidationError
from stockcast.model.calibration import window_volatility
from stockcast.model.features import compute_features
from stockcast.model.network_inputs import N_INPUTS, network_inputs
from stockcast.model.scaling import Standardizer
from stockcast.model.windows import cumulative_targets, sliding_windows, split_anchors, split_bounds
from stockcast.training.datamodule import StockDataModule

ROOT = Path(__file__).resolve().parents[2]


def test_sliding_windows_are_consecutive_rows():
    features = torch.arange(20.0).reshape(10, 2)  # [N=10, F=2]
    windows = sliding_windows(features, 4)
    assert windows.shape == (7, 4, 2)
    assert torch.equal(windows[3], features[3:7])


def test_cumulative_targets_are_log_returns_from_the_anchor():
    log_close = torch.log(torch.tensor([100.0, 110.0, 121.0, 133.1]))
    targets = cumulative_targets(log_close, horizon=2)
    assert targets.shape == (2, 2)
    assert torch.allclose(targets[0], torch.log(torch.tensor([1.1, 1.21])))


@pytest.mark.parametrize("horizon", [1, 3, 7])
@pytest.mark.parametrize("window", [5, 30])
def test_no_target_row_falls_in_two_splits(window, horizon):
    bounds = split_bounds(500, val_fraction=0.15, calib_fraction=0.15, test_fraction=0.15)
    anchors = split_anchors(bounds, window, horizon)
    targets = {
        name: set((a + k).item() for a in split for k in range(1, horizon + 1))
        for name, split in anchors.items()
    }
    names = ["train", "val", "calib", "test"]
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert not targets[first] & targets[second], (first, second)
    assert max(targets["train"]) < bounds.val_start <= min(targets["val"])
    assert max(targets["val"]) < bounds.calib_start <= min(targets["calib"])
    assert max(targets["calib"]) < bounds.test_start <= min(targets["test"])
    assert max(targets["test"]) == 499  # the most recent row is tested, nothing is lost at the end
    assert min(anchors["test"]) == bounds.test_start - 1  # the first test target right after val


def test_splits_run_train_val_calib_test_in_time_order():
    bounds = split_bounds(1000, 0.15, 0.15, 0.15)
    assert (bounds.val_start, bounds.calib_start, bounds.test_start) == (550, 700, 850)


def test_a_refit_without_test_split_ends_its_calibration_at_the_last_row():
    bounds = split_bounds(1000, 0.15, 0.15, 0.0)
    anchors = split_anchors(bounds, window=30, horizon=1)
    assert len(anchors["test"]) == 0
    assert int(anchors["calib"][-1]) + 1 == 999


def test_scaler_is_fitted_on_training_rows_only(make_cfg):
    datamodule = StockDataModule(data_dir=make_cfg().paths.data_dir)
    datamodule.setup()
    train = datamodule.split_arrays("train").windows
    every = sliding_windows(torch.from_numpy(compute_features(datamodule.frame)), 30).numpy()
    fitted = {
        name: Standardizer.fit(network_inputs(windows, window_volatility(windows, 0.94, "ohlc")))
        for name, windows in (("train", train), ("all", every))
    }
    assert datamodule.scaler == fitted["train"]
    assert datamodule.scaler != fitted["all"]


def test_split_arrays_agree_with_the_training_tensors(make_cfg):
    datamodule = StockDataModule(data_dir=make_cfg().paths.data_dir, horizon=2)
    datamodule.setup()
    test = datamodule.split_arrays("test")
    x, y = datamodule.datasets["test"].tensors
    assert x.shape == (len(test.windows), 30, N_INPUTS) and y.shape == (len(test.windows), 2)
    sigma = window_volatility(test.windows, 0.94, "ohlc")
    np.testing.assert_allclose(
        datamodule.scaler.transform(network_inputs(test.windows, sigma)),
        x.numpy(),
        rtol=1e-5,
        atol=1e-5,
    )
    # the targets: the next returns in units of the window's no-network scale, sqrt(k) per step
    realised = np.log(test.future_close / test.last_close[:, None])
    scaled = realised / (sigma[:, None] * np.sqrt([1.0, 2.0]))
    np.testing.assert_allclose(scaled, y.numpy(), rtol=1e-5, atol=1e-5)
    closes = datamodule.frame.set_index("Date")["Close"]
    assert closes[test.target_dates.iloc[-1]] == test.future_close[-1, 0]
    assert (
        closes.iloc[-1] == test.future_close[-1, 1]
    )  # horizon 2 of the last sample is the last row
    assert (
        test.target_dates.iloc[0] == datamodule.frame["Date"].iloc[datamodule.bounds.test_start + 1]
    )


def test_too_short_series_says_how_many_rows_are_needed(tmp_path):
    lines = (ROOT / "data" / "GOOG.csv").read_text().splitlines()
    (tmp_path / "TINY.csv").write_text("\n".join(lines[:41]))  # header + 40 rows
    datamodule = StockDataModule(ticker="TINY", data_dir=str(tmp_path))
    with pytest.raises(
        DataValidationError, match=r"TINY.csv: too few rows .* got 40, need at least 59"
    ):
        datamodule.setup()


def test_an_unknown_calendar_is_refused_before_any_training(tmp_path):
    with pytest.raises(DataValidationError, match="unknown exchange calendar 'XNYZ'"):
        StockDataModule(data_dir=str(tmp_path), calendar="XNYZ")
