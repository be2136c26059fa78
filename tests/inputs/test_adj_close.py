"""An `Adj Close` column adjusts the prices, so a split is never read as a crash (nor a crash hidden).

The bundled AAPL, MSFT and IBM files hold unadjusted Close next to Adj Close: AAPL split 2:1 on
2000-06-21 and 2005-02-28, MSFT on 2003-02-18; AAPL's -52% on 2000-09-29 was a real crash.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.errors import DataValidationError
from stockcast.inputs.validation import COLUMNS, read_price_table
from stockcast.market.prices import cache_path, load_prices, normalise_yfinance, write_csv_atomic

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


def close_to_close_return(frame: pd.DataFrame, day: str) -> float:
    """The simple return from the previous row's close to `day`'s close."""
    at = int(np.flatnonzero(frame["Date"] == pd.Timestamp(day))[0])
    return float(frame["Close"].iloc[at] / frame["Close"].iloc[at - 1] - 1)


@pytest.mark.parametrize(
    ("ticker", "split_day"),
    [("AAPL", "2000-06-21"), ("AAPL", "2005-02-28"), ("MSFT", "2003-02-18")],
)
def test_a_split_in_the_raw_close_is_no_return_after_adjustment(ticker, split_day):
    raw = pd.read_csv(DATA / f"{ticker}.csv", parse_dates=["Date"])
    assert close_to_close_return(raw, split_day) < -0.4  # what the model would have read
    frame = read_price_table(DATA / f"{ticker}.csv").frame
    assert abs(np.log1p(close_to_close_return(frame, split_day))) < 0.15


def test_a_real_crash_stays_a_crash():
    frame = read_price_table(DATA / "AAPL.csv").frame
    assert close_to_close_return(frame, "2000-09-29") == pytest.approx(-0.52, abs=0.01)


def test_open_high_low_close_scale_by_adj_close_over_close_and_volume_does_not():
    raw = pd.read_csv(DATA / "AAPL.csv")
    table = read_price_table(DATA / "AAPL.csv")
    factor = raw["Adj Close"] / raw["Close"]
    for name in ("Open", "High", "Low", "Close"):
        np.testing.assert_allclose(table.frame[name], raw[name] * factor, rtol=1e-12)
    np.testing.assert_array_equal(table.frame["Volume"], raw["Volume"])
    assert list(table.frame.columns) == list(COLUMNS)
    assert table.read_as["prices"] == "adjusted by Adj Close / Close"


def test_an_adjusted_file_gets_no_split_warning():
    assert all(read_price_table(DATA / f"{name}.csv").warnings == [] for name in ("AAPL", "MSFT"))


def test_the_adj_close_header_is_found_in_any_case_and_spacing():
    data = b"date, OPEN,High,Low,Close,Volume, ADJ  close \n2024-01-02,10,12,8,10,100,5\n"
    frame = read_price_table(data).frame
    assert frame.iloc[0, 1:].tolist() == [5.0, 6.0, 4.0, 5.0, 100.0]


def test_a_missing_adj_close_on_a_day_with_prices_is_refused():
    data = b"Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,10,12,8,10,null,100\n"
    with pytest.raises(DataValidationError, match=r"missing value in column 'Adj Close', row 2"):
        read_price_table(data)


def test_training_reads_the_bundled_files_adjusted():
    frame = load_prices("AAPL", DATA, start="2000-06-01", end="2000-07-01")
    assert abs(np.log1p(close_to_close_return(frame, "2000-06-21"))) < 0.15


def test_a_yfinance_frame_with_adj_close_is_cached_adjusted_and_reads_back_unchanged(tmp_path):
    """`yf.download(auto_adjust=False)` adds Adj Close; the cache must match auto_adjust=True."""
    index = pd.date_range("2024-01-02", periods=40, freq="B", name="Date")
    close = np.where(np.arange(40) < 20, 200.0, 100.0)  # a 2:1 split on day 20
    raw = pd.DataFrame(
        {"Open": close, "High": close * 1.01, "Low": close * 0.99, "Close": close},
        index=index,
    ).assign(**{"Adj Close": 100.0, "Volume": 1000})
    frame = normalise_yfinance(raw, "AAPL")
    assert frame["Close"].tolist() == [100.0] * 40
    write_csv_atomic(frame, cache_path(tmp_path, "AAPL"))
    pd.testing.assert_frame_equal(load_prices("AAPL", tmp_path), frame)
