"""Standardisation fitted on training rows only and stored as plain numbers (JSON, no pickle)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
        return (rows - np.asarray(self.mean)) / np.asarray(self.std)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Standardizer:
        return cls(tuple(data["mean"]), tuple(data["std"]))
