"""The serving benchmark's second floor: stockcast's handler up to the forecast, and no further.

`make bench-serving` serves three archives with the same settings: the empty handler
(TorchServe's own cost), this one, and stockcast. This handler loads the archived forecaster as
stockcast's does and reads and checks every upload with the same code (`parse_batch`: the
content type, the CSV fast path or the reference validator, the bar spacing and calendar), then
answers `{"ok": true}`, or the same refusal stockcast gives. What it adds over the empty handler
is what every request pays before anything is forecast, every guarantee on input kept;
what stockcast adds over it is the forecast itself (windows, network, band, drift), the JSON
answer and the model metrics.
"""

from __future__ import annotations

from typing import Any

from stockcast_handler import StockcastHandler

from stockcast.serving.service import Outcome, RequestRejected, parse_batch

CHECKED = {"ok": True}


class ChecksHandler(StockcastHandler):
    """Reads and checks each upload of a batch; forecasts nothing and records no metrics."""

    def answer(self, requests: list[tuple[dict[str, Any], str | None]]) -> list[Outcome]:
        return [
            Outcome(rejection=item)
            if isinstance(item, RequestRejected)
            else Outcome(forecast=CHECKED)
            for item in parse_batch(self.forecaster, requests)
        ]

    def record(self, outcomes: list[Outcome], seconds: float) -> None:
        """Nothing: the model metrics belong to what a forecast costs."""
