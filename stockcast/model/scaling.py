"""Standardisation fitted on training rows only and stored as plain numbers (JSON, no pickle)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean/std plus the scale of the forecast target (daily log-return std)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    target_scale: float

    @classmethod
    def fit(cls, features: np.ndarray, target_column: int) -> Standardizer:
        """Fit on the training rows [N, F]; a constant column gets std 1 so nothing divides by 0."""
        mean = features.mean(axis=0)
        std = features.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        return cls(tuple(map(float, mean)), tuple(map(float, std)), float(std[target_column]))

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Scale features [..., F] with the training statistics."""
        return (features - np.asarray(self.mean)) / np.asarray(self.std)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Standardizer:
        return cls(tuple(data["mean"]), tuple(data["std"]), float(data["target_scale"]))
