"""The network and LightningModule learn: one batch can be memorised."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

from stockcast.model.network import LSTMNet
from stockcast.training.lightning_module import ForecastModule


def test_output_shape_follows_horizon():
    net = LSTMNet(hidden_size=8, num_layers=2, horizon=3)
    assert net(torch.randn(4, 30, 5)).shape == (4, 3)


def test_horizon_below_one_is_refused():
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        LSTMNet(horizon=0)


@pytest.mark.slow  # 300 optimiser steps: training
def test_overfits_one_batch():
    pl.seed_everything(0)
    x, y = torch.randn(16, 30, 5), torch.randn(16, 1)  # [B, W, F], [B, H]
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
    x = torch.randn(batch, 30, 5)
    predicted = net.predict(x)  # in train mode: predict never applies dropout
    net.eval()
    with torch.no_grad():
        assert torch.equal(predicted, net(x))
    assert not predicted.requires_grad
