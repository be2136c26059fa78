"""The market a yfinance symbol trades on, from its suffix: `PETR4.SA` on B3, `VOD.L` in London,
`BTC-USD` every day.

Yahoo marks a listing's exchange with a suffix (none for US listings), so a ticker names its own
calendar: the sessions that decide which of its bars have closed, and that date the forecasts of a
model trained on it. The table covers the exchanges `exchange_calendars` knows; a symbol without
a known suffix keeps the configured calendar (`data.calendar`).
"""

from __future__ import annotations

from stockcast.inputs.calendars import ALWAYS_OPEN, DEFAULT_CALENDAR

# Yahoo suffix -> exchange_calendars name
SUFFIX_CALENDARS = {
    ".SA": "BVMF",  # B3, São Paulo
    ".L": "XLON",
    ".IL": "XLON",  # London's international order book
    ".TO": "XTSE",
    ".V": "XTSE",  # TSX Venture keeps Toronto's sessions
    ".DE": "XETR",
    ".F": "XFRA",
    ".PA": "XPAR",
    ".AS": "XAMS",
    ".BR": "XBRU",
    ".LS": "XLIS",
    ".MI": "XMIL",
    ".MC": "XMAD",
    ".SW": "XSWX",
    ".VI": "XWBO",
    ".IR": "XDUB",
    ".ST": "XSTO",
    ".HE": "XHEL",
    ".CO": "XCSE",
    ".OL": "XOSL",
    ".WA": "XWAR",
    ".PR": "XPRA",
    ".BD": "XBUD",
    ".AT": "ASEX",
    ".IS": "XIST",
    ".TA": "XTAE",
    ".SR": "XSAU",
    ".JO": "XJSE",
    ".T": "XTKS",
    ".HK": "XHKG",
    ".SS": "XSHG",
    ".SZ": "XSHG",  # Shenzhen keeps Shanghai's holidays
    ".KS": "XKRX",
    ".KQ": "XKRX",
    ".TW": "XTAI",
    ".SI": "XSES",
    ".KL": "XKLS",
    ".BK": "XBKK",
    ".JK": "XIDX",
    ".BO": "XBOM",
    ".NS": "XBOM",  # India's two exchanges share their holidays
    ".AX": "XASX",
    ".NZ": "XNZE",
    ".MX": "XMEX",
    ".SN": "XSGO",
    ".BA": "XBUE",
    ".LM": "XLIM",
    ".CL": "XBOG",
}
# crypto pairs (BTC-USD, ETH-EUR) trade every day; currency pairs (EURUSD=X) around the clock on
# weekdays
CRYPTO_QUOTES = ("USD", "USDT", "USDC", "EUR", "GBP", "JPY", "BTC", "ETH")
CURRENCY_SUFFIX, CURRENCY_CALENDAR = "=X", "24/5"


def symbol_calendar(ticker: str, default: str = DEFAULT_CALENDAR) -> str:
    """The calendar of yfinance symbol `ticker`: its suffix's market, else `default`."""
    symbol = ticker.strip().upper()
    if symbol.endswith(CURRENCY_SUFFIX):
        return CURRENCY_CALENDAR
    base, dash, quote = symbol.rpartition("-")
    if dash and base and quote in CRYPTO_QUOTES:
        return ALWAYS_OPEN
    base, dot, suffix = symbol.rpartition(".")
    if dot and base:
        return SUFFIX_CALENDARS.get(f".{suffix}", default)
    return default
