"""Champion against challenger: the days they are compared on, their scores, the rule that
decides, and the table that shows it.

A served version is a refit that learned from every row up to its data's end, so scoring it on
the most recent days would score it on rows it trained on. Each version is therefore judged by
its held-out twin (the evaluated run of the same recipe, which stopped learning before its test
split), on the most recent days that neither twin learned from. Both go through the walk-forward
backtest's code: each day's forecast is what the service answers for the year of rows up to it
(`served_band`), scored by `score_method` against the same naive forecast.

The rule cannot drift. A rule that only asks "not worse than the champion by more than a
tolerance" lets a run of challengers, each a little worse than the last, walk the served quality
down by that tolerance at every step. Two checks stop that:

- against the champion, a one-sided Diebold-Mariano test on the days' losses (interval score,
  and absolute error for the MAE), with the tolerance as a floor: the test asks whether the
  challenger's loss is significantly above the champion's plus the tolerance, so a difference
  inside the tolerance never objects, and one beyond it objects only when the days show it;
- against a fixed reference on the same days, the GARCH(1,1)-t band (`garch_band`, refit on the
  returns before each day only): the challenger's interval score may exceed the reference's by
  at most `reference_margin`. The reference does not move with promotions, so whatever sequence
  of challengers is promoted, the one served was within that margin of it when judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from scipy.stats import t as student_t

from stockcast.backtest.walk_forward import scored_origins, served_band
from stockcast.errors import LifecycleError
from stockcast.evaluation.comparison import diebold_mariano, interval_score, score_method
from stockcast.evaluation.references import MIN_GARCH_RETURNS, Band, garch_band
from stockcast.model.forecaster import Forecaster

ROWS = (  # (score key, label, format) of the decision table
    ("mae", "MAE", "{:.3f}"),
    ("rel_mae", "MAE relative to naive", "{:.4f}"),
    ("coverage", "band coverage", "{:.3f}"),
    ("mean_width", "band width (share of close)", "{:.4f}"),
    ("winkler", "interval score", "{:.3f}"),
)


REFERENCE = "garch"  # the fixed reference's key in a comparison


@dataclass(frozen=True)
class PromotionRule:
    """The challenger becomes the default only when, on the same held-out days and enough of
    them, it is not significantly worse than the champion beyond the tolerances and not worse
    than the fixed reference beyond its margin (module docstring)."""

    interval_score_tolerance: float  # the challenger's may exceed the champion's by this share
    rel_mae_tolerance: float  # the challenger's MAE relative to naive may exceed by this much
    min_days: int
    significance: float = 0.05  # one-sided level of the Diebold-Mariano tests
    reference_margin: float = 0.05  # interval score at most this share above the reference's

    def objections(self, comparison: dict[str, Any]) -> list[str]:
        """Why the challenger may not be promoted; empty when it passes."""
        if comparison["days"] < self.min_days:
            return [
                f"only {comparison['days']} day(s) that neither held-out model learned from "
                f"(need lifecycle.min_days={self.min_days})"
            ]
        champion, challenger = comparison["champion"], comparison["challenger"]
        daily = comparison["daily"]
        horizon = comparison["horizon"]
        found = []
        # interval score: challenger against the champion's scaled by (1 + tolerance)
        allowed = np.asarray(daily["champion"]["winkler"]) * (1 + self.interval_score_tolerance)
        p = worse_p_value(daily["challenger"]["winkler"], allowed, horizon)
        if p < self.significance:
            found.append(
                f"interval score {challenger['winkler']:.3f} significantly above the champion's "
                f"{champion['winkler']:.3f} + {self.interval_score_tolerance:.1%} (one-sided "
                f"Diebold-Mariano p = {p:.3g} < {self.significance})"
            )
        # relative MAE: the absolute errors against the champion's plus tolerance x naive MAE
        allowed = (
            np.asarray(daily["champion"]["abs_error"])
            + self.rel_mae_tolerance * (comparison["naive_mae"])
        )
        p = worse_p_value(daily["challenger"]["abs_error"], allowed, horizon)
        if p < self.significance:
            found.append(
                f"relative MAE {challenger['rel_mae']:.4f} significantly above the champion's "
                f"{champion['rel_mae']:.4f} + {self.rel_mae_tolerance} (one-sided "
                f"Diebold-Mariano p = {p:.3g} < {self.significance})"
            )
        reference = comparison.get(REFERENCE)
        if reference is None:
            found.append(
                f"no GARCH(1,1)-t reference: it needs {MIN_GARCH_RETURNS} returns before the "
                "first compared day"
            )
        else:
            limit = reference["winkler"] * (1 + self.reference_margin)
            if challenger["winkler"] > limit:
                found.append(
                    f"interval score {challenger['winkler']:.3f} > {limit:.3f} (the GARCH(1,1)-t "
                    f"reference's {reference['winkler']:.3f} + {self.reference_margin:.1%} on "
                    "the same days)"
                )
        return found

    def statement(self) -> str:
        """The rule in one line, for the decision."""
        return (
            f"on >= {self.min_days} days: interval score and relative MAE not significantly "
            f"above the champion's + {self.interval_score_tolerance:.1%} and + "
            f"{self.rel_mae_tolerance} (one-sided Diebold-Mariano at {self.significance}), "
            f"interval score at most {self.reference_margin:.1%} above the GARCH(1,1)-t "
            "reference's"
        )


def worse_p_value(challenger: Any, allowed: Any, horizon: int) -> float:
    """One-sided p-value of "the challenger's daily loss is above `allowed`" (Diebold-Mariano
    with the Harvey-Leybourne-Newbold correction, `diebold_mariano`); near 1 when it is below."""
    loss, bound = np.asarray(challenger, np.float64), np.asarray(allowed, np.float64)
    test = diebold_mariano(loss, bound, horizon)
    statistic = test["statistic"]
    if not np.isfinite(statistic):  # no variance: certain either way
        return 0.0 if statistic > 0 else 1.0
    return float(student_t.sf(statistic, df=loss.size - 1))


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
    level = challenger.calibration.level
    bands = {
        role: Band(role, level, *served_band(model, frame, origins, upload_rows))
        for role, model in (("champion", champion), ("challenger", challenger))
    }
    if origins[0] >= MIN_GARCH_RETURNS:  # fit on the returns before each day only
        bands[REFERENCE] = garch_band(closes, origins, horizon, level)
    comparison.update(scored(last_close, actual, bands))
    comparison["first_day"] = str(dates.iloc[origins[0] + horizon].date())
    comparison["last_day"] = str(dates.iloc[origins[-1] + horizon].date())
    return comparison


def scored(last_close: np.ndarray, actual: np.ndarray, bands: dict[str, Band]) -> dict[str, Any]:
    """What the rule reads: each band's scores (`score_method`) under its role, and the days'
    losses under "daily", against the naive forecast's MAE on the same days and steps.

    last_close: [n] the close at each origin. actual: [n, H] the closes each band targets.
    """
    naive_mae = float(np.mean(np.abs(last_close[:, None] - actual)))
    found: dict[str, Any] = {"horizon": actual.shape[1], "naive_mae": naive_mae, "daily": {}}
    for role, band in bands.items():
        found[role] = score_method(last_close, actual, band, naive_mae)
        found["daily"][role] = daily_losses(actual, band)
    return found


def daily_losses(actual: np.ndarray, band: Band) -> dict[str, list[float]]:
    """Each day's interval score and absolute error (means over the steps), the losses the
    rule's tests compare; lists, so the decision records them as JSON."""
    winkler = interval_score(actual, band.lower, band.upper, 1.0 - band.level)  # [n, H]
    abs_error = np.abs(band.point - actual)  # [n, H]
    return {
        "winkler": winkler.mean(axis=1).tolist(),
        "abs_error": abs_error.mean(axis=1).tolist(),
    }


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
    roles = ["champion", "challenger"] + ([REFERENCE] if REFERENCE in comparison else [])
    for column in ("", *roles):
        label = "GARCH(1,1)-t reference" if column == REFERENCE else column
        table.add_column(label, justify="right" if column else "left")
    if "challenger" in comparison:
        for key, label, fmt in ROWS:
            table.add_row(label, *(fmt.format(comparison[role][key]) for role in roles))
    for key, label in (("trained_until", "served: learned until"), ("serves", "served at")):
        table.add_row(label, *(str(decision[key].get(role, "")) for role in roles))
    console = Console(width=140)
    console.print(table)
    if decision["promoted"]:
        console.print(f"promoted: {decision['challenger']} is the default now ({decision['rule']})")
    else:
        console.print(f"kept {decision['champion']}: " + "; ".join(decision["objections"]))


def _naive(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_localize(None) if ts.tz is not None else ts
