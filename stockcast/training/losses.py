"""Proper scoring rules for a forecast scale: what the network is trained to minimise.

The network's output f is a log factor on the no-network scale, and its target z is the realised
return in units of that scale (stockcast/training/datamodule.py), so the forecast scale of z is
s = exp(f). The negative log-likelihood of z under a distribution of scale s is minimised by the
true scale, which is what the served band multiplies by its quantile.
"""

from __future__ import annotations

import torch
from torch import nn


class ScaleNLL(nn.Module):
    """Mean negative log-likelihood of standardised returns z [B, H] given log scales f [B, H].

    Args:
        dist: "normal", or "t": Student t with `nu` degrees of freedom, rescaled to unit variance
            so that s stays the standard deviation. Daily returns have fat tails even after
            dividing by a good volatility forecast; under a normal likelihood one crash day pulls
            the scale up for every calm window like it, under t it weighs less.
        nu: the t's degrees of freedom (> 2).
    """

    def __init__(self, dist: str = "t", nu: float = 5.0) -> None:
        super().__init__()
        if dist not in ("normal", "t"):
            raise ValueError(f"unknown distribution {dist!r}: use 'normal' or 't'")
        if dist == "t" and nu <= 2:
            raise ValueError(f"a unit-variance t needs nu > 2, got {nu}")
        self.dist, self.nu = dist, float(nu)

    def forward(self, log_scale: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        ratio = (z * torch.exp(-log_scale)) ** 2  # (z / s)^2
        if self.dist == "normal":
            return (log_scale + 0.5 * ratio).mean()
        nu = self.nu
        return (log_scale + 0.5 * (nu + 1) * torch.log1p(ratio / (nu - 2))).mean()

    def extra_repr(self) -> str:
        return f"dist={self.dist!r}" + (f", nu={self.nu}" if self.dist == "t" else "")


def no_network_loss(z: torch.Tensor, loss: nn.Module) -> float:
    """The loss of the no-network scale (f = 0) on targets z: what training has to beat."""
    return float(loss(torch.zeros_like(z), z))
