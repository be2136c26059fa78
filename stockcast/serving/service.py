"""From raw prediction requests to forecasts or precise refusals, independent of TorchServe.

The TorchServe handler is a thin adapter around this module, so everything a client can get wrong
(content type, upload field, CSV contents) is decided here, in plain Python that unit tests call
directly. A request becomes either a forecast dict (`Forecaster.predict_bars`, dated by the calendar
asked for in the `exchange` parameter or inferred from the rows, plus how the CSV was read:
`read_as`, `dropped_rows`, `warnings`) or a `RequestRejected` carrying the HTTP status,
the `{"error", "detail"}` body and a short `reason` label for the rejected-requests metric. One
batch is one forward pass; a bad request never takes its neighbours down with it.

A request may ask for several tickers at once (a CSV with a `Ticker` or `Symbol` column, or a
multipart request with several upload parts: `multi_ticker` says exactly what counts). Each ticker's
rows become an upload of their own and take the single-upload path unchanged, all tickers of all
requests of a batch in the same forward pass. Such a request answers 200 with
`{"tickers": n, "answered": ok, "failed": bad, "results": [...]}`, one entry per ticker in the
order tickers first appear: `{"ticker", "status": 200, ...the single-upload forecast's fields}` or
`{"ticker", "status": 4xx, "error", "detail", "reason"}`, whose status, error, detail and reason
are what the same rows uploaded alone would be refused with. It is 200 even when every ticker
failed: the request itself was understood, and each entry says what to fix. What is wrong with
the request as a whole (not a CSV, a wrong content type, a row without a ticker, past the limits
of `upload_limits`) is today's single error JSON with its 4xx.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stockcast.errors import DataValidationError
from stockcast.inputs.bars import Bars
from stockcast.inputs.calendar_choice import CalendarChoice, asked_calendar
from stockcast.inputs.validation import PriceTable
from stockcast.model.forecaster import Forecaster
from stockcast.serving.fast_csv import PlainUpload, read_upload
from stockcast.serving.multi_ticker import (
    TickerUpload,
    is_long_format,
    looks_like_prices,
    split_parts,
)

UPLOAD_FIELDS = ("data", "file")
RAW_BODY_FIELD = "body"  # the parameter name TorchServe gives a non-form request body
# A multipart field, or a query parameter where TorchServe passes the query on (/invocations;
# 0.12 drops it on /predictions), arrives as a parameter of its own; the handler adds the header.
CALENDAR_FIELD = "exchange"
# Media types a CSV arrives with: curl -T sends none, browsers label .csv files inconsistently.
CSV_MEDIA_TYPES = frozenset(
    {
        "",
        "text/csv",
        "text/plain",
        "text/x-csv",
        "application/csv",
        "application/x-csv",
        "application/octet-stream",
        "application/vnd.ms-excel",
    }
)
MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
logger = logging.getLogger(__name__)
Upload = PriceTable | PlainUpload  # a validated upload: `.bars` and `.notes()`
HOW_TO_SEND = (
    "send the CSV as the raw body (curl -T prices.csv URL, or -H 'Content-Type: text/csv' "
    "--data-binary @prices.csv) or as a multipart upload field 'data' "
    "(curl -F data=@prices.csv URL)"
)
# validation reasons that refuse a whole multi-ticker request: status and error
REQUEST_REASONS = {
    "too_many_tickers": (413, "too many tickers"),
    "missing_ticker": (400, "missing ticker"),
    "duplicate_ticker": (400, "duplicate ticker"),
}


class RequestRejected(Exception):
    """A request the service refuses: HTTP status, JSON body, and the metric's reason label."""

    def __init__(self, status: int, error: str, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.reason = status, error, detail, reason

    @property
    def body(self) -> dict[str, str]:
        """What the client reads: the problem in words (`error`, `detail`) and as a stable
        machine-readable code (`reason`, the metric's label; web/openapi.yaml lists them)."""
        return {"error": self.error, "detail": self.detail, "reason": self.reason}

    @property
    def entry(self) -> dict[str, str]:
        """A ticker's entry in a multi-ticker answer: the same fields as a refused request."""
        return self.body


@dataclass(frozen=True)
class CheckedUpload:
    """A validated upload and the calendar that dates its forecast."""

    table: Upload
    calendar: CalendarChoice

    @property
    def bars(self) -> Bars:
        return self.table.bars

    def notes(self) -> dict:
        """How the CSV was read (`read_as`, `dropped_rows`, `warnings`)."""
        return self.table.notes()


@dataclass(frozen=True)
class CheckedTickers:
    """A multi-ticker request's tickers, each with its validated upload or its rejection."""

    tickers: tuple[tuple[str, CheckedUpload | RequestRejected], ...]


Parsed = CheckedUpload | CheckedTickers | RequestRejected  # what one request parses to


@dataclass(frozen=True)
class Outcome:
    """What one request of a batch gets back: a forecast, a rejection, or (a multi-ticker
    request) each ticker's own outcome."""

    forecast: dict | None = None
    rejection: RequestRejected | None = None
    tickers: tuple[tuple[str, Outcome], ...] | None = None

    @property
    def status(self) -> int:
        return 200 if self.rejection is None else self.rejection.status

    @property
    def body(self) -> dict:
        if self.tickers is not None:
            return multi_ticker_body(self.tickers)
        return self.forecast if self.rejection is None else self.rejection.body

    def answers(self) -> tuple[Outcome, ...]:
        """The forecasts and refusals this request was answered with, one per ticker: itself,
        or each ticker's outcome (what the metrics count)."""
        return (self,) if self.tickers is None else tuple(answer for _, answer in self.tickers)


def multi_ticker_body(tickers: Sequence[tuple[str, Outcome]]) -> dict:
    """`{"tickers", "answered", "failed", "results"}`: each ticker's entry, in order."""
    results = [
        {"ticker": ticker, "status": 200, **answer.forecast}
        if answer.rejection is None
        else {"ticker": ticker, "status": answer.status, **answer.rejection.entry}
        for ticker, answer in tickers
    ]
    answered = sum(answer.rejection is None for _, answer in tickers)
    return {
        "tickers": len(results),
        "answered": answered,
        "failed": len(results) - answered,
        "results": results,
    }


def media_type(content_type: str | None) -> str:
    """`text/csv; charset=utf-8` -> `text/csv` (lower case, parameters dropped)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def extract_csv(fields: Mapping[str, Any], content_type: str | None) -> bytes:
    """The CSV bytes of one request, given its form fields / raw body and its Content-Type.

    `fields` maps parameter names to values as TorchServe passes them: a raw body arrives as
    `body`, a form as one entry per field. Values are bytes (or str when the server decoded text).
    """
    kind = media_type(content_type)
    if kind == URLENCODED:
        raise RequestRejected(
            415,
            "unsupported content type",
            f"'{URLENCODED}' mangles CSV text (curl -d sends it); {HOW_TO_SEND}",
            "unsupported_content_type",
        )
    if kind == MULTIPART:
        name = next((field for field in UPLOAD_FIELDS if field in fields), None)
        if name is None:
            found = ", ".join(repr(field) for field in fields if field != RAW_BODY_FIELD)
            raise RequestRejected(
                400,
                "missing upload field",
                "a multipart upload needs a file field named 'data' or 'file' "
                + (f"(found: {found})" if found else "(found no parts: is the boundary missing?)"),
                "missing_upload_field",
            )
        return _as_bytes(fields[name])
    if kind not in CSV_MEDIA_TYPES:
        raise RequestRejected(
            415,
            "unsupported content type",
            f"content type '{kind}' is not a CSV; {HOW_TO_SEND}",
            "unsupported_content_type",
        )
    return _as_bytes(fields.get(RAW_BODY_FIELD, b""))


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):  # the server decoded a text/* body already
        return value.encode("utf-8")
    raise RequestRejected(
        415,
        "unsupported content type",
        f"the body was decoded as {type(value).__name__}, not CSV text; {HOW_TO_SEND}",
        "unsupported_content_type",
    )


def asked_calendar_name(fields: Mapping[str, Any]) -> str | None:
    """The calendar the request names in its `exchange` parameter; None when absent or blank."""
    value = fields.get(CALENDAR_FIELD)
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    if not isinstance(value, str) or not value.strip():
        return None
    return value


def rejection_for(error: DataValidationError) -> RequestRejected:
    """Map a validation failure to a 400 (malformed upload), 413 (past the shape limits) or 422
    (well-formed but unusable, or an unknown calendar)."""
    message, reason = str(error), error.reason
    if reason == "unknown_calendar":
        return RequestRejected(422, "unknown calendar", message, reason)
    if reason == "too_large":
        return RequestRejected(413, "CSV too large", message, reason)
    if reason in ("empty_body", "not_utf8", "not_csv"):
        return RequestRejected(400, "not a CSV", message, reason)
    if reason == "missing_columns":
        return RequestRejected(400, "wrong columns", message, reason)
    if reason in REQUEST_REASONS:
        return RequestRejected(*REQUEST_REASONS[reason], message, reason)
    return RequestRejected(422, "invalid price data", message, reason)


def parse_request(
    forecaster: Forecaster, fields: Mapping[str, Any], content_type: str | None
) -> CheckedUpload:
    """Validated upload of one request with its calendar, or `RequestRejected` saying what to
    fix. An unknown calendar name is refused before the CSV is read."""
    return check_upload(forecaster, extract_csv(fields, content_type), asked_calendar_name(fields))


def check_upload(forecaster: Forecaster, source: bytes, asked: str | None) -> CheckedUpload:
    """One upload's CSV bytes validated, with the calendar `asked` for (by name, or None to infer
    it from the rows), or `RequestRejected`."""
    try:
        chosen = asked_calendar(asked) if asked is not None else None
        table = read_upload(source, forecaster.min_rows)  # a plain CSV fast, others by pandas
        # bar spacing and calendar, after the validator
        calendar = forecaster.check_bars(table.bars, chosen)
    except DataValidationError as error:
        raise rejection_for(error) from None
    return CheckedUpload(table, calendar)


def parse_any_request(
    forecaster: Forecaster, fields: Mapping[str, Any], content_type: str | None
) -> CheckedUpload | CheckedTickers:
    """One request, single- or multi-ticker (`multi_ticker`), validated: a single upload as
    `parse_request` gives it, or each ticker's upload or refusal; `RequestRejected` for what is
    wrong with the request as a whole."""
    parts = multi_ticker_parts(fields, content_type)
    if parts is None:
        return parse_request(forecaster, fields, content_type)
    asked = asked_calendar_name(fields)
    try:
        if asked is not None:
            asked_calendar(asked)  # an unknown name refuses the request before the CSV is read
        uploads = split_parts(parts)
    except DataValidationError as error:
        raise rejection_for(error) from None
    return CheckedTickers(
        tuple((upload.ticker, _checked_ticker(forecaster, upload, asked)) for upload in uploads)
    )


def _checked_ticker(
    forecaster: Forecaster, upload: TickerUpload, asked: str | None
) -> CheckedUpload | RequestRejected:
    try:
        return check_upload(forecaster, upload.body, asked)
    except RequestRejected as rejection:
        return rejection


def multi_ticker_parts(
    fields: Mapping[str, Any], content_type: str | None
) -> list[tuple[str, bytes]] | None:
    """The `(name, CSV bytes)` upload parts of a multi-ticker request; None for a single upload.

    Multi-ticker: several multipart upload parts, or one upload (the raw body, or the multipart
    `data`/`file` part) with a Ticker or Symbol column. Everything else, including every request
    `extract_csv` refuses, is left to the single-upload path and its messages.
    """
    if media_type(content_type) == MULTIPART:
        parts = [
            (name, _as_bytes(value))
            for name, value in fields.items()
            if name not in (CALENDAR_FIELD, RAW_BODY_FIELD)
            and isinstance(value, bytes | bytearray | str)
            and (name in UPLOAD_FIELDS or looks_like_prices(_as_bytes(value)))
        ]
        if len(parts) > 1:
            return parts
    try:
        body = extract_csv(fields, content_type)
    except RequestRejected:
        return None
    return [(RAW_BODY_FIELD, body)] if is_long_format(body) else None


def answer_batch(
    forecaster: Forecaster, requests: Sequence[tuple[Mapping[str, Any], str | None]]
) -> list[Outcome]:
    """Parse each `(fields, content_type)` request, then forecast all good ones in one pass.

    The one entry point for a batch: the TorchServe handler and the benchmarks call this.
    """
    return forecast_batch(forecaster, parse_batch(forecaster, requests))


def parse_batch(
    forecaster: Forecaster, requests: Sequence[tuple[Mapping[str, Any], str | None]]
) -> list[Parsed]:
    """Each `(fields, content_type)` request's validated upload (or uploads, one per ticker), or
    its rejection, in order."""
    parsed: list[Parsed] = []
    for fields, content_type in requests:
        try:
            parsed.append(parse_any_request(forecaster, fields, content_type))
        except RequestRejected as rejection:
            parsed.append(rejection)
    return parsed


def forecast_batch(forecaster: Forecaster, tables: Sequence[Parsed]) -> list[Outcome]:
    """Forecast every parsed table, every ticker of a multi-ticker request among them, in one
    forward pass; rejections pass through in place.

    Each forecast carries its table's notes (`read_as`, `dropped_rows`, `warnings`), so the
    client sees how its file was read next to what was forecast from it.
    """
    leaves = [
        leaf
        for item in tables
        for leaf in (
            [upload for _, upload in item.tickers] if isinstance(item, CheckedTickers) else [item]
        )
    ]
    answers = iter(_forecast_uploads(forecaster, leaves))
    return [
        Outcome(tickers=tuple((ticker, next(answers)) for ticker, _ in item.tickers))
        if isinstance(item, CheckedTickers)
        else next(answers)
        for item in tables
    ]


def _forecast_uploads(
    forecaster: Forecaster, tables: Sequence[CheckedUpload | RequestRejected]
) -> list[Outcome]:
    """Each upload's forecast (one forward pass for all), or its rejection passed through."""
    parsed = [item for item in tables if not isinstance(item, RequestRejected)]
    forecasts: list[Outcome] = []
    if parsed:
        try:
            predicted = forecaster.predict_bars(
                [table.bars for table in parsed], [table.calendar for table in parsed]
            )
            forecasts = [
                _checked(forecast | table.notes())
                for forecast, table in zip(predicted, parsed, strict=True)
            ]
        except Exception:  # a bug, not bad input: retry one by one so only the culprit fails
            forecasts = [_predict_alone(forecaster, table) for table in parsed]
    answers = iter(forecasts)
    return [
        Outcome(rejection=item) if isinstance(item, RequestRejected) else next(answers)
        for item in tables
    ]


def _predict_alone(forecaster: Forecaster, table: CheckedUpload) -> Outcome:
    try:
        forecast = forecaster.predict_bars([table.bars], [table.calendar])[0]
        return _checked(forecast | table.notes())
    except Exception as error:
        logger.exception("forecast failed for a validated frame")
        return Outcome(
            rejection=RequestRejected(
                500, "internal error", f"the forecast failed: {type(error).__name__}", "internal"
            )
        )


def _checked(forecast: dict) -> Outcome:
    """Refuse a forecast that overflowed (absurd prices) rather than emit invalid JSON."""
    backtest = forecast["backtest"]
    numbers = [backtest["predicted_close"], backtest["lower"], backtest["upper"]] + [
        value
        for step in forecast["forecast"]
        for value in (step["close"], step["lower"], step["upper"])
    ]
    if all(math.isfinite(value) for value in numbers):
        return Outcome(forecast=forecast)
    return Outcome(
        rejection=RequestRejected(
            422,
            "forecast not finite",
            "the prices are too extreme to forecast (the result overflows); check the units",
            "non_finite_forecast",
        )
    )
