"""Print a Markdown table of the test metrics of every run under a directory (a sweep, say).

    python scripts/summarize_runs.py outputs/train/multiruns/<time>

Runs are listed in numeric order (0, 1, 2, ..., 10); runs that failed or never finished (their
run.json) are listed after the table with their reason. A path that is not a directory is an
error: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

from stockcast.app.run_record import COMPLETE, RUN_RECORD, RunRecord

COLUMNS = (
    ("test/mae", "MAE $", "{:.3f}"),
    ("test/naive_mae", "naive MAE $", "{:.3f}"),
    ("test/rel_mae", "rel. MAE", "{:.4f}"),
    ("test/rmse", "RMSE $", "{:.3f}"),
    ("test/naive_rmse", "naive RMSE $", "{:.3f}"),
    ("test/mape", "MAPE %", "{:.3f}"),
    ("test/directional_accuracy", "direction", "{:.3f}"),
    ("test/up_share", "always-up", "{:.3f}"),
    ("test/interval_coverage", "80% coverage", "{:.3f}"),
    ("calibration/shrink", "shrink", "{:.2f}"),
)


def natural_key(path: Path) -> list[int | str]:
    """'10' after '9', and 'run_2' before 'run_10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def overrides(run_dir: Path) -> str:
    path = run_dir / ".hydra" / "overrides.yaml"
    return " ".join(yaml.safe_load(path.read_text()) or []) if path.exists() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "root", type=Path, nargs="?", default=Path("outputs"), help="default: outputs"
    )
    root = parser.parse_args(argv).root
    if not root.is_dir():
        print(f"error: {root} is not a directory (pass a sweep or run directory)", file=sys.stderr)
        return 2
    finished = sorted((p.parent for p in root.rglob("metrics.json")), key=natural_key)
    unfinished = sorted(
        (p.parent for p in root.rglob(RUN_RECORD) if not (p.parent / "metrics.json").exists()),
        key=natural_key,
    )
    if not finished and not unfinished:
        print(f"error: no runs under {root} (no metrics.json nor {RUN_RECORD})", file=sys.stderr)
        return 2
    print("| run | overrides | " + " | ".join(label for _, label, _ in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for run_dir in finished:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        cells = [fmt.format(metrics[key]) if key in metrics else "" for key, _, fmt in COLUMNS]
        name = run_dir.relative_to(root) if run_dir != root else run_dir.name
        print(f"| {name} | {overrides(run_dir)} | " + " | ".join(cells) + " |")
    for run_dir in unfinished:
        record = RunRecord.read(run_dir)
        if record is not None and record.status != COMPLETE:
            reason = f": {record.error}" if record.error else " (killed, or still running)"
            name = " ".join(filter(None, (str(run_dir.relative_to(root)), overrides(run_dir))))
            print(f"\n{name}: {record.status}{reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
