"""What a run leaves behind for people: the metrics table, metrics.json and forecast.png."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

# conf/hydra/default.yaml sends this logger to train.log only: the terminal gets rich's table
log = logging.getLogger(__name__)


def write_metrics(metrics: dict[str, float], path: Path) -> None:
    """Write metrics.json with sorted keys so runs diff cleanly."""
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True))


def print_table(
    metrics: dict[str, float], title: str, horizon: int = 1, split: str = "test"
) -> None:
    """One split's figures beside the naive baseline, as one table (also written to the log).

    `split` is "test", or "calib" for a run without a test split: the calibration split is the
    one no fitting or selection saw, though its band coverage is near nominal by construction.
    With a horizon of several bars, the row labels say which steps each figure covers: MAE,
    RMSE, MAPE, MASE and coverage average all of them, directional accuracy is step 1's.
    """
    every = f", steps 1-{horizon}" if horizon > 1 else ""
    first = ", step 1" if horizon > 1 else ""
    table = Table(title=title, min_width=len(title))
    for column in ("metric", "model", "naive (next = last)"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for name, unit in (("mae", "$"), ("rmse", "$"), ("mape", "%")):
        table.add_row(
            f"{split} {name.upper()} ({unit}){every}",
            f"{metrics[f'{split}/{name}']:.3f}",
            f"{metrics[f'{split}/naive_{name}']:.3f}",
        )
    table.add_row(
        f"{split} MAE relative to naive{every}", f"{metrics[f'{split}/rel_mae']:.4f}", "1.0000"
    )
    direction = metrics[f"{split}/directional_accuracy"]
    table.add_row(
        f"directional accuracy{first}",
        "none (serves naive)" if direction is None else f"{direction:.3f}",
        f"always-up {metrics[f'{split}/up_share']:.3f}",
    )
    level = f"{metrics['calibration/level']:.0%} interval coverage{every}"
    if split == "test":
        table.add_row(level, f"{metrics['test/interval_coverage']:.3f}", "")
        table.add_row(
            "  (on the calibration split)", f"{metrics['calib/interval_coverage']:.3f}", ""
        )
    else:
        table.add_row(f"{level} (set here)", f"{metrics[f'{split}/interval_coverage']:.3f}", "")
    table.add_row("shrink toward naive (val)", f"{metrics['calibration/shrink']:.2f}", "")
    console = Console(width=100, record=True)
    console.print(table)
    log.info("%s figures\n%s", split, console.export_text().rstrip())


def plot_forecast(
    dates: pd.Series,
    actual: np.ndarray,
    predicted: np.ndarray,
    naive: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    path: Path,
    title: str,
    horizon: int = 1,
) -> None:
    """Actual vs model vs naive over the test period with the interval band, and below it the
    model minus naive: a shrink near 0 puts the model line on the naive one, and only the
    difference shows what the network adds. Plots the first forecast step [n] of each sample."""
    fig, (ax, diff) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.fill_between(dates, lower, upper, color="tab:blue", alpha=0.2, label="model interval")
    ax.plot(dates, actual, color="black", linewidth=1.2, label="actual close")
    ax.plot(dates, predicted, color="tab:blue", linewidth=1.0, label="model")
    ax.plot(dates, naive, color="tab:orange", linewidth=0.8, linestyle="--", label="naive")
    ax.set_title(title if horizon == 1 else f"{title}\nplotted: step 1 of {horizon}")
    ax.set_ylabel("close")
    ax.legend(loc="upper left")
    diff.axhline(0.0, color="tab:orange", linewidth=0.8, linestyle="--")
    diff.plot(dates, predicted - naive, color="tab:blue", linewidth=1.0)
    diff.set_ylabel("model - naive")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
