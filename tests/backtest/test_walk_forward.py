"""Rolling origin: which days are scored, when the model is refit, and what it may have seen."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from stockcast.backtest.walk_forward import (
    BacktestError,
    Fold,
    endpoint_band,
    fold_config,
    learned_from,
    plan_folds,
    scored_origins,
    served_band,
)
from stockcast.evaluation.comparison import directional_accuracy
from stockcast.model.forecaster import ARTIFACT_DIR, Forecaster

ROOT = Path(__file__).resolve().parents[2]
METHOD_KEYS = {
    "n",
    "mae",
    "mase",
    "rel_mae",
    "rmse",
    "directional_accuracy",
    "direction_n",
    "direction_up_share",
    "up_share",
    "coverage",
    "mean_width",
    "winkler",
    "pinball_10",
    "pinball_90",
}


def run_backtest(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python backtest.py ...` from the project root, as a user runs it."""
    return subprocess.run(
        [sys.executable, "backtest.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
    )


@pytest.mark.parametrize("horizon", [1, 3])
def test_each_of_the_last_days_is_the_h_step_target_of_one_origin(horizon):
    origins = scored_origins(n_rows=1000, last_days=400, horizon=horizon, min_history=300)
    assert len(origins) == 400
    assert origins[-1] + horizon == 999  # the last row is scored
    assert list(origins + horizon) == list(range(600, 1000))


def test_asking_for_more_days_than_the_history_allows_says_the_most_it_can_do():
    with pytest.raises(BacktestError, match=r"allows backtest.last_days<=650"):
        scored_origins(n_rows=1000, last_days=800, horizon=1, min_history=350)
    assert len(scored_origins(1000, 650, 1, 350)) == 650


def test_refit_every_cuts_blocks_and_zero_fits_once():
    origins = np.arange(600, 1000)
    folds = plan_folds(origins, 100)
    assert [fold.fit_until for fold in folds] == [600, 700, 800, 900]
    assert np.array_equal(np.concatenate([f.origins for f in folds]), origins)
    [once] = plan_folds(origins, 0)
    assert once.fit_until == 600 and len(once.origins) == 400


def test_a_fold_trains_on_rows_up_to_its_first_origin_and_scores_none(make_cfg, tmp_path):
    cfg = make_cfg()
    dates = pd.Series(pd.bdate_range("2010-01-01", periods=1000))
    fold = Fold(2, np.arange(800, 900))
    fold_cfg = fold_config(OmegaConf.to_container(cfg), ["AAPL"], fold, dates, tmp_path / "fold")
    assert list(fold_cfg.data.tickers) == ["AAPL"] and fold_cfg.data.ticker is None
    assert pd.Timestamp(fold_cfg.data.end) == dates.iloc[800]
    assert fold_cfg.data.test_fraction == 0
    assert fold_cfg.paths.output_dir == str(tmp_path / "fold")


def test_backtest_direction_leaves_out_days_that_call_no_direction():
    last = np.array([10.0, 10.0, 10.0])
    actual = np.array([[11.0], [9.0], [11.0]])
    point = np.array([[10.5], [10.0], [9.5]])  # up (right), none (left out), down (wrong)
    assert directional_accuracy(last, actual, point) == pytest.approx(0.5)


def test_the_served_band_is_what_the_forecaster_answers_for_each_upload(tiny_run):
    forecaster = Forecaster.load(tiny_run / ARTIFACT_DIR)
    frame = pd.read_csv(ROOT / "data" / "GOOG.csv", parse_dates=["Date"])
    origins = np.array([1500, 1501])
    point, lower, upper = served_band(forecaster, frame, origins, upload_rows=250)
    alone = forecaster.predict(frame.iloc[1251:1501].reset_index(drop=True))
    assert point[0, 0] == pytest.approx(alone["forecast"][0]["close"], rel=1e-9)
    assert lower[0, 0] == pytest.approx(alone["forecast"][0]["lower"], rel=1e-9)
    assert upper[0, 0] == pytest.approx(alone["forecast"][0]["upper"], rel=1e-9)


@pytest.mark.slow
def test_a_small_backtest_scores_every_method_and_no_refit_saw_a_scored_day(tmp_path):
    settings = (
        "backtest.last_days=40",
        "backtest.recent_days=15",
        "backtest.refit_every=20",
        "trainer.max_epochs=2",
        "model.net.hidden_size=8",
        f"backtest.fold_cache={tmp_path / 'cache'}",
    )
    result = run_backtest(*settings, f"hydra.run.dir={tmp_path / 'first'}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "first" / "backtest.json").read_text())
    assert report["ticker"] == "GOOG" and report["days"] == 40
    assert report["last_day"] == "2013-03-01"
    assert set(report["methods"]) == {"naive", "ewma", "garch", "har", "no_network", "model"}
    for scores in report["methods"].values():
        assert scores.keys() >= METHOD_KEYS and scores["n"] == 40
    assert report["methods"]["naive"]["rel_mae"] == 1.0
    # the served point is the last close: only the bands are tested
    assert report["methods"]["model"]["rel_mae"] == 1.0
    assert set(report["tests"]) == {
        *(f"model_vs_{name}_interval_score" for name in ("garch", "ewma", "naive", "har")),
        "model_vs_no_network_interval_score",
    }
    assert all(test["p_holm"] >= test["p_value"] for test in report["tests"].values())
    assert set(report["daily"]["relative_interval_score"]) == set(report["methods"])
    assert len(report["daily"]["dates"]) == 40
    assert (tmp_path / "first" / "backtest.png").stat().st_size > 10_000
    recent = report["recent"]  # the last 15 days' own table beside the 40 days'
    assert recent["days"] == 15 and recent["last_day"] == report["last_day"]
    assert recent["methods"]["garch"]["n"] == 15
    folds = report["model"]["folds"]
    assert len(folds) == 2
    for fold in folds:  # each refit calibrated strictly before the first day it scores
        assert fold["calibrated_until"] <= fold["fit_until"] < fold["scores_from"]
    assert folds[1]["fit_until"] > folds[0]["fit_until"]
    assert "interval score" in result.stdout and "Diebold-Mariano" in result.stdout
    assert "Holm p" in result.stdout
    # the same recipe again: each refit comes from the cache, and serves the same bands
    again = run_backtest(*settings, f"hydra.run.dir={tmp_path / 'again'}")
    assert again.returncode == 0, again.stderr[-3000:]
    repeated = json.loads((tmp_path / "again" / "backtest.json").read_text())
    assert repeated["daily"] == report["daily"]
    assert not list((tmp_path / "again").glob("folds/*/checkpoints"))  # nothing trained
    assert list((tmp_path / "first").glob("folds/*/checkpoints"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("backtest.last_days=5000", "allows backtest.last_days<="),
        ("backtest.methods=[naive,arima]", "unknown backtest method(s) ['arima']"),
        ("backtest.refit_every=-1", "backtest.refit_every must be 0"),
    ],
)
def test_bad_settings_end_in_one_line_and_exit_status_2(override, message, tmp_path):
    result = run_backtest(override, f"hydra.run.dir={tmp_path}", timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.integration
def test_the_endpoint_walk_scores_what_the_live_service_answers(torchserve, trained_run):
    frame = pd.read_csv(ROOT / "data" / "GOOG.csv", parse_dates=["Date"])
    origins = np.arange(2100, 2110)
    *live, served = endpoint_band(torchserve.prediction_url, frame, origins, 250, horizon=1)
    local = served_band(Forecaster.load(trained_run / ARTIFACT_DIR), frame, origins, 250)
    for got, want in zip(live, local, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9)
    assert served["name"] == torchserve.model_name


@pytest.mark.slow
@pytest.mark.integration
def test_an_endpoint_backtest_runs_without_training_and_refuses_a_wrong_horizon(
    torchserve, tmp_path
):
    url = f"backtest.endpoint={torchserve.prediction_url}"
    result = run_backtest(url, "backtest.last_days=20", f"hydra.run.dir={tmp_path / 'ok'}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "ok" / "backtest.json").read_text())
    assert report["model"]["endpoint"] == torchserve.prediction_url
    assert report["methods"]["model"]["n"] == 20
    wrong = run_backtest(
        url, "data.horizon=2", "backtest.last_days=20", f"hydra.run.dir={tmp_path}"
    )
    assert wrong.returncode == 2
    assert "forecasts 1 step(s), the backtest asks for data.horizon=2" in wrong.stderr


def test_scored_days_a_served_model_learned_from_are_named_in_one_line():
    served = {
        "tickers": ["GOOG", "IBM"],
        "trained_until": "2013-01-02T00:00:00",
        "calibrated_until": "2013-01-04T00:00:00+00:00",
    }
    days = pd.Series(pd.bdate_range("2012-12-31", periods=10))  # 2012-12-31 .. 2013-01-11
    line = learned_from(served, "goog", days)
    assert line.startswith("5 of the 10 scored days fall on or before 2013-01-04")
    assert "in-sample" in line and "\n" not in line
    assert learned_from(served, "AAPL", days) is None  # never trained on AAPL
    assert learned_from(served, "GOOG", days[5:]) is None  # every day after what it learned
    assert learned_from({"tickers": ["GOOG"]}, "GOOG", days) is None  # no dates to compare


@pytest.fixture
def stub_endpoint() -> Iterator[str]:
    """A prediction URL on this machine that answers each upload as the service does, with a
    band of +-2% around the upload's last close and a model block that trained on GOOG until
    2012-12-31: the walk consumes only the JSON."""

    class Predictions(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            upload = pd.read_csv(io.BytesIO(self.rfile.read(int(self.headers["Content-Length"]))))
            last = float(upload["Close"].iloc[-1])
            body = json.dumps(
                {
                    "forecast": [{"close": last, "lower": 0.98 * last, "upper": 1.02 * last}],
                    "model": {
                        "name": "stub",
                        "horizon": 1,
                        "tickers": ["GOOG"],
                        "trained_until": "2012-12-31T00:00:00",
                        "calibrated_until": "2012-12-31T00:00:00",
                    },
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Predictions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/predictions/stub"
    server.shutdown()
    server.server_close()


def test_an_endpoint_backtest_leaves_no_network_out_and_warns_of_days_the_model_learned_from(
    stub_endpoint, tmp_path
):
    result = run_backtest(
        f"backtest.endpoint={stub_endpoint}",
        "backtest.last_days=60",
        f"hydra.run.dir={tmp_path}",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "backtest.json").read_text())
    assert set(report["methods"]) == {"naive", "ewma", "garch", "har", "model"}
    assert "model_vs_no_network_interval_score" not in report["tests"]
    log = result.stdout + result.stderr
    assert log.count("no_network left out") == 1
    # the last 60 days start 2012-12-04: the days to 2012-12-31 are ones the model learned from
    [warning] = [line for line in log.splitlines() if "in-sample" in line]
    assert "WARNING" in warning and "on or before 2012-12-31" in warning
