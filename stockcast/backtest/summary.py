"""One table across the jobs of a backtest sweep (`python backtest.py -m data.ticker=...`).

A Hydra callback: when the multirun ends it reads every job's backtest.json under the sweep
directory and prints, and writes as summary.md, coverage, interval score and relative MAE per
ticker and method, with the model's interval score relative to GARCH's. summary.json holds the
same reports with the sweep's stamp (stockcast/app/stamp.py), named for what the sweep measured,
so `make results` can render the table into the docs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from stockcast.app.stamp import load_average, write_stamped


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


def sweep_name(reports: list[dict[str, Any]]) -> str:
    """What a sweep measured: one model per ticker, each ticker scored by a model that never saw
    it (leave-one-out), or something else."""
    if all(report["trained_on"] == [report["ticker"]] for report in reports):
        return "walk-forward-per-ticker"
    if all(report["ticker"] not in report["trained_on"] for report in reports):
        return "walk-forward-leave-one-out"
    return "walk-forward"


class SweepSummary(Callback):
    """Print and write the cross-ticker table once every job of the sweep has finished."""

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
        table = summary_table(reports)
        (sweep_dir / "summary.md").write_text(table + "\n")
        reports = [
            {k: v for k, v in report.items() if k not in ("name", "stamp")} for report in reports
        ]
        write_stamped(
            sweep_dir / "summary.json", sweep_name(reports), {"reports": reports}, self.load_before
        )
        print(f"\n{table}\n\n(written to {sweep_dir / 'summary.md'})")
