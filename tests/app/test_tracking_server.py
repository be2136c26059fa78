"""The team set-up, for real: an `mlflow server` on a PostgreSQL backend store (Debian's
`postgresql`, a cluster of its own on a free loopback port) behind MLflow's basic-auth app takes a
train.py run from a user with credentials, gives its params, losses and figures back, and refuses
a client without them."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from mlflow import MlflowClient

from stockcast.app.tracking import OUTPUT_DIR_TAG
from stockcast.stack.mlflow_ui import running
from stockcast.stack.torchserve import free_port

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
DB_USER, DB_PASSWORD = "mlflow", "db-secret"
ADMIN, ADMIN_PASSWORD = "admin", "admin-secret-1234"
USER, PASSWORD = "forecaster", "forecaster-secret-1234"
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def postgres_program(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, else where Debian's package puts it."""
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if isinstance(found, list):
        return found[-1] if found else None
    return found


@dataclass(frozen=True)
class Postgres:
    port: int

    def uri(self, database: str) -> str:
        return f"postgresql://{DB_USER}:{DB_PASSWORD}@{HOST}:{self.port}/{database}"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster of its own in a temporary directory, password authentication, on a
    free loopback port only (no Unix socket); as the `postgres` user when run as root (the
    server refuses root)."""
    initdb, pg_ctl = postgres_program("initdb"), postgres_program("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL missing: `make system-deps` installs Debian's postgresql")
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    as_owner = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {}
    home = Path(tempfile.mkdtemp(prefix="stockcast-postgres-"))
    if owner:
        os.chown(home, owner.pw_uid, owner.pw_gid)
    password_file = home / "password"
    password_file.write_text(DB_PASSWORD)
    if owner:
        os.chown(password_file, owner.pw_uid, owner.pw_gid)
    data = home / "data"
    subprocess.run(
        [initdb, "-D", str(data), "-U", DB_USER, "--auth=scram-sha-256"]
        + [f"--pwfile={password_file}"],
        check=True,
        capture_output=True,
        **as_owner,
    )
    port = free_port()
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(f"listen_addresses = '{HOST}'\nport = {port}\nunix_socket_directories = ''\n")
    log = home / "postgres.log"
    subprocess.run(
        [pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"],
        check=True,
        capture_output=True,
        **as_owner,
    )
    try:
        server = Postgres(port)
        # CREATE DATABASE runs outside a transaction
        with psycopg.connect(server.uri("postgres"), autocommit=True) as connection:
            connection.execute("CREATE DATABASE mlflow")
            connection.execute("CREATE DATABASE mlflow_auth")
        yield server
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, **as_owner
        )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def tracking_server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server --app-name basic-auth` on PostgreSQL (runs and users in two databases),
    artifacts proxied to a local folder, on a free loopback port; its URL."""
    home = tmp_path_factory.mktemp("mlflow-server")
    auth_config = home / "basic_auth.ini"
    auth_config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {postgres.uri('mlflow_auth')}\n"
        f"admin_username = {ADMIN}\n"
        f"admin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_config),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth"]
    command += ["--backend-store-uri", postgres.uri("mlflow")]
    command += ["--artifacts-destination", str(home / "artifacts")]
    command += ["--host", HOST, "--port", str(port), "--workers", "1"]
    with running(command, f"http://{HOST}:{port}", home / "server.log", env=env, cwd=home) as url:
        yield url


def test_a_user_with_credentials_tracks_a_training_and_a_client_without_is_refused(
    tracking_server, tmp_path
):
    url = tracking_server
    created = requests.post(
        f"{url}/api/2.0/mlflow/users/create",
        json={"username": USER, "password": PASSWORD},
        auth=(ADMIN, ADMIN_PASSWORD),
        timeout=30,
    )
    assert created.status_code == 200, created.text
    credentials = {
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_TRACKING_USERNAME": USER,
        "MLFLOW_TRACKING_PASSWORD": PASSWORD,
    }
    result = subprocess.run(
        [sys.executable, "train.py", "trainer.max_epochs=2", "model.net.hidden_size=16"]
        + ["trainer.enable_progress_bar=false", "refit=false", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        env={**os.environ, **credentials},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    os.environ.update(MLFLOW_TRACKING_USERNAME=USER, MLFLOW_TRACKING_PASSWORD=PASSWORD)
    try:
        client = MlflowClient(url)
        experiment = client.get_experiment_by_name("train")
        (run,) = client.search_runs(
            [experiment.experiment_id], f"tags.`{OUTPUT_DIR_TAG}` = '{tmp_path}'"
        )
        metrics = json.loads((tmp_path / "metrics.json").read_text())
        assert run.info.status == "FINISHED"
        assert run.data.params["model.net.hidden_size"] == "16"
        assert run.data.metrics["test/rel_mae"] == pytest.approx(metrics["test/rel_mae"])
        assert len(client.get_metric_history(run.info.run_id, "val/loss")) == 2
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"metrics.json", "forecast.png", ".hydra"} <= artifacts
    finally:
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(name, None)

    search = f"{url}/api/2.0/mlflow/experiments/search"
    anonymous = requests.post(search, json={"max_results": 10}, timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    wrong = requests.post(search, json={"max_results": 10}, auth=(USER, "wrong"), timeout=30)
    assert wrong.status_code == 401
    allowed = requests.post(search, json={"max_results": 10}, auth=(USER, PASSWORD), timeout=30)
    assert allowed.status_code == 200
