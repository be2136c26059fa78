"""Refuse price rows spaced unlike the bars a model reads: hourly bars sent to a daily model, mixed
spacing, or a hole longer than markets close for.

The features are per-bar returns, so hourly bars fed to a daily model get a forecast that looks
fine and means nothing (a 200, dated the next calendar day). For a model of bars `step`
apart (1 day, 1 hour, ...), with gaps measured between consecutive rows in calendar time:

  * the typical gap (the median) lies within 0.75..1.5 steps;
  * no gap is shorter than 0.75 steps (intraday rows in a daily file; daylight-saving days pass);
  * no gap exceeds one step plus `MAX_CLOSED_DAYS` calendar days: weekends, holidays and halts
    fit (the NYSE's 2001-09-11 closure left 7 days between rows, a Lunar New Year 11), a missing
    month does not.

Calendar time rather than sessions of the model's exchange, because an upload may come from any
exchange and any decade, and rows on weekends (a market open seven days a week) are fine. The check
runs on every request: a few NumPy operations on the int64 timestamps.
"""

from __future__ import annotations

from datetime import tzinfo
from functools import cache

import numpy as np
import pandas as pd

from stockcast.errors import DataValidationError
from stockcast.inputs.intervals import bar_name, nominal_duration

MAX_CLOSED_DAYS = 14  # calendar days a market may stay shut between two bars
SHORTEST, TYPICAL_MAX = 0.75, 1.5  # gap bounds in steps: every gap, and the median
_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def check_bar_spacing(
    dates: pd.Series,
    interval: str,
    expects: str = "this model forecasts",
    source: str = "the upload",
    hint: str = "",
) -> None:
    """Raise `DataValidationError(reason="bar_spacing")` unless `dates` are bars of `interval`.

    `dates` are validated (unique, ascending). Messages read "{expects} daily bars; {source}'s bars
    are 1 hour apart" and name rows as a spreadsheet does: the header is row 1. `hint`, when
    given, ends each message with what to do.
    """
    stamps = dates.array.as_unit("ns").asi8  # [N] ns since the epoch, UTC when tz-aware
    check_stamp_spacing(stamps, dates.dt.tz, interval, expects, source, hint)


def check_stamp_spacing(
    stamps: np.ndarray,
    tz: tzinfo | None,
    interval: str,
    expects: str = "this model forecasts",
    source: str = "the upload",
    hint: str = "",
) -> None:
    """`check_bar_spacing` for int64 ns timestamps [N] (UTC when `tz` is set): the served path,
    which holds its dates as arrays and builds no Series unless it refuses."""
    if len(stamps) < 2:
        return
    step = _step_ns(interval)
    whole_gaps = stamps[1:] - stamps[:-1]  # [N-1] int64 ns
    if _plainly_regular(whole_gaps, step):
        return
    gaps = whole_gaps.astype(np.float64)  # a float median is 10x an int one here
    name = bar_name(interval)
    typical = float(np.median(gaps))
    if not SHORTEST * step <= typical <= TYPICAL_MAX * step:
        _refuse(f"{expects} {name} bars; {source}'s bars are {_duration(typical)} apart", hint)
    short = gaps < SHORTEST * step
    if short.any():
        _refuse(
            f"{expects} {name} bars, but {source}'s bars are mixed: {_example(stamps, tz, gaps, short)}, "
            f"while most are {_duration(typical)} apart",
            hint,
        )
    longest = step + MAX_CLOSED_DAYS * 86_400 * 10**9
    long = gaps > longest
    if long.any():
        _refuse(
            f"{source}'s {name} bars have a hole: {_example(stamps, tz, gaps, long)}; consecutive rows "
            f"may be at most {_duration(longest)} apart (one bar plus {MAX_CLOSED_DAYS} days of "
            "weekends, holidays or halts): send only the rows after the hole, or fill it",
            hint,
        )


@cache
def _step_ns(interval: str) -> int:
    return nominal_duration(interval).value


def _plainly_regular(gaps: np.ndarray, step: int) -> bool:
    """True when every rule above holds, decided without the median: no gap is short or long,
    and fewer than half are over `TYPICAL_MAX` steps, so both middle gaps, and the median, are
    within bounds. Served uploads are nearly always this case; anything else (and every
    refusal's message) is left to the full check."""
    return bool(
        gaps.min() >= SHORTEST * step
        and gaps.max() <= step + MAX_CLOSED_DAYS * 86_400 * 10**9
        and 2 * np.count_nonzero(gaps > TYPICAL_MAX * step) < len(gaps)
    )


def _example(stamps: np.ndarray, tz: tzinfo | None, gaps: np.ndarray, bad: np.ndarray) -> str:
    """'rows 5 and 6 (2024-01-02 and 2024-01-02 01:00:00) are 1 hour apart (3 such gaps)'."""
    at = int(np.flatnonzero(bad)[0])
    count = int(bad.sum())
    first, second = (pd.Timestamp(int(stamp), tz=tz) for stamp in stamps[at : at + 2])
    return (
        f"rows {at + 2} and {at + 3} ({_stamp(first)} and {_stamp(second)}) are "
        f"{_duration(gaps[at])} apart" + (f" ({count} such gaps)" if count > 1 else "")
    )


def _stamp(ts: pd.Timestamp) -> str:
    return str(ts.date()) if ts == ts.normalize() else str(ts)


def _duration(ns: float) -> str:
    """A gap in words, to its two largest units: '1 hour', '2 days 18 hours', '30 minutes'."""
    left, parts = round(ns / 10**9), []
    for unit, seconds in _UNITS:
        amount, left = divmod(left, seconds)
        if amount:
            parts.append(f"{amount} {unit}{'s' if amount > 1 else ''}")
    return " ".join(parts[:2]) or "under a second"


def _refuse(message: str, hint: str) -> None:
    raise DataValidationError(f"{message}; {hint}" if hint else message, "bar_spacing")
