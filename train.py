"""Train a stockcast forecaster: `python train.py [hydra overrides]` (see conf/train.yaml)."""

import sys

import hydra
from omegaconf import DictConfig

from stockcast.errors import StockcastError
from stockcast.training import register_resolvers, train

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = train(cfg)
    except StockcastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    return metrics.get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
