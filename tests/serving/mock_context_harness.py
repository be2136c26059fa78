"""Run the archived handler in a fresh interpreter with a stand-in TorchServe context.

    python mock_context_harness.py <extracted .mar dir> <csv file>

Prints one JSON object: which `stockcast` the handler imported, each reply's status and body,
and the metrics it emitted. A subprocess, so the test's own (installed) `stockcast` cannot leak in.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace


class RecordingMetric:
    def __init__(self, name: str, sink: list) -> None:
        self.name, self.sink = name, sink

    def add_or_update(self, value: float, dimension_values: list) -> None:
        self.sink.append([self.name, value, dimension_values])


def main(model_dir: Path, csv_path: Path) -> None:
    emitted: list = []
    statuses: dict[int, int] = {}
    headers = [{"Content-Type": "text/csv"}, {"content-type": "text/csv"}]
    context = SimpleNamespace(
        system_properties={"model_dir": str(model_dir)},
        manifest=json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text()),
        metrics=SimpleNamespace(get_metric=lambda name, kind: RecordingMetric(name, emitted)),
        get_all_request_header=lambda idx: headers[idx],
        set_response_status=lambda code, phrase, idx: statuses.__setitem__(idx, code),
        set_response_content_type=lambda idx, value: None,
    )
    sys.path.insert(0, str(model_dir))
    import stockcast_handler

    handler = stockcast_handler.StockcastHandler()
    handler.initialize(context)
    replies = handler.handle([{"body": csv_path.read_bytes()}, {"body": b""}], context)
    print(
        json.dumps(
            {
                "stockcast_file": sys.modules["stockcast"].__file__,
                "statuses": [statuses[i] for i in range(len(replies))],
                "bodies": [json.loads(reply) for reply in replies],
                "metrics": emitted,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
