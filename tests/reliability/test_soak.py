"""Under sustained load at concurrency 16 the service fails nothing, does not slow down and does
not leak: the short version of `python -m stockcast.bench soak --duration 300`."""

from __future__ import annotations

import pytest

from stockcast.bench.soak import soak
from stockcast.stack.torchserve import LocalTorchServe

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_half_a_minute_at_concurrency_16_fails_nothing_and_neither_slows_nor_leaks(
    dedicated_torchserve: LocalTorchServe, load_csv: bytes
) -> None:
    """Warm-up excluded; p95 of the last 10 s (or of the 10 s before: one burst on this shared
    machine is forgiven) within 1.5x of the first 10 s; worker RSS growth under 10%."""
    report = soak(
        dedicated_torchserve,
        load_csv,
        duration_s=30,
        concurrency=16,
        warmup_s=5,
        # No request bound: the duration ends the run. A fixed bound was reached in under 30 s
        # on a faster machine (about 690 requests/s), which a soak rightly refuses to judge.
    )
    print(report.summary())
    assert report.problems() == []
    assert len(report.samples) > 16 * 35  # the load really ran: more than one request a second each
