"""Sliding windows and the chronological split, built with vectorised tensor ops.

A sample is anchored at feature row t: its input is rows t-W+1..t and its targets are the
cumulative log returns from close t to closes t+1..t+H. A sample belongs to the split that holds
all of its target rows; samples whose targets would straddle a boundary are dropped, so no target
row is ever in two splits. Inputs may reach back across a boundary: they are the past, known at
forecast time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def sliding_windows(features: torch.Tensor, window: int) -> torch.Tensor:
    """[N, F] -> [N-W+1, W, F]; window i ends at row i+W-1."""
    return features.unfold(0, window, 1).permute(0, 2, 1)  # [N-W+1, W, F]


def cumulative_targets(log_close: torch.Tensor, horizon: int) -> torch.Tensor:
    """[N] log closes -> [N-H, H] with entry (t, k-1) = log C_{t+k} - log C_t."""
    future = log_close.unfold(0, horizon + 1, 1)  # [N-H, H+1]: closes t..t+H
    return future[:, 1:] - future[:, :1]  # [N-H, H]


@dataclass(frozen=True)
class SplitBounds:
    """First target row of each split after train (feature-row indices), in time order:
    train | val (selection) | calib (conformal calibration) | test (scored)."""

    val_start: int
    calib_start: int
    test_start: int
    n_rows: int


def split_bounds(
    n_rows: int, val_fraction: float, calib_fraction: float, test_fraction: float
) -> SplitBounds:
    """Test = the last `test_fraction` of rows (0: none), calibration the `calib_fraction` before
    it, validation the `val_fraction` before that; training is what remains at the start."""
    n_test = int(round(n_rows * test_fraction))
    n_calib = int(round(n_rows * calib_fraction))
    n_val = int(round(n_rows * val_fraction))
    test_start = n_rows - n_test
    return SplitBounds(test_start - n_calib - n_val, test_start - n_calib, test_start, n_rows)


def split_anchors(bounds: SplitBounds, window: int, horizon: int) -> dict[str, torch.Tensor]:
    """Anchor rows per split, such that each anchor's H target rows lie inside one split."""
    anchors = torch.arange(window - 1, bounds.n_rows - horizon)
    first_target, last_target = anchors + 1, anchors + horizon
    edges = {
        "train": (0, bounds.val_start),
        "val": (bounds.val_start, bounds.calib_start),
        "calib": (bounds.calib_start, bounds.test_start),
        "test": (bounds.test_start, bounds.n_rows),
    }
    return {
        name: anchors[(first_target >= lo) & (last_target < hi)] for name, (lo, hi) in edges.items()
    }
