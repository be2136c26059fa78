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
    """One split's figures: the point (the last close) and the band with and without the
    network, as one table (also written to the log).

    `split` is "test", or "calib" for a run without a test split: the calibration split is the
    one no fitting or selection saw, though its band coverage is near nominal by construction.
    With a horizon of several bars, the figures average all steps.
    """
    every = f", steps 1-{horizon}" if horizon > 1 else ""
    table = Table(title=title, min_width=len(title))
    for column in ("metric", "model", "no network"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for name, unit in (("mae", "$"), ("rmse", "$"), ("mape", "%")):
        table.add_row(
            f"{split} {name.upper()} ({unit}) of the last close{every}",
            f"{metrics[f'{split}/{name}']:.3f}",
            "",
        )
    level = f"{metrics['calibration/level']:.0%} interval coverage{every}"
    coverage = metrics[f"{split}/interval_coverage"]
    table.add_row(level if split == "test" else f"{level} (set here)", f"{coverage:.3f}", "")
    if split == "test":
        table.add_row(
            "  (on the calibration split)", f"{metrics['calib/interval_coverage']:.3f}", ""
        )
    table.add_row(
        f"interval score / last close{every}",
        f"{metrics[f'{split}/winkler']:.5f}",
        f"{metrics[f'{split}/no_network_winkler']:.5f}",
    )
    table.add_row(
        "conformal quantile (calib)",
        f"{metrics['calibration/quantile']:.3f}",
        f"{metrics['calibration/baseline_quantile']:.3f}",
    )
    console = Console(width=100, record=True)
    console.print(table)
    log.info("%s figures\n%s", split, console.export_text().rstrip())


def plot_forecast(
    dates: pd.Series,
    actual: np.ndarray,
    last_close: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    base_lower: np.ndarray,
    base_upper: np.ndarray,
    path: Path,
    title: str,
    horizon: int = 1,
) -> None:
    """The actual closes with the model's band over the test period, and below it the band's
    width relative to the last close with and without the network: where the two lines part,
    the network has changed the band. Plots the first forecast step [n] of each sample."""
    fig, (ax, width) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.fill_between(dates, lower, upper, color="tab:blue", alpha=0.2, label="model interval")
    ax.plot(dates, actual, color="black", linewidth=1.2, label="actual close")
    ax.plot(
        dates,
        last_close,
        color="tab:orange",
        linewidth=0.8,
        linestyle="--",
        label="forecast (last close)",
    )
    ax.set_title(title if horizon == 1 else f"{title}\nplotted: step 1 of {horizon}")
    ax.set_ylabel("close")
    ax.legend(loc="upper left")
    width.plot(dates, (upper - lower) / last_close, color="tab:blue", linewidth=1.0, label="model")
    width.plot(
        dates,
        (base_upper - base_lower) / last_close,
        color="tab:gray",
        linewidth=0.8,
        label="no network",
    )
    width.set_ylabel("band width / close")
    width.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
