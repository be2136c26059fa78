"""Shared fixtures: the real Hydra config, shrunk, and one short real training run per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from stockcast.training import register_resolvers, train

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
SAMPLE_CSV = ROOT / "data" / "GOOG.csv"

register_resolvers()


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose conf/train.yaml with overrides, writing outputs under this test's tmp_path."""

    def _make(*overrides: str, output_dir: Path | None = None) -> DictConfig:
        return compose_train_cfg(output_dir or tmp_path / "run", *overrides)

    return _make


def compose_train_cfg(output_dir: Path, *overrides: str) -> DictConfig:
    """The real config with small, fast settings; `overrides` win."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            return_hydra_config=True,
            overrides=[
                f"paths.data_dir={ROOT / 'data'}",
                "trainer.max_epochs=3",
                "trainer.enable_progress_bar=false",
                "model.net.hidden_size=16",
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.trainer.default_root_dir = str(output_dir)
        del cfg.hydra
    return cfg


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short real training on the bundled sample; its run directory holds `artifact/`."""
    output_dir = tmp_path_factory.mktemp("trained_run")
    train(compose_train_cfg(output_dir))
    return output_dir
