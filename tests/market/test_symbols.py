"""A yfinance symbol names its market: its suffix decides the calendar of its bars and model."""

from __future__ import annotations

import pytest

from stockcast.errors import DataValidationError
from stockcast.inputs.calendars import ALWAYS_OPEN, calendar_names, resolve_calendar
from stockcast.market.symbols import SUFFIX_CALENDARS, symbol_calendar
from stockcast.training.datamodule import StockDataModule


@pytest.mark.parametrize(
    ("ticker", "calendar"),
    [
        ("PETR4.SA", "BVMF"),
        ("vale3.sa", "BVMF"),
        ("VOD.L", "XLON"),
        ("SAP.DE", "XETR"),
        ("7203.T", "XTKS"),
        ("0700.HK", "XHKG"),
        ("RY.TO", "XTSE"),
        ("BHP.AX", "XASX"),
        ("BTC-USD", ALWAYS_OPEN),
        ("ETH-EUR", ALWAYS_OPEN),
        ("EURUSD=X", "24/5"),
        ("GOOG", "XNYS"),
        ("BRK-B", "XNYS"),  # a US share class, not a crypto pair
        ("^GSPC", "XNYS"),
        ("ABC.ZZ", "XNYS"),  # an unknown suffix keeps the configured calendar
    ],
)
def test_a_symbols_suffix_names_its_calendar(ticker, calendar):
    assert symbol_calendar(ticker) == calendar


def test_a_symbol_without_a_suffix_keeps_the_configured_calendar():
    assert symbol_calendar("SHEL", default="XLON") == "XLON"
    assert symbol_calendar("PETR4.SA", default="XLON") == "BVMF"


def test_every_mapped_calendar_is_one_exchange_calendars_knows():
    for calendar in SUFFIX_CALENDARS.values():
        assert resolve_calendar(calendar) in calendar_names()


def test_a_b3_ticker_trains_a_model_dated_by_b3(tmp_path):
    assert StockDataModule(ticker="PETR4.SA", data_dir=str(tmp_path)).calendar == "BVMF"
    assert StockDataModule(ticker="BTC-USD", data_dir=str(tmp_path)).calendar == ALWAYS_OPEN


def test_tickers_on_several_markets_keep_each_its_own_and_the_model_the_firsts(tmp_path):
    datamodule = StockDataModule(tickers=["VALE3.SA", "GOOG"], data_dir=str(tmp_path))
    assert datamodule.calendars == {"VALE3.SA": "BVMF", "GOOG": "XNYS"}
    assert datamodule.calendar == "BVMF"


def test_an_unknown_configured_calendar_is_still_refused(tmp_path):
    with pytest.raises(DataValidationError, match="unknown exchange calendar 'XNYZ'"):
        StockDataModule(ticker="GOOG", data_dir=str(tmp_path), calendar="XNYZ")
