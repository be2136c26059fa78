"""What a run leaves behind for people: the metrics table, metrics.json and forecast.png."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


def write_metrics(metrics: dict[str, float], path: Path) -> None:
    """Write metrics.json with sorted keys so runs diff cleanly."""
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True))


def print_table(metrics: dict[str, float], title: str) -> None:
    """The test figures beside the naive baseline, as one table."""
    table = Table(title=title)
    for column in ("metric", "model", "naive (next = last)"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for name, unit in (("mae", "$"), ("rmse", "$"), ("mape", "%")):
        table.add_row(
            f"test {name.upper()} ({unit})",
            f"{metrics[f'test/{name}']:.3f}",
            f"{metrics[f'test/naive_{name}']:.3f}",
        )
    table.add_row("test MAE relative to naive", f"{metrics['test/rel_mae']:.4f}", "1.0000")
    direction = metrics["test/directional_accuracy"]
    table.add_row(
        "directional accuracy",
        "none (serves naive)" if direction is None else f"{direction:.3f}",
        f"always-up {metrics['test/up_share']:.3f}",
    )
    table.add_row(
        f"{metrics['calibration/level']:.0%} interval coverage",
        f"{metrics['test/interval_coverage']:.3f}",
        "",
    )
    table.add_row("  (on the calibration split)", f"{metrics['calib/interval_coverage']:.3f}", "")
    table.add_row("shrink toward naive (val)", f"{metrics['calibration/shrink']:.2f}", "")
    Console(width=100).print(table)


def plot_forecast(
    dates: pd.Series,
    actual: np.ndarray,
    predicted: np.ndarray,
    naive: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    path: Path,
    title: str,
) -> None:
    """Actual vs model vs naive over the test period, with the interval band (first step)."""
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.fill_between(dates, lower, upper, color="tab:blue", alpha=0.2, label="model interval")
    ax.plot(dates, actual, color="black", linewidth=1.2, label="actual close")
    ax.plot(dates, predicted, color="tab:blue", linewidth=1.0, label="model")
    ax.plot(dates, naive, color="tab:orange", linewidth=0.8, linestyle="--", label="naive")
    ax.set_title(title)
    ax.set_ylabel("close")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
