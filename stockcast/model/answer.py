"""The JSON answer of one upload, from the closes the forecaster computed.

Kept apart from `Forecaster` because it is the service's contract (web/openapi.yaml describes
every field written here), while the forecaster's job is the numbers: what the client reads
changes here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockcast.inputs.bars import Bars
from stockcast.inputs.calendar_choice import CalendarChoice


@dataclass(frozen=True)
class ForecastRows:
    """Closes and band edges [2, H]: row 0 the backtest window's (made from the rows before the
    upload's last), row 1 the latest; `dates` the H forecast dates as the answer writes them."""

    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    dates: list[str]


def answer_body(
    bars: Bars,
    rows: ForecastRows,
    calendar: CalendarChoice,
    drift: dict | None,
    model: dict,
) -> dict:
    """The answer's forecast, calendar, one-step backtest of the last row, drift and model
    record (the caller adds how the band was calibrated)."""
    last = bars.time_text(-1)
    actual = float(bars.close[-1])
    predicted_last = float(rows.point[0, 0])
    band_last = (float(rows.lower[0, 0]), float(rows.upper[0, 0]))
    return {
        "last_date": last,
        "last_close": actual,
        "forecast": [
            {
                "date": day,
                "close": float(rows.point[1, k]),
                "lower": float(rows.lower[1, k]),
                "upper": float(rows.upper[1, k]),
            }
            for k, day in enumerate(rows.dates)
        ],
        "calendar": calendar.as_dict(),
        "backtest": {
            "date": last,
            "predicted_close": predicted_last,
            "actual_close": actual,
            "abs_error": abs(predicted_last - actual),
            "lower": band_last[0],
            "upper": band_last[1],
            "covered": band_last[0] <= actual <= band_last[1],
        },
        **({"drift": drift} if drift else {}),
        "model": model,
    }
