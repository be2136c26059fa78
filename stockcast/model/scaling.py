"""Standardisation fitted on training rows only and stored as plain numbers (JSON, no pickle)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Standardizer:
    """Per-input mean and standard deviation."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, rows: np.ndarray) -> Standardizer:
        """Fit on training rows [..., C] (every axis but the last pooled); a constant column gets
        std 1 so nothing divides by 0."""
        flat = rows.reshape(-1, rows.shape[-1])
        mean = flat.mean(axis=0)
        std = flat.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        return cls(tuple(map(float, mean)), tuple(map(float, std)))

    def transform(self, rows: np.ndarray) -> np.ndarray:
        """Scale rows [..., C] with the training statistics."""
        return (rows - self.mean_array) / self.std_array

    @cached_property
    def mean_array(self) -> np.ndarray:
        """`mean` as an array [C], built once (every served request reads it)."""
        return np.asarray(self.mean)

    @cached_property
    def std_array(self) -> np.ndarray:
        """`std` as an array [C], built once."""
        return np.asarray(self.std)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Standardizer:
        return cls(tuple(data["mean"]), tuple(data["std"]))
