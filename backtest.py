"""Walk-forward backtest: `python backtest.py [hydra overrides]` (see conf/backtest.yaml)."""

import sys

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from stockcast.backtest.run import run_backtest
from stockcast.errors import StockcastError
from stockcast.training.run import register_resolvers

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="backtest")
def main(cfg: DictConfig) -> float | None:
    try:
        report = run_backtest(cfg)
    except (StockcastError, InstantiationException) as exc:
        cause = exc if isinstance(exc, StockcastError) else exc.__cause__
        if not isinstance(cause, StockcastError):
            raise
        print(f"error: {cause}", file=sys.stderr)
        sys.exit(2)
    return report["methods"].get("model", {}).get("winkler")


if __name__ == "__main__":
    main()
