"""One table across the jobs of a backtest sweep (`python backtest.py -m data.ticker=...`).

A Hydra callback: when the multirun ends it reads every job's backtest.json under the sweep
directory and prints, and writes as summary.md, coverage, interval score and relative MAE per
ticker and method, with the model's interval score relative to GARCH's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


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


class SweepSummary(Callback):
    """Print and write the cross-ticker table once every job of the sweep has finished."""

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
        print(f"\n{table}\n\n(written to {sweep_dir / 'summary.md'})")
