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
    ("direction_n", "on days", "{:.0f}"),  # the pairs the direction is judged on...
    ("direction_up_share", "always-up there", "{:.3f}"),  # ...and its baseline on them
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
    console.print(
        f"always-up directional accuracy on the days the close moved: {cell(up, '{:.3f}')} "
        "(each direction is judged on its own days, with always-up's share on them beside it)"
    )
    if report["tests"]:
        console.print(tests_table(report["tests"]))


def tests_table(tests: dict[str, dict[str, float]]) -> Table:
    """The model's Diebold-Mariano tests, one row each, with the raw and the Holm-adjusted
    p-value (adjusted across the rows, since the model is tested against each reference)."""
    table = Table(
        title=f"Diebold-Mariano tests of the model (negative: the model's loss is lower); "
        f"Holm p adjusted across these {len(tests)}"
    )
    for column in ("test", "mean loss difference", "statistic", "p-value", "Holm p"):
        table.add_column(column, justify="left" if column == "test" else "right")
    for name, test in tests.items():
        table.add_row(
            name.removeprefix("model_vs_").replace("_", " "),
            f"{test['mean_diff']:+.4f}",
            f"{test['statistic']:+.2f}",
            f"{test['p_value']:.3f}",
            cell(test.get("p_holm"), "{:.3f}"),
        )
    return table


def plot_backtest(
    frame: pd.DataFrame,
    origins: np.ndarray,
    closes: np.ndarray,
    bands: dict[str, Band],
    level: float,
    path: Path,
) -> None:
    """One panel per method: its first-step band and the actual next close, both as a change from
    the last close (bands a few percent wide stay visible, and drawn apart they cannot hide each
    other), with the days the close fell outside marked; below, every method's rolling coverage."""
    dates = pd.to_datetime(frame["Date"].iloc[origins + 1]).to_numpy()
    last = closes[origins]  # [n]
    actual = closes[origins + 1]  # [n]
    change = (actual / last - 1) * 100  # [n] percent
    colors = dict(zip(bands, plt.cm.tab10.colors, strict=False))
    fig, axes = plt.subplots(
        len(bands) + 1,
        1,
        figsize=(12, 2.2 * len(bands) + 2.6),
        sharex=True,
        height_ratios=(*[1] * len(bands), 1.2),
    )
    *panels, bottom = axes
    for panel, (name, band) in zip(panels, bands.items(), strict=True):
        lower = (band.lower[:, 0] / last - 1) * 100  # [n]
        upper = (band.upper[:, 0] / last - 1) * 100  # [n]
        inside = (actual >= band.lower[:, 0]) & (actual <= band.upper[:, 0])
        panel.fill_between(
            dates, lower, upper, color=colors[name], alpha=0.35, step="mid", label=f"{name} band"
        )
        panel.plot(dates, change, color="black", linewidth=0.7, label="actual close")
        panel.scatter(
            dates[~inside], change[~inside], color="crimson", s=9, zorder=3, label="outside"
        )
        panel.axhline(0, color="grey", linewidth=0.5)
        panel.set_ylabel("% vs last close", fontsize=8)
        panel.set_title(
            f"{name}: coverage {inside.mean():.1%}, mean width "
            f"{np.mean(upper - lower):.2f}% of the last close",
            fontsize=9,
            loc="left",
        )
        panel.legend(loc="upper right", fontsize=7, ncol=3)
        rolling = pd.Series(inside.astype(float)).rolling(ROLLING_DAYS).mean()
        bottom.plot(dates, rolling, color=colors[name], label=name)
    for panel in panels[1:]:
        panel.sharey(panels[0])  # the same scale: wider is wider
    bottom.axhline(level, color="grey", linestyle="--", label=f"nominal {level:.0%}")
    fig.suptitle(f"{level:.0%} bands, one step ahead")
    bottom.set_ylabel(f"coverage, rolling {ROLLING_DAYS} days", fontsize=8)
    bottom.legend(loc="lower left", fontsize=8, ncol=len(bands) + 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
