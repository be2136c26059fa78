"""The exceptions a person may see: each carries a one-line message that says what to fix."""


class StockcastError(Exception):
    """Base class; the CLI prints `error: <message>` for these instead of a traceback."""


class DataValidationError(StockcastError, ValueError):
    """An OHLCV table is malformed (which column, which row, how many rows are needed)."""


class DataSourceError(StockcastError):
    """Market data could not be found locally nor downloaded."""
