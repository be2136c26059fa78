"""Copy the newest measurement of each kind into docs/results/NAME.json, and the pictures into
docs/img/, from what the measuring commands left under outputs/ (or any folder or file given).

What is recognised, by content rather than by path:
- a backtest sweep's summary.json (stockcast/backtest/summary.py names it per-ticker or
  leave-one-out) -> walk-forward-*; its first job's backtest.png -> docs/img/backtest.png;
- a training run with stamp.json, metrics.json and no overrides (the default `python train.py`)
  -> single-split; its forecast.png -> docs/img/forecast.png;
- a stamped JSON named latency, training-overhead or suite; a soak JSON -> soak and, when it
  killed a worker, worker-kill;
- the browser tests' screenshots, by file name -> docs/img/ under the same name: upload-page.png
  (the upload page, tests/serving/test_upload_page.py) and mlflow-run.png (a tracked training
  run's page in MLflow's UI, tests/app/test_tracking_ui.py).
The newest of each kind wins, by the date in its stamp.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from stockcast.bench.results.blocks import ResultsError

PLAIN = (
    "latency",
    "training-overhead",
    "suite",
    "image",
    "replicas",
    "retrain-decision",
    "multi-ticker",
    "batch-forecast",
)
SCREENSHOTS = ("upload-page.png", "mlflow-run.png")


@dataclass(frozen=True)
class Found:
    """One measurement: its results name, its record, and the picture that goes with it."""

    name: str
    record: dict
    picture: tuple[Path, str] | None = None  # (source PNG, docs/img name)


def _load(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "stamp" in record else None


def from_sweep(summary: Path) -> list[Found]:
    record = _load(summary)
    if record is None or not str(record.get("name", "")).startswith("walk-forward-"):
        return []
    plots = sorted(summary.parent.glob("*/backtest.png"), key=lambda p: (len(p.parent.name), p))
    picture = (plots[0], "backtest.png") if plots and "per-ticker" in record["name"] else None
    return [Found(record["name"], record, picture)]


def from_run(stamp_file: Path) -> list[Found]:
    run = stamp_file.parent
    record, overrides = _load(stamp_file), run / ".hydra" / "overrides.yaml"
    metrics_file = run / "metrics.json"
    if record is None or not metrics_file.is_file() or not overrides.is_file():
        return []
    if overrides.read_text().strip() not in ("", "[]"):
        return []  # not the default run: its figures are an experiment's
    metrics = json.loads(metrics_file.read_text())
    shown = {key: value for key, value in metrics.items() if key.startswith(("test/", "calib"))}
    plot = run / "forecast.png"
    return [
        Found(
            "single-split",
            {**record, "metrics": shown},
            (plot, "forecast.png") if plot.is_file() else None,
        )
    ]


def from_json(path: Path) -> list[Found]:
    record = _load(path)
    if record is None:
        return []
    if record.get("name") in PLAIN:
        return [Found(record["name"], record)]
    if record.get("name") == "soak":
        found = [Found("soak", record)]
        if record.get("worker_kill"):
            found.append(Found("worker-kill", record))
        return found
    return []


def scan(source: Path) -> list[Found]:
    """Every measurement under `source` (a folder, searched recursively, or one file)."""
    if not source.exists():
        raise ResultsError(f"{source} does not exist")
    files = [source] if source.is_file() else sorted(source.rglob("*.json"))
    found: list[Found] = []
    for path in files:
        if path.name == "summary.json":
            found += from_sweep(path)
        elif path.name == "stamp.json":
            found += from_run(path)
        elif path.name not in ("backtest.json", "metrics.json"):
            found += from_json(path)
    return found


def newest(found: list[Found]) -> dict[str, Found]:
    """The newest measurement of each name, by its stamp's date."""
    chosen: dict[str, Found] = {}
    for item in found:
        if (
            item.name not in chosen
            or item.record["stamp"]["date"] > chosen[item.name].record["stamp"]["date"]
        ):
            chosen[item.name] = item
    return chosen


def screenshots(sources: list[Path], name: str) -> list[Path]:
    """The screenshots called `name` under `sources`, newest last."""
    shots = []
    for source in sources:
        if source.is_dir():
            shots += source.rglob(name)
        elif source.name == name:
            shots.append(source)
    return sorted(shots, key=lambda p: p.stat().st_mtime)


def collect(sources: list[Path], results_dir: Path, img_dir: Path) -> list[str]:
    """Copy the newest of each kind into `results_dir` and the pictures into `img_dir`; one line
    per file copied. A browser test's screenshot alone is enough (`--from` that PNG)."""
    found = [item for source in sources for item in scan(source)]
    shots = {name: screenshots(sources, name) for name in SCREENSHOTS}
    if not found and not any(shots.values()):
        raise ResultsError(
            f"no stamped measurement under {', '.join(map(str, sources))}: run a measuring "
            "command first (make bench-serving, bench-training, soak, train, a backtest sweep)"
        )
    results_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, item in sorted(newest(found).items()):
        target = results_dir / f"{name}.json"
        target.write_text(json.dumps({**item.record, "name": name}, indent=2) + "\n")
        copied.append(f"{target} <- {item.record['stamp']['command']}")
        if item.picture is not None:
            shutil.copyfile(item.picture[0], img_dir / item.picture[1])
            copied.append(f"{img_dir / item.picture[1]} <- {item.picture[0]}")
    for name, found_shots in shots.items():
        if found_shots:
            shutil.copyfile(found_shots[-1], img_dir / name)
            copied.append(f"{img_dir / name} <- {found_shots[-1]}")
    return copied
