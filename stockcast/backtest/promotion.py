"""Champion against challenger: the days they are compared on, their scores, the rule that
decides, and the table that shows it.

A served version is a refit that learned from every row up to its data's end, so scoring it on
the most recent days would score it on rows it trained on. Each version is therefore judged by
its held-out twin (the evaluated run of the same recipe, which stopped learning before its test
split), on the most recent days that neither twin learned from. Both go through the walk-forward
backtest's code: each day's forecast is what the service answers for the year of rows up to it
(`served_band`), scored by `score_method` against the same naive forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from stockcast.backtest.walk_forward import scored_origins, served_band
from stockcast.errors import LifecycleError
from stockcast.evaluation.comparison import score_method
from stockcast.evaluation.references import Band
from stockcast.model.forecaster import Forecaster

ROWS = (  # (score key, label, format) of the decision table
    ("mae", "MAE", "{:.3f}"),
    ("rel_mae", "MAE relative to naive", "{:.4f}"),
    ("coverage", "band coverage", "{:.3f}"),
    ("mean_width", "band width (share of close)", "{:.4f}"),
    ("winkler", "interval score", "{:.3f}"),
)


@dataclass(frozen=True)
class PromotionRule:
    """The challenger becomes the default only when it is not worse than the champion by more
    than these margins on the same held-out days, and there are enough of them."""

    interval_score_tolerance: float  # the challenger's may exceed the champion's by this share
    rel_mae_tolerance: float  # the challenger's MAE relative to naive may exceed by this much
    min_days: int

    def objections(self, comparison: dict[str, Any]) -> list[str]:
        """Why the challenger may not be promoted; empty when it wins."""
        if comparison["days"] < self.min_days:
            return [
                f"only {comparison['days']} day(s) that neither held-out model learned from "
                f"(need lifecycle.min_days={self.min_days})"
            ]
        champion, challenger = comparison["champion"], comparison["challenger"]
        found = []
        limit = champion["winkler"] * (1 + self.interval_score_tolerance)
        if challenger["winkler"] > limit:
            found.append(
                f"interval score {challenger['winkler']:.3f} > {limit:.3f} (the champion's "
                f"{champion['winkler']:.3f} + {self.interval_score_tolerance:.1%})"
            )
        limit = champion["rel_mae"] + self.rel_mae_tolerance
        if challenger["rel_mae"] > limit:
            found.append(
                f"relative MAE {challenger['rel_mae']:.4f} > {limit:.4f} (the champion's "
                f"{champion['rel_mae']:.4f} + {self.rel_mae_tolerance})"
            )
        return found


def learned_until(forecaster: Forecaster) -> pd.Timestamp:
    """The last row any part of the model learned from (older artifacts name it differently)."""
    dates = [forecaster.info[key] for key in ("trained_until", "calibrated_until")]
    return max(_naive(pd.Timestamp(date)) for date in dates if date)


def compare(
    champion: Forecaster,
    challenger: Forecaster,
    frame: pd.DataFrame,
    last_days: int,
    upload_rows: int,
) -> dict[str, Any]:
    """Both held-out models scored on the last `last_days` rows that neither learned from."""
    if (champion.horizon, champion.calibration.level) != (
        challenger.horizon,
        challenger.calibration.level,
    ):
        raise LifecycleError(
            "champion and challenger forecast different horizons or band levels "
            f"({champion.horizon}, {champion.calibration.level} against {challenger.horizon}, "
            f"{challenger.calibration.level}); their scores do not compare"
        )
    horizon = challenger.horizon
    dates = frame["Date"].map(lambda ts: _naive(pd.Timestamp(ts)))
    cutoff = max(learned_until(champion), learned_until(challenger))
    unseen = int((dates > cutoff).sum())  # the rows are in date order: these are the last ones
    # every step's target must be unseen, so an H-step forecast needs H - 1 more such rows
    days = max(min(last_days, unseen - (horizon - 1)), 0)
    comparison: dict[str, Any] = {"days": days, "unseen_after": str(cutoff.date())}
    if days == 0:
        return comparison
    origins = scored_origins(len(frame), days, horizon, challenger.min_rows)
    closes = frame["Close"].to_numpy(np.float64)
    last_close = closes[origins]  # [n]
    actual = closes[origins[:, None] + np.arange(1, horizon + 1)]  # [n, H]
    naive_mae = float(np.mean(np.abs(last_close[:, None] - actual)))
    for role, model in (("champion", champion), ("challenger", challenger)):
        band = Band(role, model.calibration.level, *served_band(model, frame, origins, upload_rows))
        comparison[role] = score_method(last_close, actual, band, naive_mae)
    comparison["first_day"] = str(dates.iloc[origins[0] + horizon].date())
    comparison["last_day"] = str(dates.iloc[origins[-1] + horizon].date())
    return comparison


def print_decision(decision: dict[str, Any]) -> None:
    """Both models' figures side by side, the rule's margins and the verdict."""
    comparison = decision["comparison"]
    title = f"champion {decision['champion']} against challenger {decision['challenger']}"
    if comparison["days"]:
        title += (
            f": held-out twins on {comparison['days']} days "
            f"{comparison['first_day']} .. {comparison['last_day']}"
        )
    table = Table(title=title)
    for column in ("", "champion", "challenger"):
        table.add_column(column, justify="right" if column else "left")
    if "challenger" in comparison:
        for key, label, fmt in ROWS:
            table.add_row(
                label,
                fmt.format(comparison["champion"][key]),
                fmt.format(comparison["challenger"][key]),
            )
    for key, label in (("trained_until", "served: learned until"), ("serves", "served at")):
        table.add_row(label, str(decision[key]["champion"]), str(decision[key]["challenger"]))
    console = Console(width=140)
    console.print(table)
    if decision["promoted"]:
        console.print(f"promoted: {decision['challenger']} is the default now ({decision['rule']})")
    else:
        console.print(f"kept {decision['champion']}: " + "; ".join(decision["objections"]))


def _naive(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_localize(None) if ts.tz is not None else ts
