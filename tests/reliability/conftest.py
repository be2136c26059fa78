"""Reliability fixtures: a TorchServe of this folder's own, and the CSV the load tests send.

The worker-kill test replaces a worker, and a killed worker's metric series stays in the scrape
forever, so the kill and the soak run on `dedicated_torchserve`, never on the session's shared
`torchserve` (whose worker set tests/serving/test_handler_metrics.py checks). Helpers live here
because the suite runs with `--import-mode=importlib`, where test modules cannot import siblings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockcast.local_torchserve import LocalTorchServe, Ports

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "GOOG.csv"


def sample_tail(rows: int) -> bytes:
    """The header and the last `rows` rows of the bundled GOOG sample."""
    lines = SAMPLE.read_text().splitlines()
    return ("\n".join([lines[0], *lines[-rows:]]) + "\n").encode()


@pytest.fixture(scope="session")
def load_csv() -> bytes:
    """What the load tests send: 250 rows, as scripts/benchmark_serving.py does."""
    return sample_tail(250)


@pytest.fixture(scope="session")
def dedicated_torchserve(
    packaged_mar: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalTorchServe]:
    """A second real TorchServe with the packaged model, for tests that load or kill workers."""
    server = LocalTorchServe.start(
        packaged_mar.parent, tmp_path_factory.mktemp("dedicated_torchserve"), ports=Ports.free()
    )
    yield server
    server.stop()
