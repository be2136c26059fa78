"""Which market's calendar dates an upload's forecast: the one asked for, else the one its rows
keep, else the model's.

A model trained on New York closes forecasts a B3 stock or Bitcoin just as well, but its calendar
would date the forecast on a day that market is shut (B3's Carnival) or skip days it trades (a
Saturday for Bitcoin). The upload's own dates say which market it is: a market's rows fall on its
sessions and skip its holidays. Inference compares the upload's recent days with each candidate's
sessions over the same span and counts disagreements (rows on a closed day, sessions without a
row); the model's calendar is tried first and kept unless another matches clearly better, so a
default upload pays one binary search of its recent days.

Clearly better: the other calendar fits the rows (at most `TOLERANCE` of them disagree: a missing
row or two) and the model's disagrees on at least `EVIDENCE` more days. Rows on every weekday
(synthetic data, or a vendor that fills holidays) then stay with the model's calendar rather than
going to whichever exchange had the fewest holidays in their span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockcast.inputs.bars import DAY_NS, Bars
from stockcast.inputs.calendars import ALWAYS_OPEN, resolve_calendar, session_days

ASKED = "asked for"
INFERRED = "inferred from the upload's sessions"
MODELS = "the model's"
# The markets inference chooses among, in the order tried: every day, then major exchanges with
# distinct holidays. Each exchange is built once per process on first need (about a second), and
# the search stops at the first that matches every row, so a seven-day upload builds none.
CANDIDATES = (ALWAYS_OPEN, "XNYS", "BVMF", "XLON", "XETR", "XTSE", "XTKS", "XHKG", "XASX")
ROWS_COMPARED = 250  # about a year of recent rows: every holiday of a year is evidence
TOLERANCE = 0.01  # the share of rows a fitting calendar may disagree on (at least one row)
EVIDENCE = 3  # the days more on which the model's calendar must disagree to be left


@dataclass(frozen=True)
class CalendarChoice:
    """The calendar (`exchange_calendars` name or `always-open`) that dates a forecast, and how
    it was chosen (`ASKED`, `INFERRED` or `MODELS`)."""

    name: str
    how: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "how": self.how}


def asked_calendar(name: str) -> CalendarChoice:
    """The calendar a client named; `DataValidationError(reason="unknown_calendar")`, listing
    the accepted names, when there is none by that name."""
    return CalendarChoice(resolve_calendar(name), ASKED)


def infer_calendar(bars: Bars, model_calendar: str) -> CalendarChoice:
    """The candidate whose sessions best match the last `ROWS_COMPARED` days of `bars`, when it
    matches clearly better than the model's calendar (see the module's docstring); else the
    model's."""
    days = recent_days(bars, ROWS_COMPARED)
    own = disagreements(days, model_calendar)
    if own < EVIDENCE:
        return CalendarChoice(model_calendar, MODELS)
    fewest, best = own, model_calendar
    for name in CANDIDATES:
        if name != model_calendar and (count := disagreements(days, name)) < fewest:
            fewest, best = count, name
            if count == 0:
                break
    fits = fewest <= max(1, int(TOLERANCE * len(days)))
    if fits and own - fewest >= EVIDENCE:
        return CalendarChoice(best, INFERRED)
    return CalendarChoice(model_calendar, MODELS)


def disagreements(days: np.ndarray, calendar: str) -> int:
    """How many of ascending, distinct `days` (datetime64[D]) fall outside the sessions of
    `calendar`, plus how many of its sessions between the first and last day have no row."""
    sessions = session_days(calendar)
    at = sessions.searchsorted(days)  # [N] where each day is, or would be
    found = np.count_nonzero(sessions[np.minimum(at, len(sessions) - 1)] == days)
    spanned = int(sessions.searchsorted(days[-1], side="right") - at[0])
    return (len(days) - found) + (spanned - found)


def recent_days(bars: Bars, count: int) -> np.ndarray:
    """The distinct calendar days (datetime64[D], ascending) of the last `count` bars, by their
    own wall clock when time-zone-aware."""
    stamps = bars.stamps[-count:]  # ascending: the bars are validated
    if bars.tz is None:
        days = (stamps // DAY_NS).astype("datetime64[D]")
    else:
        local = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)).tz_convert(bars.tz)
        days = local.tz_localize(None).to_numpy().astype("datetime64[D]")
    repeated = days[1:] == days[:-1]  # two bars on one day; np.unique would sort, 10x the cost
    return days[np.concatenate([[True], ~repeated])] if repeated.any() else days
