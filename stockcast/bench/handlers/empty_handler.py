"""The floor of the serving benchmark: a TorchServe handler that answers `{"ok": true}` and nothing else.

`make bench-serving` archives it with the same model-config.yaml and serves it with the same
config.properties as the stockcast archive, so the difference between the two servers' figures is
what stockcast's own work costs a request: TorchServe's frontend, its socket hop to the Python
worker and the batching are paid by both.
"""

from __future__ import annotations

from typing import Any

OK = b'{"ok": true}'


class EmptyHandler:
    """Reads nothing, loads nothing: one constant JSON reply per request of the batch."""

    def __init__(self) -> None:
        self.initialized = False

    def initialize(self, context: Any) -> None:
        self.initialized = True

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[bytes]:
        for idx in range(len(data)):
            context.set_response_content_type(idx, "application/json")
        return [OK] * len(data)
