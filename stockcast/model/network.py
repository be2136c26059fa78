"""The forecasting network: an LSTM over a window that corrects the band's volatility scale."""

from __future__ import annotations

import torch
from torch import nn

from stockcast.model.network_inputs import N_INPUTS


class LSTMNet(nn.Module):
    """LSTM encoder whose last hidden state maps to H log factors on the no-network scale.

    The served band of step k is `quantile * scale * sqrt(k) * exp(f_k)`, where `scale` is the
    window's range-based EWMA volatility and f the network's output: the network learns where
    the EWMA is too high or too low (after a gap, a down day, a calm spell in a wild month...).
    The head starts at zero, so an untrained network serves exactly the no-network band and
    whatever training learns shows up as a difference from it.

    Args:
        hidden_size: LSTM width.
        num_layers: stacked LSTM layers.
        dropout: dropout between LSTM layers and before the head.
        horizon: number of future closes forecast (>= 1).
        input_size: inputs per time step; stockcast/model/network_inputs.py defines them.
        input_rows: how many of the window's last rows it reads. The scale it corrects already
            summarises the whole window (and its log is an input on every row), so the recent
            rows carry what the correction needs: on the development period 10 rows scored
            within 0.5% of 30 (docs/decisions), at a third of the cost on the ~250 windows each
            served upload's self-calibration runs through it.
    """

    def __init__(
        self,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.1,
        horizon: int = 1,
        input_size: int = N_INPUTS,
        input_rows: int = 10,
    ) -> None:
        super().__init__()
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        if input_rows < 1:
            raise ValueError(f"input_rows must be >= 1, got {input_rows}")
        self.settings = dict(
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            horizon=horizon,
            input_size=input_size,
            input_rows=input_rows,
        )
        self.input_rows = input_rows
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, horizon))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, rows, input_size] -> [B, H], from the last `input_rows` rows."""
        out, _ = self.lstm(x[:, -self.input_rows :])  # [B, input_rows, hidden]
        return self.head(out[:, -1])  # [B, H]

    @torch.inference_mode()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` in eval mode (no dropout, no autograd), whatever mode the module is in.

        Why not `forward`: on a served request's few windows, nn.Module's call machinery (hooks,
        `nn.LSTM.forward`'s argument checks, a module per dropout) cost as much as the LSTM
        kernel itself (docs/decisions/2026-12-06-lstm-kernel-called-directly.md). This calls the kernel that
        `nn.LSTM.forward` calls, with the same weights, so the numbers are the same; a test pins
        that.
        """
        lstm, linear = self.lstm, self.head[-1]
        x = x[:, -self.input_rows :]
        zeros = x.new_zeros(lstm.num_layers, len(x), lstm.hidden_size)
        out, _, _ = torch.lstm(
            x, (zeros, zeros), self._weights, lstm.bias, lstm.num_layers, 0.0, False, False, True
        )  # input, (h0, c0), weights, has_biases, layers, dropout, train, bidirectional, batch_first
        return torch.nn.functional.linear(out[:, -1], linear.weight, linear.bias)  # [B, H]

    @property
    def _weights(self) -> list[torch.Tensor]:
        """The LSTM's parameters in the order its kernel takes them (per layer: W_ih, W_hh,
        b_ih, b_hh)."""
        return [weight for layer in self.lstm.all_weights for weight in layer]
