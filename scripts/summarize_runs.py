"""Print a Markdown table of the test metrics of every run under a directory (a sweep, say).

python scripts/summarize_runs.py outputs/train/multiruns/<time>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

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


def main(root: str) -> None:
    runs = sorted(Path(root).rglob("metrics.json"))
    print("| run | overrides | " + " | ".join(label for _, label, _ in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for path in runs:
        metrics = json.loads(path.read_text())
        overrides_file = path.parent / ".hydra" / "overrides.yaml"
        overrides = (
            " ".join(yaml.safe_load(overrides_file.read_text()) or [])
            if overrides_file.exists()
            else ""
        )
        cells = [fmt.format(metrics[key]) for key, _, fmt in COLUMNS]
        print(f"| {path.parent.name} | {overrides} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "outputs")
