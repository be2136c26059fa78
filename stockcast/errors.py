"""The exceptions a person may see: each carries a one-line message that says what to fix."""


class StockcastError(Exception):
    """Base class; the CLI prints `error: <message>` for these instead of a traceback."""


class DataValidationError(StockcastError, ValueError):
    """An OHLCV table is malformed (which column, which row, how many rows are needed).

    `reason` is a short machine label (`missing_columns`, `non_finite`, ...): the server picks the
    HTTP status and counts rejections by it, so the wording of the message stays free.
    """

    def __init__(self, message: str, reason: str = "invalid_csv") -> None:
        super().__init__(message)
        self.reason = reason


class LifecycleError(StockcastError):
    """A version change that cannot go ahead; the message says what to do."""


class DataSourceError(StockcastError):
    """Market data could not be found locally nor downloaded."""
