"""Browse the tracked runs (`make mlflow`): MLflow's UI on the project's store, on loopback.

The store is the one training logs to (stockcast/app/tracking.py): the SQLite file in
outputs/mlflow/, or the team's server when MLFLOW_TRACKING_URI names one (then there is nothing
to start: its address is printed). The UI listens on 127.0.0.1 only; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.app.script import run_script
from stockcast.app.tracking import SQLITE, artifact_location, tracking_uri
from stockcast.errors import StockcastError

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000, help="the UI's port on 127.0.0.1")
    args = parser.parse_args(argv)
    layout = ProjectLayout(ROOT)
    uri = tracking_uri(layout.mlflow_dir)
    if not uri.startswith(SQLITE):
        print(f"mlflow: {uri} (MLFLOW_TRACKING_URI: the team's server; open it in a browser)")
        return 0
    database = Path(uri.removeprefix(SQLITE))
    if not database.is_file():
        raise StockcastError(
            f"no runs tracked yet in {database}: `make run` or `python train.py` logs the first"
        )
    print(f"mlflow: {uri} on http://{HOST}:{args.port} (Ctrl-C stops it)", flush=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--default-artifact-root", str(artifact_location(uri))]
    os.execv(sys.executable, [*command, "--host", HOST, "--port", str(args.port)])
    return 0  # not reached: the UI replaces this process


if __name__ == "__main__":
    run_script(main)
