"""One table across the jobs of a backtest sweep (`python backtest.py -m data.ticker=...`).

A Hydra callback: when the multirun ends it reads every job's backtest.json under the sweep
directory and prints, and writes as summary.md, coverage, interval score and relative MAE per
ticker and method, with the model's interval score relative to GARCH's; then whether the network
earns its keep: per ticker and pooled across tickers, the model's coverage, relative MAE and
interval score relative to GARCH, HAR and its own band without the network, with Holm-adjusted
Diebold-Mariano p-values. The pooled test averages each day's relative loss difference over the
tickers scored that day (`pooled_tests`): one series, so a gain too small to show on one ticker
can show on four. summary.json holds the same reports (without their per-day series) and the
pooled figures with the sweep's stamp (stockcast/app/stamp.py), named for what the sweep measured,
so `make results` can render the table into the docs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from stockcast.app.stamp import load_average, write_stamped
from stockcast.evaluation.comparison import diebold_mariano, holm_adjusted
from stockcast.evaluation.references import INTERVAL_REFERENCES

# the references the network-earns-its-keep table compares with, and their column labels
VERSUS = {"garch": "GARCH", "no_network": "no network", "har": "HAR"}


def summary_table(reports: list[dict[str, Any]]) -> str:
    """Markdown: a row per (ticker, method)."""
    lines = [
        "| ticker | days | method | coverage | interval score | vs GARCH | rel. MAE | direction |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for report in reports:
        methods = report["methods"]
        garch = methods.get("garch", {}).get("winkler")
        for name, scores in methods.items():
            ratio = f"{scores['winkler'] / garch:.3f}" if garch else ""
            direction = scores.get("directional_accuracy")
            lines.append(
                f"| {report['ticker']} | {report['days']} | {name} | {scores['coverage']:.3f} | "
                f"{scores['winkler']:.3f} | {ratio} | {scores['rel_mae']:.4f} | "
                f"{'n/a' if direction is None else f'{direction:.3f}'} |"
            )
    return "\n".join(lines)


def versus(report: dict[str, Any]) -> dict[str, float]:
    """The model's interval score over each reference's on the report's days (price units)."""
    methods = report["methods"]
    model = methods.get("model", {}).get("winkler")
    if model is None:
        return {}
    return {
        name: model / scores["winkler"]
        for name, scores in methods.items()
        if name != "model" and scores.get("winkler")
    }


def pooled_tests(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The model against each reference across every ticker of the sweep.

    Per reference: each ticker's per-day relative interval score difference (model minus
    reference, each divided by that day's last close, so tickers of any price weigh alike), the
    mean over the tickers scored on each date, and one Diebold-Mariano test on that series of
    dates (`days` of them, from `tickers` tickers), with `ratio` the model's mean relative
    interval score over the reference's on the same (ticker, day) pairs. Holm's `p_holm` is
    adjusted across these pooled tests. `model` holds the model's coverage and relative MAE
    averaged over the tickers, weighted by their days. Empty when no report has the model's
    per-day losses.
    """
    daily = [
        (report, report["daily"]["relative_interval_score"])
        for report in reports
        if "model" in report.get("daily", {}).get("relative_interval_score", {})
    ]
    if not daily:
        return {}
    tests = {}
    for reference in INTERVAL_REFERENCES:
        pairs = [
            pd.DataFrame(
                {"model": losses["model"], "reference": losses[reference]},
                index=pd.to_datetime(report["daily"]["dates"]),
            )
            for report, losses in daily
            if reference in losses
        ]
        if not pairs:
            continue
        difference = pd.concat(
            [pair["model"] - pair["reference"] for pair in pairs], axis=1
        )  # [dates, tickers], NaN where a ticker was not scored that day
        by_date = difference.mean(axis=1).sort_index()  # [dates]
        stacked = pd.concat(pairs)
        tests[f"model_vs_{reference}_interval_score"] = {
            **diebold_mariano(
                by_date.to_numpy(), np.zeros(len(by_date)), int(daily[0][0]["horizon"])
            ),
            "days": len(by_date),
            "tickers": len(pairs),
            "ratio": float(stacked["model"].mean() / stacked["reference"].mean()),
        }
    scored = [report["methods"]["model"] | {"days": report["days"]} for report, _ in daily]
    weights = [scores["days"] for scores in scored]
    return {
        "tickers": [report["ticker"] for report, _ in daily],
        "model": {
            key: float(np.average([scores[key] for scores in scored], weights=weights))
            for key in ("coverage", "rel_mae")
        },
        "tests": holm_adjusted(tests),
    }


def keep_table(reports: list[dict[str, Any]], pooled: dict[str, Any]) -> str:
    """Markdown: does the network earn its keep? A row per ticker and one pooled: the model's
    coverage, relative MAE, interval score over GARCH's, its own band's without the network and
    HAR's, and the Holm-adjusted Diebold-Mariano p-value of each of those interval score tests.
    Empty when no job scored the model."""
    with_model = [report for report in reports if "model" in report["methods"]]
    if not with_model:
        return ""
    header = ["ticker", "days", "coverage", "rel. MAE"]
    header += [f"vs {label}" for label in VERSUS.values()]
    header += [f"Holm p vs {label}" for label in VERSUS.values()]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for report in with_model:
        model, ratios = report["methods"]["model"], versus(report)
        holm = {
            name: report["tests"].get(f"model_vs_{name}_interval_score", {}).get("p_holm")
            for name in VERSUS
        }
        lines.append(
            _keep_row(report["ticker"], report["days"], model, ratios, holm),
        )
    if pooled:
        tests = pooled["tests"]
        found = {name: tests.get(f"model_vs_{name}_interval_score", {}) for name in VERSUS}
        days = max((test.get("days", 0) for test in tests.values()), default=0)
        lines.append(
            _keep_row(
                "pooled",
                days,
                pooled["model"],
                {name: test.get("ratio") for name, test in found.items()},
                {name: test.get("p_holm") for name, test in found.items()},
            )
        )
    return "\n".join(lines)


def _keep_row(
    ticker: str,
    days: int,
    model: dict[str, float],
    ratios: dict[str, float | None],
    holm: dict[str, float | None],
) -> str:
    cells = [ticker, str(days), f"{model['coverage']:.3f}", f"{model['rel_mae']:.4f}"]
    cells += [_figure(ratios.get(name), "{:.3f}") for name in VERSUS]
    cells += [_figure(holm.get(name), "{:.3f}") for name in VERSUS]
    return "| " + " | ".join(cells) + " |"


def _figure(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def recent_reports(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each job's scores on its most recent days (`backtest.recent_days`), labelled like the
    job's own report; empty when the jobs scored no more days than that."""
    keep = ("ticker", "trained_on", "horizon", "level")
    return [
        report["recent"] | {key: report[key] for key in keep if key in report}
        for report in reports
        if "recent" in report
    ]


def summary_markdown(
    reports: list[dict[str, Any]],
    pooled: dict[str, Any],
    recent: list[dict[str, Any]] | None = None,
    recent_pooled: dict[str, Any] | None = None,
) -> str:
    """summary.md: the per-method table, then the network-earns-its-keep table under it, and
    the same for the most recent days when the jobs scored more."""
    keep = keep_table(reports, pooled)
    if not keep:
        return summary_table(reports)
    if recent:
        keep += (
            f"\n\nThe same on the most recent {recent[0]['days']} of those days:\n\n"
            + keep_table(recent, recent_pooled or {})
        )
    note = (
        "The model against its references: interval score over each one's (per ticker in "
        "price units; pooled, over every ticker's days relative to their last close) and "
        "Diebold-Mariano p-values, Holm-adjusted across the ticker's tests or across the "
        "pooled ones (the pooled test averages each date's loss difference over the tickers "
        "scored that day)."
    )
    return f"{summary_table(reports)}\n\n{note}\n\n{keep}"


def compact(report: dict[str, Any]) -> dict[str, Any]:
    """A job's report for summary.json: its figures without the per-day series (they stay in
    its backtest.json), with the model's ratios to each reference."""
    kept = {k: v for k, v in report.items() if k not in ("name", "stamp", "daily", "recent")}
    if "model" in report["methods"]:
        kept["versus"] = versus(report)
    if "recent" in report:
        kept["recent"] = compact(report["recent"] | {"methods": report["recent"]["methods"]})
    return kept


def sweep_name(reports: list[dict[str, Any]]) -> str:
    """What a sweep measured: one model per ticker, one global model trained on every scored
    ticker, each ticker scored by a model that never saw it (leave-one-out), or something else."""
    if all(report["trained_on"] == [report["ticker"]] for report in reports):
        return "walk-forward-per-ticker"
    scored = sorted(report["ticker"] for report in reports)
    if len(scored) > 1 and all(sorted(report["trained_on"]) == scored for report in reports):
        return "walk-forward-global"
    if all(report["ticker"] not in report["trained_on"] for report in reports):
        return "walk-forward-leave-one-out"
    return "walk-forward"


class SweepSummary(Callback):
    """Print and write the cross-ticker tables once every job of the sweep has finished."""

    def __init__(self) -> None:
        self.load_before = load_average()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.load_before = load_average()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = sorted(
            sweep_dir.glob("*/backtest.json"), key=lambda p: (len(p.parent.name), p.parent.name)
        )
        reports = [json.loads(p.read_text()) for p in jobs]
        if not reports:
            print(f"no backtest.json under {sweep_dir}: every job failed")
            return
        pooled = pooled_tests(reports)
        recent = recent_reports(reports)
        recent_pooled = pooled_tests(recent) if recent else {}
        table = summary_markdown(reports, pooled, recent, recent_pooled)
        (sweep_dir / "summary.md").write_text(table + "\n")
        # each job's per-day series stay in its backtest.json; the summary keeps the figures
        reports = [compact(report) for report in reports]
        write_stamped(
            sweep_dir / "summary.json",
            sweep_name(reports),
            {"reports": reports, "pooled": pooled}
            | ({"recent_pooled": recent_pooled} if recent else {}),
            self.load_before,
        )
        print(f"\n{table}\n\n(written to {sweep_dir / 'summary.md'})")
