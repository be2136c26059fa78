"""A table of training runs (a sweep's, say): their overrides beside the band's test figures."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

METRICS = "metrics.json"
COLUMNS = (
    ("test/mae", "MAE $", "{:.3f}"),
    ("test/rel_mae", "rel. MAE", "{:.4f}"),
    ("test/interval_coverage", "80% coverage", "{:.3f}"),
    ("test/winkler", "interval score", "{:.5f}"),
    ("test/no_network_winkler", "no network", "{:.5f}"),
    ("calibration/quantile", "quantile", "{:.3f}"),
    ("val/best_loss", "val NLL", "{:.4f}"),
)


def cell(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def name(root: Path, run_dir: Path) -> str:
    return str(run_dir.relative_to(root)) if run_dir != root else run_dir.name


def overrides(run_dir: Path) -> str:
    """The run's command-line overrides, as Hydra recorded them."""
    path = run_dir / ".hydra" / "overrides.yaml"
    return " ".join(yaml.safe_load(path.read_text()) or []) if path.exists() else ""


def training_rows(root: Path, runs: list[Path]) -> list[dict]:
    """Each training run's name, overrides and the table's figures."""
    rows = []
    for run_dir in runs:
        metrics = json.loads((run_dir / METRICS).read_text())
        rows.append(
            {
                "run": name(root, run_dir),
                "overrides": overrides(run_dir),
                "metrics": {key: metrics[key] for key, _, _ in COLUMNS if key in metrics},
            }
        )
    return rows


def training_table(rows: list[dict]) -> list[str]:
    """Markdown lines: a row per training run (`training_rows`)."""
    lines = [
        "| run | overrides | " + " | ".join(label for _, label, _ in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        figures = row["metrics"]
        cells = [cell(figures[key], fmt) if key in figures else "" for key, _, fmt in COLUMNS]
        lines.append(f"| {row['run']} | {row['overrides']} | " + " | ".join(cells) + " |")
    return lines
