"""Train a stockcast forecaster: `python train.py [hydra overrides]` (see conf/train.yaml)."""

import sys

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from stockcast.errors import StockcastError
from stockcast.training.run import register_resolvers, train

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = train(cfg)
    except (StockcastError, InstantiationException) as exc:
        cause = exc if isinstance(exc, StockcastError) else exc.__cause__
        if not isinstance(cause, StockcastError):
            raise
        print(f"error: {cause}", file=sys.stderr)
        sys.exit(2)
    return metrics.get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
