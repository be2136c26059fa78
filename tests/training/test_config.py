"""The Hydra config composes in every documented combination and builds real objects."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from stockcast.training.datamodule import StockDataModule
from stockcast.training.lightning_module import ForecastModule
from stockcast.training.run import train

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["trainer=ddp", "trainer.devices=2"],
        ["experiment=goog_h5"],
        ["debug=fast"],
        ["hparams_search=optuna"],
        ["launcher=joblib"],
        ["launcher=slurm"],
        [
            "data.ticker=AAPL",
            "data.start=2015-01-01",
            "model.net.hidden_size=128",
            "trainer.max_epochs=50",
        ],
    ],
)
def test_config_composes(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    assert cfg.model.net.horizon == cfg.data.horizon  # shared sizes go through interpolation
    assert OmegaConf.select(cfg, "model.optimizer._partial_") is True


def test_default_config_builds_the_datamodule_and_module(make_cfg):
    cfg = make_cfg()
    assert isinstance(hydra.utils.instantiate(cfg.data), StockDataModule)
    module = hydra.utils.instantiate(cfg.model)
    assert isinstance(module, ForecastModule)
    optimizer = module.configure_optimizers()["optimizer"]
    assert optimizer.defaults["lr"] == cfg.model.optimizer.lr


def test_experiment_holds_only_deltas(make_cfg):
    cfg = make_cfg("experiment=goog_h5")
    assert cfg.data.horizon == 5 and cfg.model.net.horizon == 5
    assert cfg.data.window == 30  # untouched defaults survive


def test_fast_dev_run_trains_and_evaluates_and_writes_no_checkpoint(make_cfg, tmp_path):
    metrics = train(make_cfg("debug=fast"))
    assert "test/mase" in metrics
    assert (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "run" / "checkpoints").exists()  # as conf/debug/fast.yaml says
