"""Warnings for prices that are valid but look wrong: one-day close moves that markets do not make.

Why: a close 100x the previous one (cents written for dollars) or half of it (an unadjusted 2:1
split) is a valid number, and the model reads it as a huge return, so the forecast band explodes.
Refusing such rows would also refuse real crashes (AAPL fell 52% on 2000-09-29), so the server
answers and names the row and its likely causes instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockcast.inputs.csv_dialect import ROWS_NOTE, file_row
from stockcast.inputs.date_formats import date_label

MAX_MOVE = 10.0  # a close above 10x, or below 1/10 of, the previous close gets a warning
# (new shares, old shares): a forward split divides the price by new/old, a reverse one multiplies
SPLITS = ((3, 2), (2, 1), (3, 1), (4, 1), (5, 1), (7, 1), (8, 1), (10, 1), (15, 1), (20, 1))
SPLIT_TOLERANCE = 0.05  # the day's own move on top of the split ratio
MAX_WARNINGS = 5
CALM = (0.75, 1 / 0.75)  # a 3:2 split, the smallest, moves the close outside this band


def move_warnings(
    dates: pd.Series, close: np.ndarray, rows: np.ndarray, adjusted: bool
) -> list[str]:
    """One line per suspicious close-to-close move of a sorted frame, at most `MAX_WARNINGS`.

    `rows` holds each frame row's position in the file. Split-like ratios are only suspicious
    when the prices were not adjusted by an `Adj Close` column (`adjusted`).
    """
    if calm(close):
        return []
    ratio = close[1:] / close[:-1]  # [N-1]
    huge = (ratio > MAX_MOVE) | (ratio < 1 / MAX_MOVE)
    splits = np.full(len(ratio), "", dtype=object) if adjusted else _split_labels(ratio)
    flagged = np.flatnonzero(huge | (splits != ""))
    lines = [
        _describe(dates, close, rows, int(i) + 1, bool(huge[i]), str(splits[i]))
        for i in flagged[:MAX_WARNINGS]
    ]
    if len(flagged) > MAX_WARNINGS:
        lines.append(f"... and {len(flagged) - MAX_WARNINGS} more moves like these")
    return lines


def calm(close: np.ndarray) -> bool:
    """True when no close-to-close move of `close` [N] can be warned about: every one stays
    inside the `CALM` band, well within `MAX_MOVE` and short of any split's ratio."""
    ratio = close[1:] / close[:-1]  # [N-1]
    return bool(((ratio >= CALM[0]) & (ratio <= CALM[1])).all())


def _split_labels(ratio: np.ndarray) -> np.ndarray:
    """`'2:1'` where a ratio is within `SPLIT_TOLERANCE` of a split's, else `''`."""
    labels = np.full(len(ratio), "", dtype=object)
    big = np.flatnonzero((ratio < CALM[0]) | (ratio > CALM[1]))
    for new, old in SPLITS:
        near = big[np.abs(ratio[big] * new / old - 1) < SPLIT_TOLERANCE]
        labels[near] = f"{new}:{old}"
        near = big[np.abs(ratio[big] * old / new - 1) < SPLIT_TOLERANCE]
        labels[near] = f"{old}:{new}"  # a reverse split
    return labels


def _describe(
    dates: pd.Series, close: np.ndarray, rows: np.ndarray, at: int, huge: bool, split: str
) -> str:
    before, after = float(close[at - 1]), float(close[at])
    where = (
        f"Close goes from {before:.6g} on {date_label(dates.iloc[at - 1])} to {after:.6g} on "
        f"{date_label(dates.iloc[at])} (row {file_row(rows[at])}; {ROWS_NOTE}), {after / before:.3g}x"
    )
    if huge:
        return (
            f"{where}, beyond the {MAX_MOVE:g}x bound for one bar: check the units (cents for "
            f"dollars?) or an unadjusted split; the forecast reads it as a real move"
        )
    return (
        f"{where}: this looks like an unadjusted {split} split, which the forecast reads as a "
        f"{after / before - 1:+.0%} return; send the file with its Adj Close column (Yahoo's "
        f"download has one) or split-adjusted prices"
    )
