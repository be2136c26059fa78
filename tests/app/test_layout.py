"""What the tools share with training and with TorchServe is read from one place: change it there,
in a copy of the checkout, and every reader follows."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from stockcast.app.layout import ProjectLayout, read_properties
from stockcast.stack import prometheus, upload_page
from stockcast.stack.torchserve import Ports

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> ProjectLayout:
    """A copy of the checkout's settings (conf/, torchserve/, the local Prometheus config) beside
    the real data, each file free to be edited."""
    for folder in ("conf", "torchserve"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    local = Path("monitoring/prometheus/prometheus.local.yml")
    (tmp_path / local).parent.mkdir(parents=True)
    shutil.copy2(ROOT / local, tmp_path / local)
    (tmp_path / "data").symlink_to(ROOT / "data")
    return ProjectLayout(tmp_path)


def rewrite(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text()
    changed, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count == 1, f"{pattern!r} not found once in {path}"
    path.write_text(changed)


def test_model_name_upload_rows_and_runs_dir_follow_the_training_config(checkout):
    conf = checkout.root / "conf"
    rewrite(conf / "train.yaml", r"^model_name: \S+", "model_name: other")
    rewrite(conf / "train.yaml", r"^upload_rows: \d+", "upload_rows: 120")
    rewrite(conf / "paths" / "default.yaml", r"^log_dir: \S+", "log_dir: elsewhere")

    assert checkout.model_name == "other"
    assert checkout.upload_rows == 120
    assert checkout.runs_dir == checkout.root / "elsewhere" / "train" / "runs"
    upload = checkout.sample_upload().decode().splitlines()
    assert len(upload) == 1 + 120  # the header and the configured rows


def test_ports_follow_torchserve_and_prometheus_settings(checkout):
    properties = checkout.serving_config
    rewrite(properties, r"^inference_address=.*", "inference_address=http://127.0.0.1:18080")
    rewrite(properties, r"^management_address=.*", "management_address=http://127.0.0.1:18081")
    rewrite(properties, r"^metrics_address=.*", "metrics_address=http://127.0.0.1:18082")
    rewrite(properties, r"^cors_allowed_origin=.*", "cors_allowed_origin=http://127.0.0.1:18090")
    rewrite(checkout.prometheus_local_config, r'\["127\.0\.0\.1:9090"\]', '["127.0.0.1:19090"]')

    ports = Ports.configured(checkout)
    assert (ports.inference, ports.management, ports.metrics) == (18080, 18081, 18082)
    assert upload_page.configured_port(checkout) == 18090
    assert prometheus.configured_port(checkout) == 19090


def test_the_repository_settings_are_what_the_tools_read():
    layout = ProjectLayout(ROOT)
    properties = read_properties(layout.serving_config)
    ports = Ports.configured(layout)
    assert properties["inference_address"].endswith(f":{ports.inference}")
    assert properties["cors_allowed_origin"].endswith(f":{upload_page.configured_port(layout)}")
    assert layout.model_name == OmegaConf.load(ROOT / "conf" / "train.yaml").model_name


@pytest.mark.parametrize("config_name", ["backtest", "lifecycle"])
def test_backtest_and_lifecycle_forecast_from_the_configured_upload_rows(config_name):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=["upload_rows=77"])
    assert cfg[config_name].upload_rows == 77


def test_hydra_puts_each_training_run_under_the_layouts_runs_dir():
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True)
    run_dir = ROOT / cfg.hydra.run.dir
    assert run_dir.parent == ProjectLayout(ROOT).runs_dir


def test_the_lifecycle_reaches_torchserve_where_its_settings_say(checkout, monkeypatch):
    rewrite(
        checkout.serving_config,
        r"^management_address=.*",
        "management_address=http://127.0.0.1:18081",
    )
    monkeypatch.chdir(checkout.root)  # lifecycle.py runs from the checkout
    with initialize_config_dir(config_dir=str(checkout.root / "conf"), version_base="1.3"):
        cfg = compose(config_name="lifecycle")
    assert cfg.lifecycle.management_url == "http://127.0.0.1:18081"
    assert (
        cfg.lifecycle.inference_url == read_properties(checkout.serving_config)["inference_address"]
    )
