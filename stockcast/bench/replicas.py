"""Serving replicas behind a load balancer on loopback: `make bench-replicas`.

Each replica is the serving image (`make image`) run as the Kubernetes manifest runs it (its user,
read-only root, dropped capabilities, emptyDirs and generated TorchServe config, from
stockcast/stack/kubernetes.py), on loopback ports of its own and pinned to cores of its own. In
front of them, Debian's HAProxy plays the Service and the pod's gateway at once: it checks the
shared inference key, balances to the replica with the fewest requests in flight, health-checks
each replica's /ping every half second, and retries on another replica a request a stopped one
refused or dropped.

A replica takes requests once its model has a READY worker, the condition of the pod's readiness
probe (TorchServe's /ping is Healthy seconds before); the benchmark, playing Kubernetes' endpoint
controller, puts it into the balancer then through HAProxy's runtime API.

Measured, with wrk POSTing the bundled CSV through the balancer:
- throughput and latency with one replica and with two, at each concurrency;
- a rolling restart by hand under load: each replica in turn stopped and started again, once left
  to the balancer's health checks alone and once drained first through HAProxy's runtime API (what
  Kubernetes does by removing the endpoint); every failed request (non-2xx, socket error) counted.
The figures go to a stamped JSON, which `make results FROM=outputs` renders into docs/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockcast.app.layout import ProjectLayout
from stockcast.app.stamp import load_average, write_stamped
from stockcast.bench.wrk import WRK_SCRIPT, parse_wrk, wrk_command
from stockcast.errors import StockcastError
from stockcast.release.image import IMAGE, build_image, docker, ensure_engine
from stockcast.stack import kubernetes
from stockcast.stack.torchserve import HOST, Ports, free_port

NAME = "replicas"
CONCURRENCY = (8, 32)
WARMUP_S = 3
# the bundled CSV, with the key the balancer checks, and each kind of socket error apart
WRK_EXTRA = """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout,
    e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class Replica:
    """One serving container on loopback ports of its own."""

    name: str
    ports: Ports
    cpus: str

    def ready(self) -> bool:
        """The model has a READY worker (what the pod's readiness probe asks: /ping is Healthy
        before the model is loaded)."""
        url = f"{self.ports.url('management')}/models/stockcast"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                models = json.loads(response.read())
        except (OSError, ValueError):
            return False
        return any(worker["status"] == "READY" for m in models for worker in m["workers"])

    def wait_ready(self, timeout_s: float = 300) -> float:
        """Seconds until the model has a READY worker."""
        started = time.monotonic()
        while not self.ready():
            running = docker("inspect", "--format", "{{.State.Running}}", self.name, check=False)
            if running.stdout.strip() != "true":
                logs = docker("logs", "--tail", "30", self.name, check=False)
                raise StockcastError(f"{self.name} stopped:\n{logs.stdout}{logs.stderr}")
            if time.monotonic() - started > timeout_s:
                raise StockcastError(f"{self.name} not ready within {timeout_s:.0f} s")
            time.sleep(0.5)
        return time.monotonic() - started


def start_replica(image: str, manifests: kubernetes.Manifests, workdir: Path, cpus: str) -> Replica:
    """The manifest's serving container under Docker, on free loopback ports, on `cpus`."""
    serving = kubernetes.pod_container(manifests, "torchserve")
    ports = Ports.free()
    name = f"stockcast-replica-{uuid.uuid4().hex[:8]}"
    volumes = kubernetes.docker_volume_args(manifests, serving, workdir / name, ports.settings())
    environment = kubernetes.container_environment(manifests, serving)
    docker(
        "run", "-d", "--name", name, "--network", "host", f"--cpuset-cpus={cpus}",
        *kubernetes.docker_security_args(serving), *volumes,
        # the manifest's memory limit; the CPUs are the cores the replica is pinned to
        *kubernetes.docker_resource_args(serving)[:1],
        *[f"--env={key}={value}" for key, value in environment.items()],
        image,
    )  # fmt: skip
    return Replica(name, ports, cpus)


def balancer_config(port: int, replicas: list[Replica], socket_path: Path) -> str:
    servers = "".join(f"    server {r.name} {HOST}:{r.ports.inference} check\n" for r in replicas)
    return f"""global
    maxconn 4096
    stats socket {socket_path} level admin
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    # only what went wrong: every error, retry and redispatch, and the health checks' changes
    option dontlog-normal
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # a request a stopping replica refused or dropped goes to another one; the body is kept
    # in the balancer for that
    option http-buffer-request
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503

frontend api
    bind {HOST}:{port}
    http-request set-var(txn.expected) str("Bearer ${{BENCH_KEY}}")
    http-request deny deny_status 401 unless {{ req.hdr(authorization),secure_memcmp(txn.expected) }}
    default_backend replicas

backend replicas
    balance leastconn
    # /ping says whether a replica's frontend answers: a stopped one is out after two misses
    option httpchk GET /ping
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}"""


class Balancer:
    """Debian's HAProxy in front of the replicas, with its runtime API on a Unix socket."""

    def __init__(self, replicas: list[Replica], workdir: Path, key: str) -> None:
        self.port = free_port()
        self.socket = workdir / "haproxy.sock"
        self.log = workdir / "haproxy.log"
        config = workdir / "haproxy.cfg"
        config.write_text(balancer_config(self.port, replicas, self.socket))
        self.process = subprocess.Popen(
            ["haproxy", "-W", "-db", "-f", str(config)],
            env={**os.environ, "BENCH_KEY": key},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise StockcastError(
                    f"haproxy did not start: {(workdir / 'haproxy.log').read_text()}"
                )
            time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/predictions/stockcast"

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(str(self.socket))
            connection.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def set_state(self, replica: Replica, state: str) -> None:
        self.command(f"set server replicas/{replica.name} state {state}")

    def server_stats(self, replica: Replica) -> dict[str, str]:
        lines = self.command("show stat").splitlines()
        header = lines[0].removeprefix("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "replicas" and row.get("svname") == replica.name:
                return row
        raise StockcastError(f"the balancer has no server {replica.name}")

    def wait_status(self, replica: Replica, prefix: str, timeout_s: float = 300) -> None:
        """Until the balancer's health checks put the replica in a status starting `prefix`."""
        deadline = time.monotonic() + timeout_s
        while not self.server_stats(replica)["status"].startswith(prefix):
            if time.monotonic() > deadline:
                raise StockcastError(f"{replica.name} never became {prefix} in the balancer")
            time.sleep(0.25)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def run_wrk(url: str, script: Path, env: dict[str, str], connections: int, seconds: int) -> dict:
    command = wrk_command(url, script, connections, seconds)
    output = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return parse_wrk(output, connections)


def rolling_restart(
    balancer: Balancer, replicas: list[Replica], script: Path, env: dict[str, str], drain: bool
) -> dict[str, Any]:
    """wrk at concurrency 8 while each replica in turn is stopped and started again.

    Taken out: when `drain`, through the runtime API first and stopped once it holds no request
    (Kubernetes takes the endpoint out, the preStop sleep waits); else stopped as it is, left to
    the balancer's health checks and retries. Put back as Kubernetes does, once the readiness
    probe's condition holds (the model has a READY worker): /ping is Healthy seconds earlier.
    """
    command = wrk_command(balancer.url, script, 8, 3600)
    log_start = balancer.log.stat().st_size
    load = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    steps = []
    try:
        time.sleep(5)
        for replica in replicas:
            started = time.monotonic()
            if drain:
                balancer.set_state(replica, "drain")
                deadline = time.monotonic() + 30
                while int(balancer.server_stats(replica)["scur"] or 0) > 0:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
            docker("stop", "--time", "30", replica.name, timeout=120)
            if not drain:
                balancer.wait_status(replica, "DOWN")
            balancer.set_state(replica, "maint")  # not ready: no endpoint until the probe passes
            docker("start", replica.name, timeout=120)
            replica.wait_ready()
            balancer.set_state(replica, "ready")
            balancer.wait_status(replica, "UP")
            steps.append(
                {"replica": replica.name, "out_of_service_s": round(time.monotonic() - started, 1)}
            )
            time.sleep(5)
    finally:
        load.send_signal(signal.SIGINT)
        output, errors = load.communicate(timeout=60)
    if "RESULT " not in output:
        raise StockcastError(f"wrk gave no result: {errors[-500:]}")
    with balancer.log.open("rb") as log:
        log.seek(log_start)
        # HAProxy logs only what went wrong here: errors, retries, health check changes
        logged = log.read().decode(errors="replace").splitlines()
    how = "drained first" if drain else "health checks alone"
    return {"how": how, "steps": steps, **parse_wrk(output, 8), "balancer_log": logged[-40:]}


def measure(
    layout: ProjectLayout, image: str, duration_s: int, workdir: Path, progress=print
) -> dict[str, Any]:
    tree = workdir / "k8s"
    shutil.copytree(kubernetes.k8s_dir(layout), tree, ignore=shutil.ignore_patterns("keys.env"))
    kubernetes.ensure_keys(tree / "base")
    manifests = kubernetes.by_id(kubernetes.render(tree / "overlays" / "keda", use_kubectl=False))
    key = kubernetes.container_environment(
        manifests, kubernetes.pod_container(manifests, "gateway")
    )["STOCKCAST_INFERENCE_KEY"]
    cores = os.cpu_count() or 1
    script = workdir / "post_csv.lua"
    script.write_text(WRK_SCRIPT + WRK_EXTRA)
    csv = workdir / "upload.csv"
    csv.write_bytes(layout.sample_upload())
    env = {**os.environ, "BENCH_CSV": str(csv), "BENCH_KEY": key}

    replicas: list[Replica] = []
    balancer = None
    try:
        for i in range(2):
            replicas.append(start_replica(image, manifests, workdir, str(i % cores)))
        startup = [round(replica.wait_ready(), 1) for replica in replicas]
        progress(f"two replicas healthy after {startup} s")
        balancer = Balancer(replicas, workdir, key)
        for replica in replicas:
            balancer.wait_status(replica, "UP")
        levels = []
        for count in (1, 2):
            for replica in replicas[count:]:
                balancer.set_state(replica, "maint")
            for replica in replicas[:count]:
                balancer.set_state(replica, "ready")
            for connections in CONCURRENCY:
                run_wrk(balancer.url, script, env, connections, WARMUP_S)
                level = run_wrk(balancer.url, script, env, connections, duration_s)
                level |= {"replicas": count, "cores": len({r.cpus for r in replicas[:count]})}
                levels.append(level)
                progress(
                    f"{count} replica(s), c={connections}: {level['requests_per_s']:.0f} requests/s, "
                    f"p95 {level['p95_ms']:.1f} ms, failed {level['non_2xx'] + level['socket_errors']}"
                )
        for replica in replicas:
            balancer.set_state(replica, "ready")
        restarts = []
        for drain in (False, True):
            restart = rolling_restart(balancer, replicas, script, env, drain)
            restarts.append(restart)
            progress(
                f"rolling restart ({restart['how']}): {restart['requests']} requests, "
                f"failed {restart['non_2xx'] + restart['socket_errors']}"
            )
        return {
            "image": image,
            "csv_rows": layout.upload_rows,
            "duration_s": duration_s,
            "replica_startup_s": startup,
            "cpus": cores,
            "levels": levels,
            "restarts": restarts,
        }
    finally:
        if balancer is not None:
            balancer.stop()
        for replica in replicas:
            docker("rm", "-f", replica.name, check=False)


# --- the docs' table -------------------------------------------------------------------------


def table(record: dict[str, Any]) -> str:
    """The replica tables of docs/scaling.md (`make results` adds the stamp line)."""
    lines = [
        "| replicas (cores) | concurrency | requests/s | p50 | p95 | failed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for level in record["levels"]:
        lines.append(
            f"| {level['replicas']} ({level['cores']}) | {level['concurrency']} | "
            f"{level['requests_per_s']:,.0f} | {level['p50_ms']:.1f} ms | {level['p95_ms']:.1f} ms | "
            f"{level['non_2xx'] + level['socket_errors']} |"
        )
    lines += ["", "| rolling restart, both replicas in turn | requests | failed | each replica out of service |",
              "| --- | --- | --- | --- |"]  # fmt: skip
    for restart in record["restarts"]:
        out = ", ".join(f"{step['out_of_service_s']:.0f} s" for step in restart["steps"])
        lines.append(
            f"| {restart['how']} | {restart['requests']:,} | "
            f"{restart['non_2xx'] + restart['socket_errors']} | {out} |"
        )
    lines += [
        "",
        f"wrk, HAProxy and the replicas share the machine's {record['cpus']} cores, each replica "
        f"pinned to one; {record['duration_s']} s per level, {record['csv_rows']} rows per request; "
        f"a replica's model had a READY worker {max(record['replica_startup_s']):.0f} s after it started.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the stamped figures here")
    parser.add_argument("--duration", type=int, default=10, help="seconds per level")
    parser.add_argument("--image", help="serve this image rather than build `make image`'s")
    args = parser.parse_args(argv)
    layout = ProjectLayout.find()
    for program in ("wrk", "haproxy"):
        if shutil.which(program) is None:
            raise StockcastError(f"no {program} here: make system-deps")
    load_before = load_average()
    ensure_engine(layout.root / "build" / "dockerd.log")
    image = args.image or build_image(layout, IMAGE, quiet=True).tag
    with tempfile.TemporaryDirectory(prefix="replicas-") as scratch:
        workdir = Path(scratch)
        workdir.chmod(0o755)
        figures = measure(layout, image, args.duration, workdir)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_stamped(args.json, NAME, figures, load_before)
        print(f"wrote {args.json}")
    else:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
