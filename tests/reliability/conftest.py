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

from stockcast.app.layout import ProjectLayout
from stockcast.stack.torchserve import LocalTorchServe, Ports

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="session")
def load_csv() -> bytes:
    """What the load tests send: the rows the soak and benchmark scripts send."""
    return LAYOUT.sample_upload()


@pytest.fixture(scope="session")
def dedicated_torchserve(
    packaged_mar: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalTorchServe]:
    """A second real TorchServe with the packaged model, for tests that load or kill workers."""
    server = LocalTorchServe.start(
        LAYOUT,
        packaged_mar.parent,
        tmp_path_factory.mktemp("dedicated_torchserve"),
        ports=Ports.free(),
    )
    yield server
    server.stop()
