"""TorchServe stopped and started again on the same model store serves the same model version
with byte-identical answers: nothing a forecast depends on lives in the server's memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from stockcast.app.layout import ProjectLayout
from stockcast.stack.torchserve import LocalTorchServe, Ports

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)


def answers(server: LocalTorchServe, bodies: list[bytes]) -> list[tuple[int, bytes]]:
    """Status and raw response bytes for each body, sent one at a time (a batch of one each)."""
    replies = []
    for body in bodies:
        response = requests.post(
            server.prediction_url, data=body, headers={"Content-Type": "text/csv"}, timeout=30
        )
        replies.append((response.status_code, response.content))
    return replies


def test_a_restarted_server_gives_the_same_version_and_the_same_bytes(
    packaged_mar: Path, tmp_path: Path
) -> None:
    lines = (ROOT / "data" / "GOOG.csv").read_bytes().splitlines(keepends=True)
    bodies = [
        b"".join(lines),  # the whole sample
        b"".join(lines[:1] + lines[-40:]),  # a short tail
        b"".join(lines[:1] + lines[500:900]),  # a different period
        b"".join(lines[:5]),  # too few rows: the refusal must repeat too
    ]
    seen = []
    for run in ("before", "after"):
        server = LocalTorchServe.start(
            LAYOUT, packaged_mar.parent, tmp_path / run, ports=Ports.free()
        )
        try:
            seen.append((server.describe()["modelVersion"], answers(server, bodies)))
        finally:
            server.stop()
    (version_before, replies_before), (version_after, replies_after) = seen
    assert version_after == version_before
    assert replies_after == replies_before
    assert [status for status, _ in replies_before] == [200, 200, 200, 422]
