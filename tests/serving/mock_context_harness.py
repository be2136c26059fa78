"""Run the archived handler in a fresh interpreter with a stand-in TorchServe context.

    python mock_context_harness.py <extracted .mar dir> <csv file>

Prints one JSON object: which `stockcast` the handler imported, each reply's status and body,
and the metrics it emitted (read back from the metric lines it wrote, as TorchServe's frontend
reads them). The context is a stand-in; its metric cache is TorchServe's own, loaded from the
archive's metrics.yaml. A subprocess, so the test's own (installed) `stockcast` cannot leak in.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl


class MetricLines(logging.Handler):
    """Collects `[name, value, dimension values]` from each `[METRICS]` line logged."""

    def __init__(self, sink: list) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        for line in record.getMessage().splitlines():
            head, dimensions = line.removeprefix("[METRICS]").split("|#")[:2]
            name_and_unit, value = head.rsplit(":", 1)
            values = [pair.split(":", 1)[1] for pair in dimensions.split(",")]
            self.sink.append([name_and_unit.rsplit(".", 1)[0], float(value), values])


def main(model_dir: Path, csv_path: Path) -> None:
    emitted: list = []
    cache = MetricsCacheYamlImpl(str(model_dir / "metrics.yaml"))
    cache.initialize_cache()
    logging.getLogger("ts.metrics").addHandler(MetricLines(emitted))
    logging.getLogger("ts.metrics").setLevel(logging.INFO)
    statuses: dict[int, int] = {}
    headers = [{"Content-Type": "text/csv"}, {"content-type": "text/csv"}]
    context = SimpleNamespace(
        system_properties={"model_dir": str(model_dir)},
        manifest=json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text()),
        metrics=cache,
        get_all_request_header=lambda idx: headers[idx],
        set_response_status=lambda code, phrase, idx: statuses.__setitem__(idx, code),
        set_response_content_type=lambda idx, value: None,
    )
    sys.path.insert(0, str(model_dir))
    import stockcast_handler

    handler = stockcast_handler.StockcastHandler()
    handler.initialize(context)
    replies = handler.handle([{"body": csv_path.read_bytes()}, {"body": b""}], context)
    handler.metrics.flush()  # what the worker's flushing thread writes within 0.1 s
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
