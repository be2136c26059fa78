"""Print Markdown tables of every run under a directory: a training or backtest sweep, say.

    python scripts/summarize_runs.py outputs/train/multiruns/<time>
    python scripts/summarize_runs.py outputs/backtest/multiruns/<time>
    python scripts/summarize_runs.py outputs/dev/sweep --json outputs/results/development-sweep.json

Training runs (train.py, their metrics.json) get one table of test figures; backtest runs
(backtest.py, their backtest.json) one table of every method's walk-forward figures, as the
backtest sweep prints at its end. Runs are listed in numeric order (0, 1, 2, ..., 10); what a run
holds inside it (a refit, a backtest's folds) is part of that run, not a run of its own. A figure
a run has none of (the direction of a model that serves the naive forecast) shows as n/a. Runs
that failed or never finished (their run.json) are listed after the tables with their reason. A
path that is not a directory, or holds no runs, is an error: one line, exit status 2. `--json`
also writes the training table's figures, stamped, as the results `development-sweep` (what the
docs render the choice of the network's settings from).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from stockcast.app.run_record import COMPLETE, RUN_RECORD, RunRecord
from stockcast.app.script import run_script
from stockcast.app.stamp import load_average, write_stamped
from stockcast.backtest.summary import summary_table
from stockcast.errors import StockcastError
from stockcast.training.summary import METRICS, name, overrides, training_rows, training_table

BACKTEST = "backtest.json"


def natural_key(path: Path) -> list[int | str]:
    """'10' after '9', and 'run_2' before 'run_10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_runs(root: Path) -> list[Path]:
    """Every directory holding a run's record or results, minus those inside another run."""
    found = {p.parent for name in (METRICS, BACKTEST, RUN_RECORD) for p in root.rglob(name)}
    return sorted(
        (run for run in found if not any(parent in found for parent in run.parents)),
        key=natural_key,
    )


def backtest_table(root: Path, runs: list[Path]) -> list[str]:
    """The backtest sweep's own table (stockcast/backtest/summary.py), a run column in front."""
    reports = [json.loads((run_dir / BACKTEST).read_text()) for run_dir in runs]
    header = summary_table([]).splitlines()
    lines = ["| run | overrides " + header[0], "|---|---" + header[1]]
    for run_dir, report in zip(runs, reports, strict=True):
        for row in summary_table([report]).splitlines()[2:]:
            lines.append(f"| {name(root, run_dir)} | {overrides(run_dir)} " + row)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "root", type=Path, nargs="?", default=Path("outputs"), help="default: outputs"
    )
    parser.add_argument("--json", type=Path, help="also write the training table, stamped, here")
    args = parser.parse_args(argv)
    root, load_before = args.root, load_average()
    if not root.is_dir():
        raise StockcastError(f"{root} is not a directory (pass a sweep or run directory)")
    runs = find_runs(root)
    if not runs:
        raise StockcastError(f"no runs under {root} (no {METRICS}, {BACKTEST} nor {RUN_RECORD})")
    trained = [run for run in runs if (run / METRICS).exists()]
    backtested = [run for run in runs if (run / BACKTEST).exists()]
    tables = []
    if trained:
        rows = training_rows(root, trained)
        tables.append(training_table(rows))
        if args.json:
            write_stamped(args.json, "development-sweep", {"runs": rows}, load_before)
    if backtested:
        tables.append(backtest_table(root, backtested))
    print("\n\n".join("\n".join(table) for table in tables))
    for run_dir in runs:
        if run_dir in trained or run_dir in backtested:
            continue
        record = RunRecord.read(run_dir)
        if record is not None and record.status != COMPLETE:
            reason = f": {record.error}" if record.error else " (killed, or still running)"
            label = " ".join(filter(None, (name(root, run_dir), overrides(run_dir))))
            print(f"\n{label}: {record.status}{reason}")
    return 0


if __name__ == "__main__":
    run_script(main)
