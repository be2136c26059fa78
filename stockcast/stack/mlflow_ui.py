"""An MLflow web app run beside the caller: started in a process group of its own, waited for
until it answers, stopped with every worker it forked.

What the tests that drive a real one share: `make mlflow`'s UI on a store of tracked runs (its
browser test) and the team's `mlflow server` (the tracking-server test).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

from stockcast.stack.torchserve import stop_process_group

# MLflow's liveness endpoint: 200 once the app answers requests
HEALTH = "/health"


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Block until the app at `url` answers its health check; fail with its log's tail when the
    process exits or `timeout_s` passes first (its first start creates the store's tables)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"MLflow exited during start-up:\n{log_tail(log)}")
        try:
            if requests.get(f"{url}{HEALTH}", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or too busy to answer
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"MLflow not healthy after {timeout_s:.0f} s:\n{log_tail(log)}")
        time.sleep(0.5)


@contextmanager
def running(
    command: Sequence[str],
    url: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 180.0,
) -> Iterator[str]:
    """`command` (an MLflow app serving `url`) started in a process group of its own, its output
    in `log`; yields `url` once healthy, and stops the whole group (gunicorn or uvicorn and
    their workers) on the way out."""
    with log.open("w") as output:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_healthy(url, process, log, timeout_s)
            yield url
        finally:
            stop_process_group(process.pid, timeout_s=10)


def log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.is_file() else ""
