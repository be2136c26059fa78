"""The inference class: load a trained artifact directory and forecast from OHLCV frames.

Training evaluates the test split through `Forecaster.forecast_windows`, and the TorchServe
handler only wraps `Forecaster.predict_frames`, so the served numbers are the trained numbers.
An artifact is two files and no pickle: `weights.pt` (a state_dict, loaded with
`weights_only=True`) and `forecaster.json` (settings, scaler and calibration as plain numbers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stockcast.data.features import FEATURE_NAMES, RETURN_FEATURE, compute_features
from stockcast.data.intervals import DAILY, bar_step
from stockcast.data.windows import sliding_windows
from stockcast.model.calibration import Calibration, horizon_scale, window_volatility
from stockcast.model.drift import DriftReference
from stockcast.model.network import LSTMNet
from stockcast.model.scaling import Standardizer

ARTIFACT_DIR = "artifact"  # a training run's subdirectory that holds the two files below
WEIGHTS_FILE = "weights.pt"
SPEC_FILE = "forecaster.json"


@dataclass(frozen=True)
class WindowForecast:
    """Forecasts for a batch of raw windows, in log-return units, each [n, H]."""

    raw_return: np.ndarray  # the network's own call
    log_return: np.ndarray  # after shrinkage: what is served
    half_width: np.ndarray  # interval half-width around `log_return`

    def closes(self, last_close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point, lower, upper) closes [n, H] from the anchor closes [n]."""
        base = last_close[:, None]
        return (
            base * np.exp(self.log_return),
            base * np.exp(self.log_return - self.half_width),
            base * np.exp(self.log_return + self.half_width),
        )


class Forecaster:
    """A trained network with its scaler and calibration; usable without TorchServe."""

    def __init__(
        self,
        net: LSTMNet,
        scaler: Standardizer,
        calibration: Calibration,
        window: int,
        interval: str = DAILY,
        info: dict | None = None,
        drift: DriftReference | None = None,
    ) -> None:
        self.net = net.eval()
        self.scaler = scaler
        self.calibration = calibration
        self.window = window
        self.interval = interval
        self.horizon = int(net.settings["horizon"])
        self.info = dict(info or {})
        self.drift = drift  # None for artifacts trained before drift was recorded

    @property
    def min_rows(self) -> int:
        """CSV rows needed: one window of features (W+1 bars) plus the bar the backtest checks."""
        return self.window + 2

    def forecast_windows(self, windows: np.ndarray) -> WindowForecast:
        """One vectorised forward pass over raw (unscaled) windows [n, W, F]."""
        raw = network_returns(self.net, self.scaler, windows)  # [n, H]
        sigma = window_volatility(windows, RETURN_FEATURE)  # [n]
        half = horizon_scale(sigma, self.horizon) * np.asarray(self.calibration.quantiles)[None, :]
        return WindowForecast(raw, self.calibration.shrink * raw, half)

    def predict(self, frame: pd.DataFrame) -> dict:
        """Forecast for one validated OHLCV frame (see `predict_frames`)."""
        return self.predict_frames([frame])[0]

    def predict_frames(self, frames: list[pd.DataFrame]) -> list[dict]:
        """Forecast the next H closes after each frame, plus a one-step backtest of its last row
        (the forecast and band the model gave for that row from the rows before it, and whether
        the actual close fell inside) and where the frame sits in the training distribution.

        All frames share one forward pass: two windows each (ending at the last and at the
        second-to-last bar). Frames must be validated and hold at least `min_rows` rows.
        """
        windows, closes, drift = [], [], []
        for frame in frames:
            features = compute_features(frame)  # [N-1, F]
            tail = sliding_windows(torch.from_numpy(features[-(self.window + 1) :]), self.window)
            windows.append(tail.numpy())  # [2, W, F]
            closes.append(frame["Close"].to_numpy(np.float64)[-2:])
            drift.append(self.drift.describe(features[:, RETURN_FEATURE]) if self.drift else None)
        stacked = np.concatenate(windows)  # [2 * len(frames), W, F]; rows (backtest, latest)
        last_close = np.concatenate(closes)
        point, lower, upper = self.forecast_windows(stacked).closes(last_close)
        rows = [slice(2 * i, 2 * i + 2) for i in range(len(frames))]
        return [
            self._response(frame, point[r], lower[r], upper[r], drift[i])
            for i, (frame, r) in enumerate(zip(frames, rows, strict=True))
        ]

    def _response(
        self,
        frame: pd.DataFrame,
        point: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        drift: dict | None,
    ) -> dict:
        """One answer from the [2, H] closes of the backtest window (row 0) and the latest (row 1)."""
        dates = frame["Date"]
        actual = float(frame["Close"].iloc[-1])
        predicted_last = float(point[0, 0])
        band_last = (float(lower[0, 0]), float(upper[0, 0]))
        future = future_dates(dates.iloc[-1], self.interval, self.horizon)
        return {
            "last_date": _iso(dates.iloc[-1]),
            "last_close": actual,
            "forecast": [
                {
                    "date": _iso(day),
                    "close": float(point[1, k]),
                    "lower": float(lower[1, k]),
                    "upper": float(upper[1, k]),
                }
                for k, day in enumerate(future)
            ],
            "backtest": {
                "date": _iso(dates.iloc[-1]),
                "predicted_close": predicted_last,
                "actual_close": actual,
                "abs_error": abs(predicted_last - actual),
                "lower": band_last[0],
                "upper": band_last[1],
                "covered": band_last[0] <= actual <= band_last[1],
            },
            **({"drift": drift} if drift else {}),
            "model": {
                **self.info,
                "window": self.window,
                "horizon": self.horizon,
                "interval_level": self.calibration.level,
            },
        }

    def save(self, directory: str | Path) -> Path:
        """Write `weights.pt` and `forecaster.json` into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), directory / WEIGHTS_FILE)
        spec = {
            "format": 1,
            "features": list(FEATURE_NAMES),
            "network": self.net.settings,
            "window": self.window,
            "interval": self.interval,
            "scaler": self.scaler.to_dict(),
            "calibration": self.calibration.to_dict(),
            **({"drift": self.drift.to_dict()} if self.drift else {}),
            "info": self.info,
        }
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Forecaster:
        """Rebuild from an artifact directory; refuses one made for other features."""
        directory = Path(directory)
        spec = json.loads((directory / SPEC_FILE).read_text())
        if tuple(spec["features"]) != FEATURE_NAMES:
            raise ValueError(
                f"{directory}: artifact features {spec['features']} differ from this code's {list(FEATURE_NAMES)}"
            )
        net = LSTMNet(**spec["network"])
        net.load_state_dict(
            torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        )
        return cls(
            net,
            Standardizer.from_dict(spec["scaler"]),
            Calibration.from_dict(spec["calibration"]),
            window=int(spec["window"]),
            interval=spec["interval"],
            info=spec.get("info", {}),
            drift=DriftReference.from_dict(spec["drift"]) if "drift" in spec else None,
        )


@torch.no_grad()
def network_returns(net: LSTMNet, scaler: Standardizer, windows: np.ndarray) -> np.ndarray:
    """The network's cumulative log-return forecasts [n, H] for raw windows [n, W, F]."""
    net.eval()
    scaled = torch.from_numpy(scaler.transform(windows)).float()  # [n, W, F]
    return net(scaled).double().numpy() * scaler.target_scale  # [n, H]


def future_dates(last: pd.Timestamp, interval: str, horizon: int) -> list[pd.Timestamp]:
    """The next `horizon` bar times: business days for daily data (no holiday calendar)."""
    if interval == DAILY:
        return list(pd.bdate_range(last + pd.offsets.BDay(1), periods=horizon))
    return [last + bar_step(interval) * k for k in range(1, horizon + 1)]


def _iso(ts: pd.Timestamp) -> str:
    ts = pd.Timestamp(ts)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() and ts.tz is None else ts.isoformat()
