"""Forecast a universe of tickers offline: `python forecast.py [hydra overrides]` (conf/forecast.yaml).

    python forecast.py input_dir=path/to/csvs
    python forecast.py tickers=[AAPL,MSFT] exchange=XNYS output=outputs/forecasts

The same service code TorchServe runs (`answer_batch`), in batches, on a served artifact; one
table (CSV and Parquet) with a row per ticker and horizon step, and an errors table. Exit status
0 when at least one ticker was forecast, 1 when none was, 2 for a user error (a bad setting or
override, no model): stockcast/release/forecast_command.py says why.
"""

import sys

import hydra
from omegaconf import DictConfig

from stockcast.app.cli import or_exit, run_cli
from stockcast.app.quiet import silence_known_noise
from stockcast.app.resolvers import register_resolvers
from stockcast.release.forecast_command import run_forecast

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="forecast")
def main(cfg: DictConfig) -> None:
    silence_known_noise()
    sys.exit(or_exit(lambda: run_forecast(cfg)))


if __name__ == "__main__":
    run_cli(main)
