"""The inference class: artifacts without pickle, and the same numbers as training evaluation.

Most tests load the session's tiny untrained artifact (`tiny_run`): what they check holds for any
weights. The trained run's own artifact is checked for what training writes into it."""

from __future__ import annotations

import json
import pickletools
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stockcast.errors import DataValidationError
from stockcast.inputs.validation import read_ohlcv_csv
from stockcast.model.calibration import Calibration
from stockcast.model.forecaster import Forecaster, future_dates
from stockcast.model.network import LSTMNet
from stockcast.model.network_inputs import N_INPUTS
from stockcast.model.scaling import Standardizer
from stockcast.training.datamodule import StockDataModule

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "GOOG.csv"


@pytest.fixture(scope="module")
def forecaster(tiny_run) -> Forecaster:
    return Forecaster.load(tiny_run / "artifact")


def test_artifact_is_a_state_dict_and_plain_json(tiny_run):
    weights = torch.load(tiny_run / "artifact" / "weights.pt", weights_only=True)
    assert weights and all(isinstance(value, torch.Tensor) for value in weights.values())
    spec = json.loads((tiny_run / "artifact" / "forecaster.json").read_text())
    assert set(spec["scaler"]) == {"mean", "std"}
    assert spec["format"] == 2 and len(spec["scaler"]["mean"]) == len(spec["inputs"])
    assert Forecaster.load(tiny_run / "artifact").net.state_dict().keys() == weights.keys()


def test_a_training_run_records_its_tickers_interval_and_calendar(trained_run):
    spec = json.loads((trained_run / "artifact" / "forecaster.json").read_text())
    assert spec["info"]["trained_on"].startswith("GOOG+AAPL+IBM+MSFT 2000-")
    assert spec["info"]["tickers"] == ["GOOG", "AAPL", "IBM", "MSFT"]
    assert (spec["interval"], spec["calendar"]) == ("1d", "XNYS")


def test_forecast_for_a_window_equals_the_training_evaluation(tiny_run, make_cfg):
    """With the stored quantile (self-calibration off), serving is training's evaluation."""
    forecaster = Forecaster.load(tiny_run / "artifact")
    forecaster.calibration = replace(forecaster.calibration, self_rows=0)
    datamodule = StockDataModule(data_dir=make_cfg().paths.data_dir)
    datamodule.setup()
    test = datamodule.split_arrays("test")
    expected = forecaster.forecast_windows(test.windows[-1:])
    point, lower, upper = expected.closes(test.last_close[-1:])
    # the CSV a user would send: every row up to and including the last test anchor
    frame = datamodule.frame.iloc[:-1].reset_index(drop=True)
    served = forecaster.predict(frame)
    assert served["last_close"] == test.last_close[-1]
    assert served["forecast"][0]["close"] == pytest.approx(point[0, 0], rel=1e-9)
    assert served["forecast"][0]["lower"] == pytest.approx(lower[0, 0], rel=1e-9)
    assert served["forecast"][0]["upper"] == pytest.approx(upper[0, 0], rel=1e-9)
    assert served["backtest"]["actual_close"] == frame["Close"].iloc[-1]


def test_batch_of_frames_equals_one_by_one(forecaster):
    frame = read_ohlcv_csv(SAMPLE)
    frames = [frame.iloc[:300], frame.iloc[:1000], frame]
    together = forecaster.predict_frames(frames)
    alone = [forecaster.predict(f) for f in frames]
    for a, b in zip(together, alone, strict=True):
        assert a["forecast"][0]["close"] == pytest.approx(b["forecast"][0]["close"], rel=1e-6)
    assert together[2]["last_date"] == "2013-03-01"
    assert together[2]["forecast"][0]["date"] == "2013-03-04"  # Friday -> Monday
    assert (
        together[2]["forecast"][0]["lower"]
        < together[2]["forecast"][0]["close"]
        < together[2]["forecast"][0]["upper"]
    )


@pytest.mark.parametrize(
    "calibration",
    [
        {},
        {"self_rows": 0},  # the stored band: only the last two windows matter
        {"self_rows": 40, "vol_estimator": "close"},
    ],
)
def test_only_the_last_rows_read_shape_a_forecast(forecaster, calibration):
    """Older rows are validated but never computed on: the whole file's answer is its tail's."""
    forecaster = replace_calibration(forecaster, **calibration)
    frame = read_ohlcv_csv(SAMPLE)
    tail = frame.tail(forecaster.rows_read).reset_index(drop=True)
    assert forecaster.predict(frame) == forecaster.predict(tail)
    if forecaster.rows_read == forecaster.min_rows:  # no self-calibration: the two windows
        return
    shorter = frame.tail(forecaster.rows_read - 1).reset_index(drop=True)
    assert forecaster.predict(shorter) != forecaster.predict(tail)  # every one of them counts


def replace_calibration(forecaster: Forecaster, **changes) -> Forecaster:
    copy = Forecaster.__new__(Forecaster)
    copy.__dict__.update(forecaster.__dict__)
    copy.calibration = replace(forecaster.calibration, **changes)
    return copy


def sample_ending(last_day: str, rows: int = 60) -> pd.DataFrame:
    """The sample's last `rows` bars, re-dated to weekdays ending on `last_day`."""
    frame = read_ohlcv_csv(SAMPLE).tail(rows).reset_index(drop=True)
    frame["Date"] = pd.bdate_range(end=last_day, periods=rows)
    return frame


def untrained(horizon: int, calendar: str = "XNYS") -> Forecaster:
    """A forecaster of `horizon` steps whose numbers do not matter, only its dates."""
    return Forecaster(
        LSTMNet(hidden_size=4, num_layers=1, horizon=horizon),
        Standardizer((0.0,) * N_INPUTS, (1.0,) * N_INPUTS),
        Calibration(0.8, (1.0,) * horizon, (1.0,) * horizon),
        window=30,
        calendar=calendar,
    )


def test_a_csv_ending_on_new_years_eve_is_forecast_for_january_the_second(forecaster):
    [step] = forecaster.predict(sample_ending("2018-12-31"))["forecast"]
    assert step["date"] == "2019-01-02"


def test_a_five_session_forecast_skips_christmas():
    forecast = untrained(horizon=5).predict(sample_ending("2018-12-21"))["forecast"]
    assert [step["date"] for step in forecast] == [
        "2018-12-24",
        "2018-12-26",
        "2018-12-27",
        "2018-12-28",
        "2018-12-31",
    ]


def test_the_calendar_travels_with_the_artifact(tmp_path):
    untrained(horizon=1, calendar="XLON").save(tmp_path)
    london = Forecaster.load(tmp_path)
    assert london.calendar == "XLON"
    [step] = london.predict(sample_ending("2018-12-24"))["forecast"]
    assert step["date"] == "2018-12-27"  # London is shut on Boxing Day as well


def test_an_artifact_from_before_calendars_dates_by_the_new_york_exchange(tiny_run, tmp_path):
    spec = json.loads((tiny_run / "artifact" / "forecaster.json").read_text())
    del spec["calendar"]
    (tmp_path / "forecaster.json").write_text(json.dumps(spec))
    (tmp_path / "weights.pt").write_bytes((tiny_run / "artifact" / "weights.pt").read_bytes())
    assert Forecaster.load(tmp_path).calendar == "XNYS"


@pytest.mark.parametrize(
    ("dates", "reason"),
    [
        (pd.date_range("2024-01-02 09:30", periods=60, freq="h"), "bar_spacing"),
        (pd.bdate_range(end="2200-01-02", periods=60), "outside_calendar"),
    ],
)
def test_dates_the_model_cannot_read_or_date_are_refused(forecaster, dates, reason):
    with pytest.raises(DataValidationError) as caught:
        forecaster.check_dates(pd.Series(dates))
    assert caught.value.reason == reason


def test_dates_are_checked_against_the_calendar_they_keep_not_only_the_models():
    tokyo = untrained(horizon=1, calendar="XTKS")  # its calendar begins in 1997
    every_day = pd.Series(pd.date_range(end="1990-06-30", periods=300, freq="D"))
    assert tokyo.check_dates(every_day).name == "always-open"
    with pytest.raises(DataValidationError) as caught:
        tokyo.check_dates(pd.Series(pd.bdate_range(end="1990-06-29", periods=300)))
    assert caught.value.reason == "outside_calendar"  # weekdays keep Tokyo's, which is unknown


def test_future_dates_for_intraday_bars():
    last = pd.Timestamp("2024-01-02 15:30", tz="America/New_York")
    assert future_dates(last, "1h", 2)[1] == last + pd.Timedelta(hours=2)
    assert future_dates(last, "15m", 1)[0] == last + pd.Timedelta(minutes=15)


def test_weights_file_holds_no_arbitrary_objects(tiny_run):
    # torch's zip format stores a pickle of the state_dict's structure; weights_only=True loading
    # admits only tensors and containers. No GLOBAL beyond torch rebuild helpers may appear.
    with zipfile.ZipFile(tiny_run / "artifact" / "weights.pt") as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    globals_used = {
        arg
        for op, arg, _ in pickletools.genops(data)
        if op.name in ("GLOBAL", "STACK_GLOBAL") and arg
    }
    assert all(name.startswith(("torch", "collections OrderedDict")) for name in globals_used)


def test_window_count_is_min_rows(forecaster):
    frame = read_ohlcv_csv(SAMPLE)
    assert forecaster.min_rows == forecaster.window + 2
    assert np.isfinite(
        forecaster.predict(frame.iloc[: forecaster.min_rows])["forecast"][0]["close"]
    )


def test_the_backtest_reports_the_band_given_for_the_last_day_and_whether_it_held(forecaster):
    frame = read_ohlcv_csv(SAMPLE)
    answer = forecaster.predict(frame)
    # the forecast the model gave the day before, from the rows it had then
    day_before = forecaster.predict(frame.iloc[:-1].reset_index(drop=True))["forecast"][0]
    backtest = answer["backtest"]
    assert backtest["predicted_close"] == pytest.approx(day_before["close"], rel=1e-9)
    assert backtest["lower"] == pytest.approx(day_before["lower"], rel=1e-9)
    assert backtest["upper"] == pytest.approx(day_before["upper"], rel=1e-9)
    actual = backtest["actual_close"]
    assert backtest["covered"] is (backtest["lower"] <= actual <= backtest["upper"])


def test_a_band_missed_by_the_last_close_is_reported_as_not_covered(forecaster):
    frame = read_ohlcv_csv(SAMPLE).iloc[-300:].reset_index(drop=True)
    frame.loc[frame.index[-1], ["Open", "High", "Low", "Close"]] *= 1.5  # a 50% jump overnight
    assert forecaster.predict(frame)["backtest"]["covered"] is False


def test_drift_places_calm_and_turbulent_uploads_at_the_ends_of_the_training_distribution(
    forecaster,
):
    frame = read_ohlcv_csv(SAMPLE)
    dates = frame["Date"]
    crisis = frame[dates <= "2008-10-31"].reset_index(drop=True)  # GOOG's wildest month
    calm = frame[dates <= "2006-12-29"].reset_index(drop=True)
    turbulent = forecaster.predict(crisis)["drift"]
    quiet = forecaster.predict(calm)["drift"]
    assert turbulent["window"] == 20
    assert turbulent["volatility_percentile"] > 0.95 > quiet["volatility_percentile"]
    assert 0 <= quiet["return_percentile"] <= 1
    returns = np.log(frame["Close"]).diff().to_numpy()
    assert turbulent["volatility"] == pytest.approx(np.std(returns[len(crisis) - 20 : len(crisis)]))


def test_the_drift_reference_is_a_small_plain_json_table(tiny_run):
    spec = json.loads((tiny_run / "artifact" / "forecaster.json").read_text())
    drift = spec["drift"]
    assert drift["window"] == 20
    assert len(drift["volatility"]) == len(drift["returns"]) == 101
    assert drift["volatility"] == sorted(drift["volatility"])
