"""Walk-forward backtest: `python backtest.py [hydra overrides]` (see conf/backtest.yaml).

A user error (too many days asked, an unknown method, an endpoint with another horizon, a bad
override) ends in one line and exit status 2, as in train.py.
"""

import hydra
from omegaconf import DictConfig

from stockcast.app.cli import or_exit, run_cli
from stockcast.app.quiet import silence_known_noise
from stockcast.app.resolvers import register_resolvers
from stockcast.backtest.run import run_backtest

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="backtest")
def main(cfg: DictConfig) -> float | None:
    silence_known_noise()
    report = or_exit(lambda: run_backtest(cfg))
    return report["methods"].get("model", {}).get("winkler")


if __name__ == "__main__":
    run_cli(main)
