"""The inference class: load a trained artifact directory and forecast from OHLCV frames.

The forecast is the last close (daily closes are close to a random walk; no point forecast beat
it on the bundled series) with an 80% band around it whose width the network forecasts: the
window's no-network scale times the network's factor times a conformal quantile.

Training evaluates the test split through `Forecaster.forecast_windows`, and the TorchServe
handler only wraps `Forecaster.predict_bars` (which `predict_frames` calls too), so the served
numbers are the trained numbers.
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

from stockcast.inputs.bars import OHLCV, Bars
from stockcast.inputs.calendar_choice import (
    MODELS,
    CalendarChoice,
    asked_calendar,
    infer_calendar,
)
from stockcast.inputs.calendars import (
    DEFAULT_CALENDAR,
    next_session_days,
    next_sessions,
    trading_sessions,
)
from stockcast.inputs.intervals import DAILY, bar_step, bar_time_text
from stockcast.inputs.spacing import check_stamp_spacing
from stockcast.model.answer import ForecastRows, answer_body
from stockcast.model.calibration import Calibration, horizon_scale
from stockcast.model.drift import DriftReference
from stockcast.model.features import FEATURE_NAMES, RETURN_FEATURE, bar_features
from stockcast.model.network import LSTMNet
from stockcast.model.network_inputs import INPUT_NAMES, network_inputs
from stockcast.model.scaling import Standardizer
from stockcast.model.windows import sliding_windows

ARTIFACT_DIR = "artifact"  # a training run's subdirectory that holds the two files below
WEIGHTS_FILE = "weights.pt"
SPEC_FILE = "forecaster.json"
ARTIFACT_FORMAT = 2  # 2: the network forecasts the band's scale from scale-relative inputs


@dataclass(frozen=True)
class WindowForecast:
    """Forecasts for a batch of raw windows, in log-return units, each [n, H]."""

    log_factor: np.ndarray  # the network's log factor on the no-network scale (0: no network)
    half_width: np.ndarray  # interval half-width around the last close

    def closes(self, last_close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point, lower, upper) closes [n, H] from the anchor closes [n]: the point is the last
        close, the band symmetric around it in log terms."""
        base = last_close[:, None]
        return (
            np.repeat(base, self.half_width.shape[1], axis=1),
            base * np.exp(-self.half_width),
            base * np.exp(self.half_width),
        )


@dataclass(frozen=True)
class _Upload:
    """What one upload contributes to a batch: its windows and what is known after each."""

    windows: np.ndarray  # [m, W, F] raw: the scored windows, then the backtest and latest ones
    realised: np.ndarray  # [scored, H] cumulative log returns after each scored window
    sigma: np.ndarray  # [m] window volatility: the no-network scale
    last_close: np.ndarray  # [2] closes at the backtest window and the latest
    drift: dict | None  # where the upload's recent volatility and returns sit in training's


class Forecaster:
    """A trained network with its scaler and calibration; usable without TorchServe.

    `interval` is the bar spacing it was trained on and `calendar` the exchange calendar
    (`exchange_calendars` name) that dates its daily forecasts.
    """

    def ablated(self) -> Forecaster:
        """The same forecaster without the network: the no-network scale times its own stored
        quantile, self-calibrated the same way. The backtest scores it beside the model
        (`no_network`) to show what the network adds."""
        return Forecaster(
            self.net,
            self.scaler,
            self.calibration.without_network(),
            window=self.window,
            interval=self.interval,
            info={**self.info, "network": "removed"},
            calendar=self.calendar,
            drift=self.drift,
            use_network=False,
        )

    def __init__(
        self,
        net: LSTMNet,
        scaler: Standardizer,
        calibration: Calibration,
        window: int,
        interval: str = DAILY,
        info: dict | None = None,
        calendar: str = DEFAULT_CALENDAR,
        drift: DriftReference | None = None,
        use_network: bool = True,
    ) -> None:
        self.net = net.eval()
        self.use_network = use_network  # False: the ablation, the band without the network
        self.scaler = scaler
        self.calibration = calibration
        self.window = window
        self.interval = interval
        self.calendar = calendar
        if interval == DAILY:  # build it now: an unknown name fails here, and no request waits
            trading_sessions(calendar)
        self.horizon = int(net.settings["horizon"])
        self.info = dict(info or {})
        self.drift = drift  # None for artifacts trained before drift was recorded

    @property
    def min_rows(self) -> int:
        """CSV rows needed: one window of features (W+1 bars) plus the bar the backtest checks."""
        return self.window + 2

    def check_dates(self, dates: pd.Series) -> CalendarChoice:
        """`check_bars` for a validated Date column alone: refuse dates this model cannot read or
        date (`DataValidationError`: bars spaced unlike its training bars, or an end outside the
        calendar that dates them), else return that calendar. The calendar is the one the dates
        keep, as a served upload's is, not always the model's: a seven-day series is dated, and
        checked, by every calendar day."""
        stamps = dates.array.as_unit("ns").asi8
        return self.check_bars(Bars(stamps, np.empty((len(stamps), len(OHLCV))), dates.dt.tz))

    def calendar_for(self, bars: Bars, asked: str | None = None) -> CalendarChoice:
        """The calendar that dates the forecast of validated `bars`: `asked` (a calendar name)
        when given, else the one their days keep (`infer_calendar`). Bars other than daily are
        dated by whole steps, so they keep the model's.

        Raises:
            DataValidationError(reason="unknown_calendar"): no calendar is named `asked`.
        """
        if asked is not None:
            return asked_calendar(asked)
        if self.interval != DAILY:
            return CalendarChoice(self.calendar, MODELS)
        return infer_calendar(bars, self.calendar)

    def check_bars(self, bars: Bars, calendar: CalendarChoice | None = None) -> CalendarChoice:
        """`check_dates` for validated bars, with the calendar that dates them (`calendar_for`
        when not given), which it returns.

        The spacing check measures calendar time, which holds for every market: a seven-day
        series' one-day gaps and a long holiday both pass it."""
        check_stamp_spacing(bars.stamps, bars.tz, self.interval)
        calendar = calendar or self.calendar_for(bars)
        self._future_texts(bars, calendar.name)
        return calendar

    def _future_texts(self, bars: Bars, calendar: str) -> list[str]:
        """The next H bar times after the last of `bars`, as the response writes them
        (`future_dates`, with daily sessions of `calendar` found without a Timestamp)."""
        if self.interval == DAILY:
            days = next_session_days(calendar, bars.day(-1), self.horizon)
            return [str(day) for day in days]
        last = bars.timestamp(-1)
        return [bar_time_text(t) for t in future_dates(last, self.interval, self.horizon, calendar)]

    def forecast_windows(self, windows: np.ndarray) -> WindowForecast:
        """One vectorised forward pass over raw (unscaled) windows [n, W, F], with the stored
        quantiles (training evaluates its splits this way)."""
        sigma = self.calibration.volatility(windows)  # [n]
        factor = self.log_factors(windows, sigma)  # [n, H]
        scale = horizon_scale(sigma, self.horizon) * np.exp(factor)
        return WindowForecast(factor, scale * self.calibration.stored_quantiles[None, :])

    def log_factors(self, windows: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """The network's log factors [n, H] for raw windows [n, W, F] with no-network scale
        sigma [n]; zeros for the ablation."""
        if not self.use_network:
            return np.zeros((len(windows), self.horizon))
        return network_log_factors(self.net, self.scaler, windows, sigma)

    def predict(self, frame: pd.DataFrame) -> dict:
        """Forecast for one validated OHLCV frame (see `predict_frames`)."""
        return self.predict_frames([frame])[0]

    def predict_frames(self, frames: list[pd.DataFrame]) -> list[dict]:
        """Forecast for validated OHLCV frames (see `predict_bars`)."""
        return self.predict_bars([Bars.from_frame(frame) for frame in frames])

    def predict_bars(
        self, uploads: list[Bars], calendars: list[CalendarChoice] | None = None
    ) -> list[dict]:
        """Forecast the next H closes after each upload, plus a one-step backtest of its last row
        (the forecast and band the model gave for that row from the rows before it, and whether
        the actual close fell inside) and where the upload sits in the training distribution.
        Forecasts are dated by each upload's calendar (`calendars`, or `calendar_for` each).

        Each upload is also scored on its own recent days (up to `calibration.self_rows`: the
        windows whose H targets lie inside the upload), and its band takes its quantile from
        those scores blended with the stored one: the upload calibrates its own band. All
        uploads' windows share one forward pass. Uploads must be validated, pass `check_bars`
        and hold at least `min_rows` rows.
        """
        if calendars is None:
            calendars = [self.calendar_for(bars) for bars in uploads]
        prepared = [self._upload(bars) for bars in uploads]
        factors = self.log_factors(
            np.concatenate([upload.windows for upload in prepared]),
            np.concatenate([upload.sigma for upload in prepared]),
        )  # [rows, H]
        answers, offset = [], 0
        for bars, upload, calendar in zip(uploads, prepared, calendars, strict=True):
            used = len(upload.windows)
            answers.append(self._answer(bars, upload, factors[offset : offset + used], calendar))
            offset += used
        return answers

    @property
    def rows_read(self) -> int:
        """How many of an upload's last bars the forecast computes on: the windows of its scored
        days (`calibration.self_rows` and H more), of the backtest and of the latest forecast,
        and the drift window's returns. Older rows are validated, never computed on."""
        drift = self.drift.window + 1 if self.drift else 0
        return max(max(2, self.horizon + self._scored_wanted) + self.window, drift)

    @property
    def _scored_wanted(self) -> int:
        """Scored days an upload's band wants: `self_rows` for the latest band and H more
        before them, so the backtest window's band can take the same number from the days it
        knew (0 without self-calibration)."""
        cal = self.calibration
        return cal.self_rows + self.horizon if cal.self_rows else 0

    def network_windows(self, bars: Bars) -> np.ndarray:
        """The raw windows [n, W, F] of validated `bars` that `predict_bars` runs the network on:
        what a request costs in forward passes."""
        return self._upload(bars).windows

    def _upload(self, bars: Bars) -> _Upload:
        """The windows of one upload: its scored days' (oldest first), then the backtest one and
        the latest; with the realised log returns and volatility of each."""
        features = bar_features(bars.ohlcv[-self.rows_read :])  # [M, F] the rows computed on
        rows, horizon, window = len(features), self.horizon, self.window
        scored = max(0, min(self._scored_wanted, rows - window + 1 - horizon))
        first = min(rows - 2, rows - horizon - scored)  # anchor (feature row) of the first window
        history = features[first - window + 1 :]  # the rows the windows read
        windows = sliding_windows(torch.from_numpy(history), window).numpy()  # [rows - first, W, F]
        returns = np.concatenate([np.cumsum(features[first + 1 :, RETURN_FEATURE]), [np.nan]])
        base = np.concatenate([[0.0], returns[:-1]])
        # realised cumulative log return of each scored window's steps: [scored, H]
        ends = np.arange(scored)[:, None] + np.arange(horizon)[None, :]  # [scored, H]
        realised = returns[ends] - base[:scored, None]
        sigma = self.calibration.rolling_volatility(history, window)  # = volatility(windows)
        drift = self.drift.describe(features[:, RETURN_FEATURE]) if self.drift else None
        return _Upload(windows, realised, sigma, bars.close[-2:], drift)

    def _answer(
        self, bars: Bars, upload: _Upload, factor: np.ndarray, calendar: CalendarChoice
    ) -> dict:
        cal = self.calibration
        scored = len(upload.realised)
        # the band's scale on every window: no-network scale x the network's factor, [windows, H]
        spread = horizon_scale(upload.sigma, self.horizon) * np.exp(factor)
        scores = np.abs(upload.realised) / spread[:scored]  # the point is the last close
        latest = scores[-cal.self_rows :] if cal.self_rows else scores
        quantiles, used = cal.blended_quantiles(latest)
        # the backtest window's band must not know its own outcome: leave out the scores whose
        # targets reach the last row; it is then what the day before's upload was answered
        known = scores[: max(scored - self.horizon, 0)]
        earlier, _ = cal.blended_quantiles(known[-cal.self_rows :] if cal.self_rows else known)
        half = spread[-2:] * np.array([earlier, quantiles])  # [2, H] backtest window, latest
        point, lower, upper = WindowForecast(factor[-2:], half).closes(upload.last_close)
        stored = cal.stored_quantiles
        covered = np.count_nonzero(latest[:, 0] <= stored[0])
        recent = covered / len(latest) if len(latest) else None
        model = {
            **self.info,
            "window": self.window,
            "horizon": self.horizon,
            "interval_level": cal.level,
        }
        answer = answer_body(
            bars,
            ForecastRows(point, lower, upper, self._future_texts(bars, calendar.name)),
            calendar,
            upload.drift,
            model,
        )
        answer["calibration"] = {
            "band": "self-calibrated on the upload" if used else "stored with the model",
            "rows_scored": used,
            "recent_coverage": recent,  # how often the stored band held on this upload
            "quantile": float(quantiles[0]),
            "stored_quantile": float(stored[0]),
            "prior_rows": cal.prior_rows,
            # how the first step's band was made: half-width = scale x factor x quantile (log terms)
            "no_network_scale": float(upload.sigma[-1]),
            "network_factor": float(np.exp(factor[-1, 0])),
        }
        return answer

    def save(self, directory: str | Path) -> Path:
        """Write `weights.pt` and `forecaster.json` into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), directory / WEIGHTS_FILE)
        spec = {
            "format": ARTIFACT_FORMAT,
            "features": list(FEATURE_NAMES),
            "inputs": list(INPUT_NAMES),
            "network": self.net.settings,
            "window": self.window,
            "interval": self.interval,
            "calendar": self.calendar,
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
        if spec.get("format") != ARTIFACT_FORMAT:
            raise ValueError(
                f"{directory}: artifact format {spec.get('format')} is not this code's "
                f"{ARTIFACT_FORMAT} (its network forecasts something else): train it again"
            )
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
            calendar=spec.get("calendar", DEFAULT_CALENDAR),
            drift=DriftReference.from_dict(spec["drift"]) if "drift" in spec else None,
        )


def network_log_factors(
    net: LSTMNet, scaler: Standardizer, windows: np.ndarray, sigma: np.ndarray
) -> np.ndarray:
    """The network's log factors [n, H] on the no-network scale sigma [n] of raw windows
    [n, W, F]: what training fits and serving multiplies the band by."""
    inputs = network_inputs(windows, sigma, net.input_rows)  # [n, rows, F+1]
    inputs -= scaler.mean_array  # in place: the request path allocates no more than it must
    inputs /= scaler.std_array
    inputs = inputs.astype(np.float32)
    return net.predict(torch.from_numpy(inputs)).double().numpy()


def future_dates(
    last: pd.Timestamp, interval: str, horizon: int, calendar: str = DEFAULT_CALENDAR
) -> list[pd.Timestamp]:
    """The next `horizon` bar times: the calendar's next sessions for daily bars (no weekends or
    holidays), whole bar steps for the others."""
    if interval == DAILY:
        return next_sessions(calendar, last, horizon)
    return [last + bar_step(interval) * k for k in range(1, horizon + 1)]
