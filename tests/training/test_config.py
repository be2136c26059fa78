"""The Hydra config composes in every documented combination and builds real objects."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from stockcast.inputs.validation import read_ohlcv_csv
from stockcast.market.cache_record import ohlcv_sha256
from stockcast.model.calibration import CalibrationSettings
from stockcast.training.datamodule import StockDataModule
from stockcast.training.lightning_module import ForecastModule
from stockcast.training.run import train

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"


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


@pytest.mark.parametrize("config_name", ["train", "backtest", "lifecycle"])
def test_every_entry_config_builds_the_calibration_settings_from_its_group(config_name):
    overrides = ["calibration.self_rows=0", "calibration.vol_estimator=close"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides)
    settings = hydra.utils.instantiate(cfg.calibration)
    assert isinstance(settings, CalibrationSettings)
    assert (settings.self_rows, settings.vol_estimator) == (0, "close")  # overrides reach it
    group = OmegaConf.load(CONF_DIR / "calibration" / "default.yaml")
    assert settings.level == group.level and settings.prior_rows == group.prior_rows


@pytest.mark.slow
def test_the_artifact_stores_the_calibration_its_settings_asked_for(make_cfg, tmp_path):
    cfg = make_cfg("debug=fast", "calibration.prior_rows=7", "calibration.vol_lambda=0.9")
    train(cfg)
    stored = json.loads((tmp_path / "run" / "artifact" / "forecaster.json").read_text())
    settings = hydra.utils.instantiate(cfg.calibration)
    for name in ("level", "vol_lambda", "vol_estimator", "self_rows", "prior_rows"):
        assert stored["calibration"][name] == getattr(settings, name)
    assert (stored["calibration"]["prior_rows"], stored["calibration"]["vol_lambda"]) == (7, 0.9)


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


@pytest.mark.slow
def test_fast_dev_run_trains_and_evaluates_and_writes_no_checkpoint(make_cfg, tmp_path):
    metrics = train(make_cfg("debug=fast"))
    assert "test/rel_mae" in metrics
    assert (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "run" / "checkpoints").exists()  # as conf/debug/fast.yaml says


@pytest.mark.slow
def test_the_artifact_records_a_fingerprint_of_the_rows_it_was_trained_on(make_cfg, tmp_path):
    train(make_cfg("debug=fast", "data.ticker=GOOG"))
    info = json.loads((tmp_path / "run" / "artifact" / "forecaster.json").read_text())["info"]
    frame = read_ohlcv_csv(ROOT / "data" / "GOOG.csv")
    trained = frame[frame["Date"] <= info["trained_until"]]
    assert trained["Date"].iloc[0] == frame["Date"].iloc[0]  # from the first row on
    assert info["data_sha256"] == ohlcv_sha256(trained)


def test_a_csv_anywhere_is_trained_on_through_data_path(make_cfg, tmp_path):
    mine = tmp_path / "my data" / "prices.csv"
    mine.parent.mkdir()
    mine.write_bytes((ROOT / "data" / "GOOG.csv").read_bytes())
    cfg = make_cfg("data.ticker=MINE", f"data.path='{mine}'", f"paths.data_dir={tmp_path / 'none'}")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup()
    assert len(datamodule.frame) == 2148 and datamodule.ticker == "MINE"
