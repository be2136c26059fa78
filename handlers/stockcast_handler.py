"""TorchServe handler for stockcast: CSV prices in, JSON forecast out, one forward pass per batch.

The .mar carries its own copy of the `stockcast` package next to this file, and this module puts
that copy first on `sys.path` before importing it: an archive keeps serving exactly the code it
was packaged with, whatever is (or is not) installed in the serving environment. All request
logic lives in `stockcast.serving.service`; this class only adapts TorchServe's batch protocol to it,
sets each request's own status (a bad upload never fails its batch neighbours, which a raised
`PredictionException` would) and emits the metrics declared in torchserve/metrics.yaml.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any

ARCHIVE_DIR = Path(__file__).resolve().parent
if sys.path[0] != str(ARCHIVE_DIR):
    sys.path.insert(0, str(ARCHIVE_DIR))

import orjson  # noqa: E402
import torch  # noqa: E402

import stockcast  # noqa: E402
from stockcast.model.forecaster import Forecaster  # noqa: E402
from stockcast.serving.prometheus_metrics import HandlerMetrics  # noqa: E402
from stockcast.serving.service import CALENDAR_FIELD, Outcome, answer_batch  # noqa: E402

logger = logging.getLogger(__name__)
JSON = "application/json"
# TorchServe 0.12 drops the query string of /predictions requests before the handler, so the
# calendar may also be asked for in this header (or a multipart field, or /invocations' query).
CALENDAR_HEADER = "exchange"


class StockcastHandler:
    """Loads the archived Forecaster once per worker and answers batches of CSV uploads."""

    def __init__(self) -> None:
        self.forecaster: Forecaster | None = None
        self.metrics: HandlerMetrics | None = None
        self.initialized = False

    def initialize(self, context: Any) -> None:
        model_dir = Path(context.system_properties["model_dir"]).resolve()
        package_dir = Path(stockcast.__file__).resolve().parent
        if package_dir.parent != model_dir:
            raise RuntimeError(
                f"imported stockcast from {package_dir}, not the archived copy in {model_dir}"
            )
        # One intra-op thread per worker: workers are the parallelism, and a batch of a few
        # 30-step windows is far too small to gain from more threads on a shared CPU.
        torch.set_num_threads(1)
        manifest = context.manifest["model"]
        self.forecaster = Forecaster.load(model_dir)
        self.forecaster.info["version"] = manifest["modelVersion"]
        self.metrics = HandlerMetrics(
            context.metrics,
            manifest["modelName"],
            manifest["modelVersion"],
            self.forecaster.calibration.level,
        )
        self.metrics.record_worker_health(force=True)
        self.metrics.start_flushing()
        # Everything loaded so far (torch, pandas, the calendar, the weights) lives as long as
        # the worker: moved out of the collector's generations, a full collection no longer
        # walks it, which otherwise adds milliseconds to whichever request triggers one.
        gc.collect()
        gc.freeze()
        self.initialized = True
        logger.info(
            "stockcast %s loaded from %s (%s)",
            manifest["modelVersion"],
            model_dir,
            self.forecaster.info.get("trained_on"),
        )

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[bytes]:
        """One reply per request, in order; each request gets its own HTTP status."""
        started = time.perf_counter()
        requests = [_request(fields, context, idx) for idx, fields in enumerate(data)]
        outcomes = self.answer(requests)
        replies = []
        for idx, outcome in enumerate(outcomes):
            context.set_response_status(outcome.status, HTTPStatus(outcome.status).phrase, idx)
            context.set_response_content_type(idx, JSON)
            # orjson: ~10x faster than json.dumps on a forecast, the same text but for spaces
            replies.append(orjson.dumps(outcome.body, option=orjson.OPT_SERIALIZE_NUMPY))
        self.record(outcomes, time.perf_counter() - started)
        return replies

    def answer(self, requests: list[tuple[dict[str, Any], str | None]]) -> list[Outcome]:
        """A batch's outcomes: `answer_batch`, the one entry point of the service."""
        return answer_batch(self.forecaster, requests)

    def record(self, outcomes: list[Outcome], seconds: float) -> None:
        """The batch's metrics (`HandlerMetrics.record_batch`)."""
        self.metrics.record_batch(outcomes, seconds)


def _request(fields: dict[str, Any], context: Any, idx: int) -> tuple[dict[str, Any], str | None]:
    """The request's fields and its Content-Type header, whatever case the client wrote it in;
    an `Exchange` header joins the fields as `exchange` unless a field already names one."""
    content_type = None
    for name, value in context.get_all_request_header(idx).items():
        if not isinstance(value, str):
            continue
        key = name.lower()
        if key == "content-type":
            content_type = value
        elif key == CALENDAR_HEADER and CALENDAR_FIELD not in fields:
            fields = {**fields, CALENDAR_FIELD: value}
    return fields, content_type
