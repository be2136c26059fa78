"""The network and LightningModule learn: an untrained head serves the no-network band, one batch
can be memorised, the scale likelihood is minimised at the true scale."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

from stockcast.model.network import LSTMNet
from stockcast.model.network_inputs import N_INPUTS
from stockcast.training.lightning_module import ForecastModule
from stockcast.training.losses import ScaleNLL


def test_output_shape_follows_horizon():
    net = LSTMNet(hidden_size=8, num_layers=2, horizon=3)
    assert net(torch.randn(4, 30, N_INPUTS)).shape == (4, 3)


def test_an_untrained_network_leaves_the_no_network_scale_as_it_is():
    net = LSTMNet(hidden_size=8, horizon=2)
    assert torch.equal(net.predict(torch.randn(5, 30, N_INPUTS)), torch.zeros(5, 2))


@pytest.mark.parametrize("dist", ["normal", "t"])
def test_the_scale_likelihood_is_lowest_at_the_true_scale(dist):
    z = torch.randn(200_000, 1, generator=torch.Generator().manual_seed(0)) * 1.5  # scale 1.5
    loss = ScaleNLL(dist=dist, nu=5.0)
    losses = {
        s: float(loss(torch.full_like(z, torch.log(torch.tensor(s))), z)) for s in (1.2, 1.5, 1.9)
    }
    # normal: exactly at 1.5; t (fatter tails) rates normal data a little narrower than 1.5
    assert losses[1.5] < losses[1.9] and (losses[1.5] < losses[1.2] or dist == "t")
    assert min(losses, key=losses.get) in ((1.5,) if dist == "normal" else (1.2, 1.5))


def test_a_scale_likelihood_asked_for_an_unknown_shape_is_refused():
    with pytest.raises(ValueError, match="unknown distribution"):
        ScaleNLL(dist="laplace")
    with pytest.raises(ValueError, match="nu > 2"):
        ScaleNLL(dist="t", nu=2.0)


def test_horizon_below_one_is_refused():
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        LSTMNet(horizon=0)


@pytest.mark.slow  # 300 optimiser steps: training
def test_overfits_one_batch():
    pl.seed_everything(0)
    x, y = torch.randn(16, 30, N_INPUTS), torch.randn(16, 1)  # [B, W, F], [B, H]
    module = ForecastModule(
        LSTMNet(hidden_size=32, num_layers=1, dropout=0.0),
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
        loss=torch.nn.MSELoss(),
    )
    optimizer = module.configure_optimizers()["optimizer"]
    first = module.criterion(module(x), y).item()
    for _ in range(300):
        optimizer.zero_grad()
        loss = module.criterion(module(x), y)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.02 * first


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 2, 9])
def test_predict_is_the_eval_forward_pass_bit_for_bit(layers, batch):
    torch.manual_seed(layers * 10 + batch)
    net = LSTMNet(hidden_size=16, num_layers=layers, dropout=0.3, horizon=3).train()
    x = torch.randn(batch, 30, N_INPUTS)
    predicted = net.predict(x)  # in train mode: predict never applies dropout
    net.eval()
    with torch.no_grad():
        assert torch.equal(predicted, net(x))
    assert not predicted.requires_grad
