"""What a backtest leaves behind: backtest.json, a printed table and backtest.png."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from stockcast.evaluation.references import Band  # noqa: E402

COLUMNS = (
    ("n", "days", "{:.0f}"),
    ("mae", "MAE", "{:.3f}"),
    ("rel_mae", "rel. MAE", "{:.4f}"),
    ("rmse", "RMSE", "{:.3f}"),
    ("directional_accuracy", "direction", "{:.3f}"),
    ("coverage", "coverage", "{:.3f}"),
    ("mean_width", "width", "{:.4f}"),
    ("winkler", "interval score", "{:.3f}"),
    ("pinball_10", "pinball 10", "{:.3f}"),
    ("pinball_90", "pinball 90", "{:.3f}"),
)
ROLLING_DAYS = 60


def write_json(report: dict[str, Any], path: Path) -> None:
    """JSON with NaN and infinities as null, so any reader can load it."""
    path.write_text(json.dumps(_plain(report), indent=2))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cell(value: Any, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def print_backtest(report: dict[str, Any]) -> None:
    """One row per method, the always-up share and the Diebold-Mariano tests under it."""
    table = Table(
        title=f"{report['ticker']}: walk-forward {report['first_day']} .. {report['last_day']}, "
        f"{report['days']} days, horizon {report['horizon']} "
        f"(figures average all steps), {report['level']:.0%} band"
    )
    table.add_column("method")
    for _, label, _ in COLUMNS:
        table.add_column(label, justify="right")
    for name, scores in report["methods"].items():
        table.add_row(name, *(cell(scores.get(key), fmt) for key, _, fmt in COLUMNS))
    console = Console(width=160)
    console.print(table)
    up = next(iter(report["methods"].values()))["up_share"]
    console.print(f"always-up directional accuracy on these days: {up:.3f}")
    for name, test in report["tests"].items():
        console.print(
            f"Diebold-Mariano {name.replace('_', ' ')}: mean loss difference "
            f"{test['mean_diff']:+.4f}, statistic {test['statistic']:+.2f}, "
            f"p-value {test['p_value']:.3f}"
        )


def plot_backtest(
    frame: pd.DataFrame,
    origins: np.ndarray,
    closes: np.ndarray,
    bands: dict[str, Band],
    level: float,
    path: Path,
) -> None:
    """Each method's first-step band over the scored days, and its rolling coverage."""
    dates = pd.to_datetime(frame["Date"].iloc[origins + 1]).to_numpy()
    actual = closes[origins + 1]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, height_ratios=(2, 1))
    top.plot(dates, actual, color="black", linewidth=1, label="actual close")
    for (name, band), color in zip(bands.items(), plt.cm.tab10.colors, strict=False):
        top.fill_between(
            dates, band.lower[:, 0], band.upper[:, 0], color=color, alpha=0.15, step="mid"
        )
        top.plot(dates, band.upper[:, 0], color=color, linewidth=0.6, label=f"{name} band")
        top.plot(dates, band.lower[:, 0], color=color, linewidth=0.6)
        inside = (actual >= band.lower[:, 0]) & (actual <= band.upper[:, 0])
        rolling = pd.Series(inside.astype(float)).rolling(ROLLING_DAYS).mean()
        bottom.plot(dates, rolling, color=color, label=name)
    bottom.axhline(level, color="grey", linestyle="--", label=f"nominal {level:.0%}")
    top.set_ylabel("close")
    top.set_title(f"{level:.0%} bands, one step ahead")
    top.legend(loc="upper left", fontsize=8)
    bottom.set_ylabel(f"coverage, rolling {ROLLING_DAYS} days")
    bottom.legend(loc="lower left", fontsize=8, ncol=len(bands) + 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
