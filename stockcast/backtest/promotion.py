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

Both checks run on every training ticker alone and on all of them pooled: the pooled series is
each date's loss in units of its ticker's naive MAE, averaged over the tickers scored that date
(one scale-free series, so a gain too small to show on one ticker can show on all, and a
high-priced ticker does not outweigh the rest). The Diebold-Mariano tests of one decision (two
losses, pooled and per ticker) are Holm-adjusted together: more tickers are more chances for a
false objection, and Holm keeps that chance at the stated level.

A champion can have no days to be judged on: one packaged without a held-out twin (trained on
every row) has learned every day there is, and offline the prices do not grow. Waiting for days
would keep it forever, so such a decision is made against the fixed reference alone, on the days
the challenger's twin did not learn from; the decision says so (`basis`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from scipy.stats import t as student_t

from stockcast.backtest.walk_forward import scored_origins, served_band
from stockcast.errors import LifecycleError
from stockcast.evaluation.comparison import (
    diebold_mariano,
    holm_adjusted,
    interval_score,
    score_method,
)
from stockcast.evaluation.references import MIN_GARCH_RETURNS, Band, garch_band
from stockcast.model.forecaster import Forecaster

REFERENCE = "garch"  # the fixed reference's key in a comparison
# the rule's version, recorded with each decision: it changes whenever what promotes changes
RULE_VERSION = 2  # 2: every training ticker, pooled and each, Holm; the stall decides
DECISION_RESULTS = "retrain-decision"  # the results name of a stamped decision.json
POOLED = "pooled"  # the scope of every ticker's days together
CHAMPION_BASIS, REFERENCE_BASIS = "champion and reference", "reference only"


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
        """Why the challenger may not be promoted; empty when it passes.

        `comparison` is `compare`'s (pooled figures at the top, each ticker's under "tickers")
        or one ticker's figures alone (`scored`'s, with "days")."""
        if comparison["days"] < self.min_days:
            return [
                f"only {comparison['days']} day(s) that neither held-out model learned from "
                f"(need lifecycle.min_days={self.min_days})"
            ]
        scopes = judged_scopes(comparison, self.min_days)
        found = []
        if "champion" in comparison:
            found += self._against_champion(scopes)
        for scope, judged in scopes.items():
            found += self._against_reference(judged, scope)
        return found

    def tests(self, comparison: dict[str, Any]) -> dict[str, dict[str, float]]:
        """The one-sided Diebold-Mariano tests against the champion, by "<scope>/<loss>", each
        with its p-value and its Holm-adjusted one (what the decision records)."""
        if "champion" not in comparison or comparison["days"] < self.min_days:
            return {}
        return holm_adjusted(
            {
                key: {"p_value": p}
                for key, (p, _) in self._champion_tests(
                    judged_scopes(comparison, self.min_days)
                ).items()
            }
        )

    def _champion_tests(self, scopes: dict[str, dict[str, Any]]) -> dict[str, tuple[float, str]]:
        """Each scope's two tests, the tolerances as floors: (p-value, what it would object)."""
        tests = {}
        for scope, judged in scopes.items():
            champion, challenger = judged["champion"], judged["challenger"]
            daily, horizon = judged["daily"], judged["horizon"]
            # interval score: the challenger's against the champion's times (1 + tolerance)
            allowed = np.asarray(daily["champion"]["winkler"]) * (1 + self.interval_score_tolerance)
            tests[f"{scope}/winkler"] = (
                worse_p_value(daily["challenger"]["winkler"], allowed, horizon),
                f"interval score {challenger['winkler']:.3f} significantly above the champion's "
                f"{champion['winkler']:.3f} + {self.interval_score_tolerance:.1%}",
            )
            # relative MAE: the absolute errors against the champion's + tolerance x naive MAE
            allowed = np.asarray(daily["champion"]["abs_error"]) + (
                self.rel_mae_tolerance * judged["naive_mae"]
            )
            tests[f"{scope}/rel_mae"] = (
                worse_p_value(daily["challenger"]["abs_error"], allowed, horizon),
                f"relative MAE {challenger['rel_mae']:.4f} significantly above the champion's "
                f"{champion['rel_mae']:.4f} + {self.rel_mae_tolerance}",
            )
        return tests

    def _against_champion(self, scopes: dict[str, dict[str, Any]]) -> list[str]:
        """The tests' objections, Holm-adjusted across all of them."""
        tests = self._champion_tests(scopes)
        adjusted = holm_adjusted({key: {"p_value": p} for key, (p, _) in tests.items()})
        found = []
        for key, test in adjusted.items():
            if test["p_holm"] < self.significance:
                scope = key.rsplit("/", 1)[0]
                where = f" {scope_label(scope)}" if len(scopes) > 1 or scope != POOLED else ""
                found.append(
                    f"{tests[key][1]}{where} (one-sided Diebold-Mariano p = "
                    f"{test['p_value']:.3g}, Holm-adjusted over {len(tests)} tests "
                    f"{test['p_holm']:.3g} < {self.significance})"
                )
        return found

    def _against_reference(self, judged: dict[str, Any], scope: str) -> list[str]:
        where = f" {scope_label(scope)}" if scope != POOLED or "tickers" in judged else ""
        reference = judged.get(REFERENCE)
        if reference is None:
            return [
                f"no GARCH(1,1)-t reference{where}: it needs {MIN_GARCH_RETURNS} returns before "
                "the first compared day"
            ]
        challenger = judged["challenger"]
        limit = reference["winkler"] * (1 + self.reference_margin)
        if challenger["winkler"] <= limit:
            return []
        return [
            f"interval score {challenger['winkler']:.3f} > {limit:.3f}{where} (the GARCH(1,1)-t "
            f"reference's {reference['winkler']:.3f} + {self.reference_margin:.1%} on the same "
            "days)"
        ]

    def statement(self) -> str:
        """The rule in one line, for the decision."""
        return (
            f"on >= {self.min_days} days, pooled over the training tickers and on each: interval "
            f"score and relative MAE not significantly above the champion's + "
            f"{self.interval_score_tolerance:.1%} and + {self.rel_mae_tolerance} (one-sided "
            f"Diebold-Mariano, Holm-adjusted, at {self.significance}), interval score at most "
            f"{self.reference_margin:.1%} above the GARCH(1,1)-t reference's; a champion with "
            "no such days: the reference alone, on the challenger's unseen days"
        )


def judged_scopes(comparison: dict[str, Any], min_days: int) -> dict[str, dict[str, Any]]:
    """The scopes a decision tests: the pooled figures, and each ticker with enough days when
    there is more than one ticker (with one, it is the pooled scope already)."""
    tickers = comparison.get("tickers", {})
    scopes = {POOLED: comparison}
    if len(tickers) > 1:
        scopes |= {t: c for t, c in tickers.items() if c["days"] >= min_days}
    return scopes


def scope_label(scope: str) -> str:
    return "pooled over the tickers" if scope == POOLED else f"on {scope}"


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
    frames: Mapping[str, pd.DataFrame],
    last_days: int,
    upload_rows: int,
    min_days: int = 1,
) -> dict[str, Any]:
    """Both held-out models scored on each ticker's last `last_days` rows that neither learned
    from, with the fixed reference on the same days: each ticker's figures under "tickers", the
    pooled ones (`pooled`) at the top. With fewer than `min_days` such days pooled (a champion
    that learned every row), the challenger alone against the reference on its own unseen days
    (module docstring); "basis" says which."""
    if (champion.horizon, champion.calibration.level) != (
        challenger.horizon,
        challenger.calibration.level,
    ):
        raise LifecycleError(
            "champion and challenger forecast different horizons or band levels "
            f"({champion.horizon}, {champion.calibration.level} against {challenger.horizon}, "
            f"{challenger.calibration.level}); their scores do not compare"
        )
    both = {"champion": champion, "challenger": challenger}
    tickers = {t: compare_ticker(both, f, last_days, upload_rows) for t, f in frames.items()}
    comparison = {"basis": CHAMPION_BASIS, **pooled(tickers), "tickers": tickers}
    if comparison["days"] >= min_days:
        return comparison
    alone = {"challenger": challenger}
    tickers = {t: compare_ticker(alone, f, last_days, upload_rows) for t, f in frames.items()}
    stalled = {"days": comparison["days"], "unseen_after": comparison["unseen_after"]}
    return {"basis": REFERENCE_BASIS, "stalled": stalled, **pooled(tickers), "tickers": tickers}


def compare_ticker(
    models: Mapping[str, Forecaster], frame: pd.DataFrame, last_days: int, upload_rows: int
) -> dict[str, Any]:
    """Each held-out model (by role) and the reference scored on the last `last_days` rows of
    one ticker that none of the models learned from; "daily" holds each day's losses and dates."""
    model = next(iter(models.values()))
    horizon = model.horizon
    dates = frame["Date"].map(lambda ts: _naive(pd.Timestamp(ts)))
    cutoff = max(learned_until(m) for m in models.values())
    unseen = int((dates > cutoff).sum())  # the rows are in date order: these are the last ones
    # every step's target must be unseen, so an H-step forecast needs H - 1 more such rows
    days = max(min(last_days, unseen - (horizon - 1)), 0)
    comparison: dict[str, Any] = {"days": days, "unseen_after": str(cutoff.date())}
    if days == 0:
        return comparison
    origins = scored_origins(len(frame), days, horizon, model.min_rows)
    closes = frame["Close"].to_numpy(np.float64)
    last_close = closes[origins]  # [n]
    actual = closes[origins[:, None] + np.arange(1, horizon + 1)]  # [n, H]
    level = model.calibration.level
    bands = {
        role: Band(role, level, *served_band(m, frame, origins, upload_rows))
        for role, m in models.items()
    }
    if origins[0] >= MIN_GARCH_RETURNS:  # fit on the returns before each day only
        bands[REFERENCE] = garch_band(closes, origins, horizon, level)
    comparison.update(scored(last_close, actual, bands))
    # each forecast is dated by its first target day, the day its loss is first known
    comparison["daily"]["date"] = [str(dates.iloc[i + 1].date()) for i in origins]
    comparison["first_day"] = str(dates.iloc[origins[0] + horizon].date())
    comparison["last_day"] = str(dates.iloc[origins[-1] + horizon].date())
    return comparison


def pooled(tickers: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The tickers' figures as one series (module docstring): each day's interval score and
    absolute error in units of its ticker's naive MAE, averaged over the tickers scored that
    date. The roles' interval score and relative MAE are that series' means; coverage and width
    are means over every ticker's days. A role (the reference) missing on any ticker is left out."""
    judged = {t: c for t, c in tickers.items() if c["days"]}
    unseen_after = max((c["unseen_after"] for c in tickers.values()), default="")
    if not judged:
        return {"days": 0, "unseen_after": unseen_after}
    roles = [r for r in next(iter(judged.values()))["daily"] if r != "date"]
    roles = [r for r in roles if all(r in c["daily"] for c in judged.values())]
    found: dict[str, Any] = {
        "unseen_after": unseen_after,
        "horizon": next(iter(judged.values()))["horizon"],
        "naive_mae": 1.0,  # the unit of the pooled losses
        "daily": {},
    }
    n = {t: c["days"] for t, c in judged.items()}
    for role in roles:
        series = {
            metric: pd.DataFrame(
                {
                    t: pd.Series(
                        np.asarray(c["daily"][role][metric]) / c["naive_mae"],
                        index=c["daily"]["date"],
                    )
                    for t, c in judged.items()
                }
            ).mean(axis=1)  # by date, over the tickers scored that date
            for metric in ("winkler", "abs_error")
        }
        found["daily"][role] = {metric: values.tolist() for metric, values in series.items()}
        found["daily"].setdefault("date", series["winkler"].index.tolist())
        found[role] = {
            "n": int(series["winkler"].size),
            "winkler": float(series["winkler"].mean()),
            "rel_mae": float(series["abs_error"].mean()),
            **{
                key: sum(judged[t][role][key] * n[t] for t in judged) / sum(n.values())
                for key in ("coverage", "mean_width")
            },
        }
    found["days"] = len(found["daily"]["date"])
    found["first_day"] = min(c["first_day"] for c in judged.values())
    found["last_day"] = max(c["last_day"] for c in judged.values())
    return found


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


def decision_rows(comparison: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The decision table: a row per scope (pooled, then each ticker) with its days, each
    role's interval score (pooled: in units of the naive MAE; a ticker: in price units) and
    coverage, and the challenger's interval score over the champion's and the reference's."""
    roles = [r for r in ("champion", "challenger", REFERENCE) if r in comparison]
    names = {"champion": "champion", "challenger": "challenger", REFERENCE: "GARCH(1,1)-t"}
    header = ["", "days", *(f"{names[r]} interval score" for r in roles)]
    header += [f"{names[r]} coverage" for r in roles if r != REFERENCE]
    header += [f"challenger / {names[r]}" for r in roles if r != "challenger"]
    rows = []
    scopes = {POOLED: comparison, **comparison.get("tickers", {})}
    for scope, judged in scopes.items():
        label = "pooled (per naive MAE)" if scope == POOLED else scope
        if not judged.get("days"):
            rows.append([label, "0"] + [""] * (len(header) - 2))
            continue
        row = [label, str(judged["days"])]
        row += [f"{judged[r]['winkler']:.3f}" if r in judged else "" for r in roles]
        row += [f"{judged[r]['coverage']:.3f}" for r in roles if r != REFERENCE]
        for role in roles:
            if role != "challenger":
                base = judged.get(role, {}).get("winkler")
                ratio = judged["challenger"]["winkler"] / base if base else None
                row.append(f"{ratio:.3f}" if ratio is not None else "")
        rows.append(row)
    return header, rows


def decision_markdown(decision: dict[str, Any]) -> str:
    """The decision as the docs show it: the table, the verdict and the rule."""
    header, rows = decision_rows(decision["comparison"])
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    comparison = decision["comparison"]
    verdict = (
        f"**promoted**: {decision['challenger']} replaced {decision['champion']}"
        if decision["promoted"]
        else f"**kept** {decision['champion']}: " + "; ".join(decision["objections"])
    )
    lines += [
        "",
        f"Champion {decision['champion']} against challenger {decision['challenger']}, "
        f"judged on {comparison['basis']} over {comparison.get('first_day', '')} .. "
        f"{comparison.get('last_day', '')}. {verdict}.",
        "",
        f"Rule: {decision['rule']}.",
    ]
    return "\n".join(lines)


def print_decision(decision: dict[str, Any]) -> None:
    """The decision table (`decision_rows`), the verdict and, when judged on the reference
    alone, why."""
    comparison = decision["comparison"]
    title = f"champion {decision['champion']} against challenger {decision['challenger']}"
    if comparison["days"]:
        title += (
            f": held-out twins on {comparison['days']} days "
            f"{comparison['first_day']} .. {comparison['last_day']}"
        )
    header, rows = decision_rows(comparison)
    table = Table(title=title)
    for column in header:
        table.add_column(column, justify="right" if column else "left")
    for row in rows:
        table.add_row(*row)
    console = Console(width=160)
    console.print(table)
    if comparison["basis"] == REFERENCE_BASIS:
        stalled = comparison["stalled"]
        console.print(
            f"the champion's held-out model learned every day up to {stalled['unseen_after']} "
            f"({stalled['days']} day(s) unseen by both): judged against the reference alone"
        )
    for key, label in (("trained_until", "learned until"), ("serves", "served at")):
        console.print(f"{label}: " + ", ".join(f"{r} {v}" for r, v in decision[key].items()))
    if decision["promoted"]:
        console.print(f"promoted: {decision['challenger']} is the default now ({decision['rule']})")
    else:
        console.print(f"kept {decision['champion']}: " + "; ".join(decision["objections"]))


def _naive(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_localize(None) if ts.tz is not None else ts
