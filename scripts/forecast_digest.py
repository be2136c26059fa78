"""Print one digest of every answer a model gives for a spread of uploads and calibrations.

    python scripts/forecast_digest.py [outputs/train/runs/<run>]
    cd /tmp && PYTHONPATH=<other checkout> python <this checkout>/scripts/forecast_digest.py <run>

Why: a change that makes serving faster must leave the served numbers as they were. The second
form runs another checkout's code (a worktree of an earlier release, say) on the same model, so
equal digests mean every field of every answer is the same, bit for bit. The uploads are the
bundled tickers' last 32 to 5,000 rows, answered in one batch and one at a time, under the run's
own calibration and three others (the band without the network, the stored band, a close-to-close
40-day band).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import stockcast
from stockcast.app.layout import ProjectLayout
from stockcast.app.script import run_script
from stockcast.errors import StockcastError
from stockcast.inputs.bars import Bars
from stockcast.inputs.validation import read_ohlcv_csv
from stockcast.model.forecaster import Forecaster
from stockcast.release.packaging import artifact_dir, newest_servable_run

ROOT = Path(__file__).resolve().parents[1]
TICKERS = ("GOOG", "AAPL", "IBM", "MSFT")
ROWS = (32, 33, 52, 100, 250, 281, 282, 283, 600, 5000)
CALIBRATIONS = (
    {},
    {"self_rows": 0},
    {"self_rows": 40, "vol_estimator": "close", "vol_lambda": 1.0},
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, help="training run (default: the newest)")
    args = parser.parse_args(argv)
    layout = ProjectLayout(ROOT)
    run = args.run or (newest_servable_run(layout.runs_dir) or [None])[0]
    if run is None:
        raise StockcastError(f"no complete run under {layout.runs_dir}: `make train` first")
    forecaster = Forecaster.load(artifact_dir(run))
    uploads = [
        Bars.from_frame(
            read_ohlcv_csv(layout.data_dir / f"{ticker}.csv").tail(rows).reset_index(drop=True)
        )
        for ticker in TICKERS
        for rows in ROWS
    ]
    answers = []
    stored = forecaster.calibration
    variants = [replace(stored, **change) for change in CALIBRATIONS]
    for served in [*variants, None]:  # None: the band without the network
        model = forecaster.ablated() if served is None else forecaster
        model.calibration = stored.without_network() if served is None else served
        answers += model.predict_bars(uploads)
        answers += [model.predict_bars([upload])[0] for upload in uploads]
    digest = hashlib.sha256(json.dumps(answers).encode()).hexdigest()
    code = Path(stockcast.__file__).resolve().parent.parent
    print(f"{len(answers)} answers, sha256 {digest[:16]} (code: {code}, run: {run})")
    return 0


if __name__ == "__main__":
    run_script(main, expected=(OSError,))
