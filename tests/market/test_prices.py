"""Market data: the CSV cache is used offline; yfinance is exercised offline through its own
`yf.download`, with only the per-ticker network fetch replaced by frames shaped as Yahoo's."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yfinance as yf

from stockcast.errors import DataSourceError, DataValidationError
from stockcast.inputs.validation import COLUMNS, read_ohlcv_csv
from stockcast.market.cache_record import ohlcv_sha256
from stockcast.market.prices import cache_path, load_prices, normalise_yfinance, write_csv_atomic

ROOT = Path(__file__).resolve().parents[2]


def yahoo_history_frame(
    periods: int = 60, freq: str = "B", tz: str = "America/New_York"
) -> pd.DataFrame:
    """What `Ticker.history(auto_adjust=True, actions=False)` returns: tz-aware index, adjusted OHLC."""
    name = "Date" if freq in ("B", "D") else "Datetime"
    index = pd.date_range(
        "2024-01-02 09:30" if name == "Datetime" else "2024-01-02",
        periods=periods,
        freq=freq,
        tz=tz,
        name=name,
    )
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, periods)))
    return pd.DataFrame(
        {
            "Open": close * 0.999,
            "High": close * 1.01,
            "Low": close * 0.99,
            "Close": close,
            "Volume": np.arange(periods, dtype="int64") * 1000 + 1000,
        },
        index=index,
    )


@pytest.fixture
def yahoo(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replace Yahoo's per-ticker fetch; `yf.download` itself (threads, MultiIndex) runs for real."""
    state: dict = {"frames": {}, "calls": []}

    def history(self, *args, **kwargs):
        state["calls"].append((self.ticker, kwargs))
        frame = state["frames"].get(self.ticker)
        if frame is None:
            return pd.DataFrame()
        # Yahoo's range: from `start`, up to but excluding `end`, in the exchange's time zone
        keep = np.ones(len(frame), dtype=bool)
        if kwargs.get("start"):
            keep &= frame.index >= pd.Timestamp(kwargs["start"], tz=frame.index.tz)
        if kwargs.get("end"):
            keep &= frame.index < pd.Timestamp(kwargs["end"], tz=frame.index.tz)
        return frame[keep].copy()

    monkeypatch.setattr(yf.base.TickerBase, "history", history)
    return state


def test_yf_download_returns_multiindex_columns(yahoo):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    raw = yf.download("AAPL", start="2024-01-01", progress=False, auto_adjust=True)
    assert isinstance(raw.columns, pd.MultiIndex)
    assert list(raw.columns.names) == ["Price", "Ticker"]


def test_tz_aware_daily_index_gives_the_same_dates(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    keep_tz = functools.partial(yf.download, ignore_tz=False)
    assert keep_tz("AAPL", progress=False).index.tz is not None
    aware = load_prices("AAPL", tmp_path / "aware", downloader=keep_tz)
    naive = load_prices("AAPL", tmp_path / "naive")
    pd.testing.assert_frame_equal(aware, naive)


def test_download_normalises_yfinance_frame_to_csv_schema(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    frame = load_prices("aapl", tmp_path)
    assert list(frame.columns) == list(COLUMNS)
    assert frame["Date"].iloc[0] == pd.Timestamp("2024-01-02")  # exchange-local calendar date
    assert frame["Date"].dt.tz is None
    written = (tmp_path / "AAPL.csv").read_text().splitlines()
    assert written[0] == "Date,Open,High,Low,Close,Volume"
    assert written[1].startswith("2024-01-02,")
    assert yahoo["calls"][0][1]["auto_adjust"] is True


def test_intraday_download_keeps_timestamps(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame(periods=40, freq="h")
    assert yf.download("AAPL", interval="1h", progress=False).index.tz is not None
    frame = load_prices("AAPL", tmp_path, interval="1h")
    assert cache_path(tmp_path, "AAPL", "1h").exists()
    assert frame["Date"].iloc[1] - frame["Date"].iloc[0] == pd.Timedelta(hours=1)
    assert "T10:30:00-05:00" in cache_path(tmp_path, "AAPL", "1h").read_text().splitlines()[2]


def test_existing_cache_is_read_without_network(yahoo, tmp_path):
    (tmp_path / "GOOG.csv").write_bytes((ROOT / "data" / "GOOG.csv").read_bytes())
    frame = load_prices("GOOG", tmp_path, start="2010-01-01", end="2010-12-31")
    assert yahoo["calls"] == []
    assert frame["Date"].min() >= pd.Timestamp("2010-01-01")
    assert frame["Date"].max() <= pd.Timestamp("2010-12-31")
    assert len(frame) == 252


def test_refresh_downloads_again_over_the_cache(yahoo, tmp_path):
    (tmp_path / "AAPL.csv").write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,1,1,1,1,1\n")
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    frame = load_prices("AAPL", tmp_path, refresh=True)
    assert len(frame) == 60 and len(yahoo["calls"]) == 1


def test_unknown_ticker_offline_gives_one_line_naming_ticker_and_file(yahoo, tmp_path):
    with pytest.raises(DataSourceError) as error:
        load_prices("NOPE", tmp_path)
    message = str(error.value)
    assert "'NOPE'" in message and str(tmp_path / "NOPE.csv") in message
    assert "\n" not in message
    assert not (tmp_path / "NOPE.csv").exists()


def test_corrupt_cache_is_refused_naming_the_file(yahoo, tmp_path):
    lines = (ROOT / "data" / "GOOG.csv").read_text().splitlines()
    (tmp_path / "GOOG.csv").write_text("\n".join(lines[:500]) + "\n2006-08-1")  # cut mid-row
    with pytest.raises(
        DataValidationError, match=r"GOOG.csv: row 501 has fewer fields.*data.refresh=true"
    ):
        load_prices("GOOG", tmp_path)


def test_empty_date_range_is_refused(tmp_path):
    (tmp_path / "GOOG.csv").write_bytes((ROOT / "data" / "GOOG.csv").read_bytes())
    with pytest.raises(DataValidationError, match="too few rows for GOOG between 2030-01-01"):
        load_prices("GOOG", tmp_path, start="2030-01-01", min_rows=10)


def test_atomic_write_keeps_the_previous_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "GOOG.csv"
    target.write_text("previous content\n")
    frame = read_ohlcv_csv(ROOT / "data" / "GOOG.csv")

    def crash_midway(self, handle, **kwargs):
        handle.write("Date,Open,High,Low,Close,Volume\n2004-08-19,100")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        write_csv_atomic(frame, target)
    assert target.read_text() == "previous content\n"
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind


def test_normalise_picks_the_requested_ticker_from_a_multi_ticker_frame():
    one, two = yahoo_history_frame(), yahoo_history_frame() * 2
    raw = pd.concat({"AAA": one, "BBB": two}, axis=1, names=["Ticker", "Price"]).swaplevel(
        0, 1, axis=1
    )
    frame = normalise_yfinance(raw, "bbb")
    assert frame["Close"].iloc[0] == pytest.approx(two["Close"].iloc[0])


def test_download_script_writes_each_ticker_and_reports_failures(yahoo, tmp_path, capsys):
    from importlib import util

    spec = util.spec_from_file_location("download_data", ROOT / "scripts" / "download_data.py")
    script = util.module_from_spec(spec)
    spec.loader.exec_module(script)
    yahoo["frames"]["MSFT"] = yahoo_history_frame()
    assert script.main(["MSFT", "NOPE", "--data-dir", str(tmp_path)]) == 2  # as train.py
    assert (tmp_path / "MSFT.meta.json").exists()
    assert read_ohlcv_csv(tmp_path / "MSFT.csv").shape == (60, 6)
    out, err = capsys.readouterr()
    assert "MSFT: 60 rows 2024-01-02..2024-03-25" in out
    assert err.startswith("error: NOPE: ") and err.count("\n") == 1


# --- what the cache records, and requests it does not cover ----------------------------------

# 2024-03-25 (a Monday, the sample's last bar) at 16:30 New York time: that session has closed
AFTER_CLOSE = pd.Timestamp("2024-03-25 16:30", tz="America/New_York")
DURING_SESSION = pd.Timestamp("2024-03-25 11:00", tz="America/New_York")


def test_a_download_records_what_the_cache_holds(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    load_prices("AAPL", tmp_path, start="2024-01-10", now=AFTER_CLOSE)
    record = json.loads((tmp_path / "AAPL.meta.json").read_text())
    assert record["ticker"] == "AAPL" and record["interval"] == "1d"
    assert (record["start"], record["end"]) == ("2024-01-10", "2024-03-25")
    assert (record["first_row"], record["last_row"], record["rows"]) == (
        "2024-01-10",
        "2024-03-25",
        54,
    )
    assert "dividends" in record["adjustment"] and record["source"].startswith("yfinance ")
    assert record["downloaded_at"] == AFTER_CLOSE.isoformat()


def test_end_is_inclusive_though_yahoo_excludes_it(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    frame = load_prices("AAPL", tmp_path, start="2024-01-02", end="2024-01-31", now=AFTER_CLOSE)
    assert yahoo["calls"][0][1]["end"] == "2024-02-01"  # the day after, for Yahoo
    assert frame["Date"].iloc[-1] == pd.Timestamp("2024-01-31")


def test_no_start_asks_yahoo_for_the_whole_history_not_its_default_month(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    load_prices("AAPL", tmp_path, now=AFTER_CLOSE)
    assert yahoo["calls"][0][1]["period"] == "max"


def test_a_request_beyond_the_cache_downloads_again_when_online(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    load_prices("AAPL", tmp_path, start="2024-02-01", end="2024-02-29", now=AFTER_CLOSE)
    frame = load_prices("AAPL", tmp_path, start="2024-01-15", end="2024-02-29", now=AFTER_CLOSE)
    assert len(yahoo["calls"]) == 2
    assert frame["Date"].iloc[0] == pd.Timestamp("2024-01-15")
    record = json.loads((tmp_path / "AAPL.meta.json").read_text())
    assert (record["start"], record["end"]) == ("2024-01-15", "2024-02-29")
    load_prices("AAPL", tmp_path, start="2024-01-20", end="2024-02-10", now=AFTER_CLOSE)
    assert len(yahoo["calls"]) == 2  # inside the cache: no network


def test_offline_a_request_beyond_the_cache_names_the_missing_days(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    load_prices("AAPL", tmp_path, start="2024-02-01", end="2024-02-29", now=AFTER_CLOSE)
    del yahoo["frames"]["AAPL"]  # offline from here
    with pytest.raises(DataSourceError) as error:
        load_prices("AAPL", tmp_path, start="2024-01-15", end="2024-03-08", now=AFTER_CLOSE)
    message = str(error.value)
    assert "holds 2024-02-01..2024-02-29" in message
    assert "missing 2024-01-15..2024-01-31 and 2024-03-01..2024-03-08" in message
    assert "\n" not in message


def test_offline_an_open_end_past_the_cache_trains_on_the_cache_and_says_what_is_missing(
    yahoo, tmp_path, caplog
):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    load_prices("AAPL", tmp_path, start="2024-01-02", end="2024-03-15", now=AFTER_CLOSE)
    del yahoo["frames"]["AAPL"]
    frame = load_prices("AAPL", tmp_path, start="2024-01-02", now=AFTER_CLOSE)
    assert frame["Date"].iloc[-1] == pd.Timestamp("2024-03-15")
    assert "missing 2024-03-16..2024-03-25" in caplog.text


def test_todays_bar_is_not_cached_before_the_close(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()  # its last bar: 2024-03-25, still trading
    during = load_prices("AAPL", tmp_path, start="2024-01-02", now=DURING_SESSION)
    assert during["Date"].iloc[-1] == pd.Timestamp("2024-03-22")  # Friday's close, not today's
    assert json.loads((tmp_path / "AAPL.meta.json").read_text())["end"] == "2024-03-22"
    after = load_prices("AAPL", tmp_path, start="2024-01-02", now=AFTER_CLOSE)
    assert after["Date"].iloc[-1] == pd.Timestamp("2024-03-25")  # downloaded again after 16:00


def test_an_unclosed_intraday_bar_is_left_out(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame(periods=40, freq="h")  # 2024-01-02 09:30..
    now = pd.Timestamp("2024-01-03 10:00", tz="America/New_York")
    frame = load_prices("AAPL", tmp_path, start="2024-01-02", interval="1h", now=now)
    assert frame["Date"].iloc[-1] == pd.Timestamp("2024-01-03 08:30", tz="America/New_York")


def test_a_csv_without_a_record_is_a_users_file_and_never_downloaded_over(yahoo, tmp_path):
    (tmp_path / "GOOG.csv").write_bytes((ROOT / "data" / "GOOG.csv").read_bytes())
    frame = load_prices("GOOG", tmp_path, start="2000-01-01", end="2030-01-01", now=AFTER_CLOSE)
    assert yahoo["calls"] == [] and len(frame) == 2148


def test_a_csv_anywhere_is_read_through_path(tmp_path):
    mine = tmp_path / "elsewhere" / "my prices.csv"
    mine.parent.mkdir()
    mine.write_bytes((ROOT / "data" / "GOOG.csv").read_bytes())
    frame = load_prices("MINE", tmp_path / "cache", path=mine, start="2010-01-01", end="2010-12-31")
    assert len(frame) == 252 and not (tmp_path / "cache").exists()
    with pytest.raises(DataSourceError, match="data.path=.*nope.csv is not a file"):
        load_prices("MINE", tmp_path, path=tmp_path / "nope.csv")


def test_the_fingerprint_changes_when_history_is_rewritten():
    frame = read_ohlcv_csv(ROOT / "data" / "GOOG.csv")
    adjusted = frame.assign(Close=frame["Close"] * 0.999)  # a dividend rescales earlier closes
    assert ohlcv_sha256(frame) == ohlcv_sha256(frame.copy())
    assert ohlcv_sha256(frame) != ohlcv_sha256(adjusted)


def bundled_sample(data_dir: Path, ticker: str = "AAPL") -> None:
    """The shipped sample and its record, as a fresh checkout holds them."""
    for name in (f"{ticker}.csv", f"{ticker}.meta.json"):
        (data_dir / name).write_bytes((ROOT / "data" / name).read_bytes())


def test_every_bundled_sample_has_a_record_of_what_it_covers():
    for csv in sorted((ROOT / "data").glob("*.csv")):
        record = json.loads((csv.with_suffix(".meta.json")).read_text())
        frame = read_ohlcv_csv(csv)
        assert record["source"].startswith("bundled sample"), csv.name
        assert record["ticker"] == csv.stem and record["rows"] == len(frame)
        assert (record["start"], record["end"]) == (
            f"{frame['Date'].iloc[0]:%Y-%m-%d}",
            f"{frame['Date'].iloc[-1]:%Y-%m-%d}",
        )


def test_a_bundled_sample_asked_for_no_dates_is_trained_on_as_it_is(yahoo, tmp_path):
    bundled_sample(tmp_path)
    frame = load_prices("AAPL", tmp_path, now=AFTER_CLOSE)
    assert yahoo["calls"] == [] and len(frame) == 3270


def test_a_request_beyond_a_bundled_sample_downloads_when_online(yahoo, tmp_path):
    bundled_sample(tmp_path)
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    frame = load_prices("AAPL", tmp_path, start="2024-01-02", now=AFTER_CLOSE, min_rows=59)
    assert len(yahoo["calls"]) == 1
    assert frame["Date"].iloc[0] == pd.Timestamp("2024-01-02") and len(frame) == 60
    record = json.loads((tmp_path / "AAPL.meta.json").read_text())
    assert record["source"].startswith("yfinance") and record["end"] == "2024-03-25"


def test_offline_a_request_after_a_bundled_sample_names_the_missing_days(yahoo, tmp_path):
    bundled_sample(tmp_path)
    with pytest.raises(DataSourceError) as error:
        load_prices("AAPL", tmp_path, start="2015-01-01", now=AFTER_CLOSE, min_rows=59)
    message = str(error.value)
    assert "holds 2000-03-01..2013-03-01 (3270 rows, the bundled sample" in message
    assert "missing 2013-03-02..2024-03-25" in message and "\n" not in message
    assert (tmp_path / "AAPL.csv").read_bytes() == (ROOT / "data" / "AAPL.csv").read_bytes()


def test_offline_an_open_end_past_a_bundled_sample_trains_on_it_and_says_what_is_missing(
    yahoo, tmp_path, caplog
):
    bundled_sample(tmp_path)
    frame = load_prices("AAPL", tmp_path, start="2012-01-03", now=AFTER_CLOSE)
    assert frame["Date"].iloc[0] == pd.Timestamp("2012-01-03")
    assert frame["Date"].iloc[-1] == pd.Timestamp("2013-03-01")
    assert "missing 2013-03-02..2024-03-25" in caplog.text


def unreachable_yahoo(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: every request yfinance makes fails in libcurl, as it does offline."""
    from curl_cffi.requests import Session
    from curl_cffi.requests.exceptions import DNSError

    def request(self, *args, **kwargs):
        raise DNSError(
            "Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com. "
            "See https://curl.se/libcurl/c/libcurl-errors.html first for more details.",
            6,
        )

    monkeypatch.setattr(Session, "request", request)


@pytest.mark.parametrize("ticker", ["AAPL", "MSFT", "NOPE"])
def test_offline_a_download_says_yahoo_could_not_be_reached_not_that_the_ticker_is_delisted(
    monkeypatch, tmp_path, ticker
):
    unreachable_yahoo(monkeypatch)
    with pytest.raises(DataSourceError) as error:
        load_prices(ticker, tmp_path)
    message = str(error.value)
    assert "Yahoo Finance could not be reached (Could not resolve host: " in message
    assert "delisted" not in message and "DNSError(" not in message and "\n" not in message


def test_a_download_records_the_calendar_of_its_market(yahoo, tmp_path):
    yahoo["frames"]["PETR4.SA"] = yahoo_history_frame(tz="America/Sao_Paulo")
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    now = pd.Timestamp("2024-03-27 12:00", tz="UTC")
    load_prices("PETR4.SA", tmp_path, start="2024-01-10", now=now)
    load_prices("AAPL", tmp_path, start="2024-01-10", now=now)
    assert json.loads((tmp_path / "PETR4.SA.meta.json").read_text())["calendar"] == "BVMF"
    assert json.loads((tmp_path / "AAPL.meta.json").read_text())["calendar"] == "XNYS"


def test_a_record_written_before_calendars_were_kept_still_reads(yahoo, tmp_path):
    yahoo["frames"]["AAPL"] = yahoo_history_frame()
    load_prices("AAPL", tmp_path, start="2024-01-10", now=AFTER_CLOSE)
    record = tmp_path / "AAPL.meta.json"
    old = json.loads(record.read_text())
    del old["calendar"]
    record.write_text(json.dumps(old))
    frame = load_prices("AAPL", tmp_path, start="2024-01-10", end="2024-03-25", now=AFTER_CLOSE)
    assert len(frame) == 54 and len(yahoo["calls"]) == 1  # the cache served it
