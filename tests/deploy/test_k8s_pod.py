"""The Kubernetes pod, run for real from the rendered manifest (deploy/k8s, `make manifests`).

Nothing about the pod is written here by hand: the Deployment's containers give the user and
group, the read-only root filesystem, the dropped capabilities, no privilege escalation, the
limits, the writable paths (each emptyDir a fresh directory anyone may write, as an emptyDir is),
the config files (each ConfigMap's data, mounted read-only where the manifest mounts it) and the
environment (the Secret's keys included). The serving container runs the image `make image`
builds; the gateway is Debian's HAProxy (the release the manifest's image pins) in the serving
container's network namespace, as a pod's containers share one, so every address and port is the
manifest's own. The probes are the
manifest's: its exec command inside the container, its HTTP GET through the gateway.

Needs root (nsenter into the container's network namespace) and Debian's haproxy.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stockcast.app.layout import ProjectLayout
from stockcast.release.image import docker
from stockcast.stack import kubernetes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
OVERLAY = "keda"
# what a client inside the pod's network namespace does: one request, its status and body
CLIENT = """
import sys, requests
method, url, key, body = sys.argv[1:5]
headers = {"Authorization": f"Bearer {key}"} if key else {}
data = open(body, "rb").read() if body else None
r = requests.request(method, url, data=data, headers=headers, timeout=60)
print(r.status_code)
print(r.text)
"""


@dataclass
class Pod:
    """The serving container and its gateway, sharing the container's network namespace."""

    container: str
    pid: int
    manifests: dict[tuple[str, str], dict[str, Any]]
    gateway: subprocess.Popen[bytes]
    workdir: Path

    @property
    def spec(self) -> dict[str, Any]:
        return self.manifests["Deployment", "stockcast"]["spec"]["template"]["spec"]

    def container_spec(self, name: str) -> dict[str, Any]:
        return next(c for c in self.spec["containers"] if c["name"] == name)

    def key(self, name: str) -> str:
        return base64.b64decode(self.manifests["Secret", "stockcast-keys"]["data"][name]).decode()

    def port(self, name: str) -> int:
        ports = self.container_spec("gateway")["ports"]
        return next(p["containerPort"] for p in ports if p["name"] == name)

    def request(self, method: str, port: str, path: str, key: str = "", body: bytes = b""):
        """A request from inside the pod's network namespace: (status, text)."""
        body_file = ""
        if body:
            body_file = str(self.workdir / f"body-{uuid.uuid4().hex[:6]}")
            Path(body_file).write_bytes(body)
        url = f"http://127.0.0.1:{self.port(port)}{path}"
        run = in_pod(self.pid, sys.executable, "-c", CLIENT, method, url, key, body_file)
        status, _, text = run.stdout.partition("\n")
        return int(status), text

    def exec_probe(self, container_name: str, probe: str) -> bool:
        command = self.container_spec(container_name)[probe]["exec"]["command"]
        return docker("exec", self.container, *command, check=False).returncode == 0

    def http_probe(self, container_name: str, probe: str) -> bool:
        get = self.container_spec(container_name)[probe]["httpGet"]
        try:
            status, _ = self.request("GET", get["port"], get["path"])
        except ValueError:  # no status line: the gateway is not listening yet
            return False
        return 200 <= status < 400


def in_pod(pid: int, *argv: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", "--target", str(pid), "--net", "--", *argv],
        capture_output=True, text=True, timeout=120, **options,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pod(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    if os.geteuid() != 0 or not shutil.which("nsenter") or not shutil.which("haproxy"):
        pytest.skip("needs root, nsenter and Debian's haproxy (make system-deps)")
    workdir = tmp_path_factory.mktemp("pod")
    workdir.chmod(0o755)
    tree = workdir / "k8s"
    shutil.copytree(kubernetes.k8s_dir(LAYOUT), tree, ignore=shutil.ignore_patterns("keys.env"))
    kubernetes.ensure_keys(tree / "base")
    rendered = kubernetes.render(tree / "overlays" / OVERLAY, use_kubectl=False)
    manifests = kubernetes.by_id(rendered)
    serving = kubernetes.pod_container(manifests, "torchserve")
    assert serving["image"] == image

    name = f"stockcast-pod-{uuid.uuid4().hex[:8]}"
    environment = kubernetes.container_environment(manifests, serving)
    env_args = [f"--env={key}={value}" for key, value in environment.items()]
    docker(
        "run", "-d", "--name", name, "--network", "none",
        *kubernetes.docker_security_args(serving), *kubernetes.docker_resource_args(serving),
        *kubernetes.docker_volume_args(manifests, serving, workdir), *env_args,
        image,
    )  # fmt: skip
    pid = int(docker("inspect", "--format", "{{.State.Pid}}", name).stdout)

    gateway_spec = kubernetes.pod_container(manifests, "gateway")
    # HAProxy runs on the host as the manifest's user, so its files' parents must let it through
    # (pytest's own temporary root does not)
    gateway_dir = Path(tempfile.mkdtemp(prefix="stockcast-gateway-"))
    gateway_dir.chmod(0o755)
    kubernetes.docker_volume_args(manifests, gateway_spec, gateway_dir)  # writes its ConfigMap
    (mount,) = gateway_spec["volumeMounts"]
    command = [
        arg.replace(mount["mountPath"], str(gateway_dir / mount["name"]))
        for arg in gateway_spec["command"]
    ]
    context = gateway_spec["securityContext"]
    gateway = subprocess.Popen(
        ["nsenter", "--target", str(pid), "--net",
         f"--setuid={context['runAsUser']}", f"--setgid={context['runAsGroup']}", "--", *command],
        env={**os.environ, **kubernetes.container_environment(manifests, gateway_spec)},
        stdout=subprocess.DEVNULL, stderr=(workdir / "gateway.log").open("wb"),
    )  # fmt: skip
    running = Pod(name, pid, manifests, gateway, workdir)
    try:
        deadline = time.monotonic() + 240
        while not (
            running.exec_probe("torchserve", "readinessProbe")
            and running.http_probe("gateway", "readinessProbe")
        ):
            state = docker("inspect", "--format", "{{.State.Running}}", name, check=False)
            if state.stdout.strip() != "true" or gateway.poll() is not None:
                logs = docker("logs", "--tail", "40", name, check=False)
                gateway_log = (workdir / "gateway.log").read_text()[-2000:]
                pytest.fail(f"pod stopped:\n{logs.stdout}{logs.stderr}\ngateway:\n{gateway_log}")
            assert time.monotonic() < deadline, "pod not ready in 240 s"
            time.sleep(1)
        yield running
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        docker("rm", "-f", name, check=False)
        shutil.rmtree(gateway_dir, ignore_errors=True)


def test_the_pod_serves_a_forecast_through_the_gateway_with_the_secrets_inference_key(pod):
    status, text = pod.request(
        "POST", "http", "/predictions/stockcast", pod.key("STOCKCAST_INFERENCE_KEY"),
        LAYOUT.sample_upload(),
    )  # fmt: skip

    assert status == 200, text
    body = json.loads(text)
    (forecast,) = body["forecast"]
    assert forecast["lower"] < forecast["close"] < forecast["upper"]
    assert body["last_date"] == "2013-03-01"


def test_the_gateway_refuses_a_missing_or_wrong_key_and_keeps_management_apart(pod):
    upload = LAYOUT.sample_upload()
    inference, management = (pod.key(k) for k in kubernetes.KEY_NAMES)

    assert pod.request("POST", "http", "/predictions/stockcast", "", upload)[0] == 401
    assert pod.request("POST", "http", "/predictions/stockcast", management, upload)[0] == 401
    assert pod.request("GET", "management", "/models", inference)[0] == 401
    status, text = pod.request("GET", "management", "/models", management)
    assert status == 200 and [m["modelName"] for m in json.loads(text)["models"]] == ["stockcast"]
    # the probes' port answers /ping and nothing else
    assert pod.request("GET", "health", "/ping")[0] == 200
    assert pod.request("POST", "health", "/predictions/stockcast", "", upload)[0] == 404


def test_the_probes_of_the_manifest_pass(pod):
    assert pod.exec_probe("torchserve", "startupProbe")
    assert pod.exec_probe("torchserve", "livenessProbe")
    assert pod.http_probe("gateway", "readinessProbe")


def test_the_server_runs_as_the_manifests_user_without_capabilities_writing_only_its_emptydirs(
    pod,
):
    serving = pod.container_spec("torchserve")
    context = serving["securityContext"]
    status = docker("exec", pod.container, "cat", "/proc/1/status").stdout
    capabilities = {
        line.split(":")[0]: int(line.split()[1], 16)
        for line in status.splitlines()
        if line.startswith("Cap")
    }
    volumes = {volume["name"]: volume for volume in pod.spec["volumes"]}
    writable = [m["mountPath"] for m in serving["volumeMounts"] if "emptyDir" in volumes[m["name"]]]

    assert docker("exec", pod.container, "id", "-u").stdout.strip() == str(context["runAsUser"])
    assert capabilities["CapEff"] == capabilities["CapPrm"] == 0
    assert "NoNewPrivs:\t1" in status
    for path in writable:
        assert docker("exec", pod.container, "touch", f"{path}/probe", check=False).returncode == 0
    for path in ("/home/model-server/intruder", "/opt/stockcast/intruder", "/etc/intruder"):
        touched = docker("exec", pod.container, "touch", path, check=False)
        assert touched.returncode != 0 and "Read-only" in touched.stderr, path


def test_the_running_server_fits_the_manifests_memory_limit_with_room(pod):
    for _ in range(20):
        pod.request(
            "POST", "http", "/predictions/stockcast", pod.key("STOCKCAST_INFERENCE_KEY"),
            LAYOUT.sample_upload(),
        )  # fmt: skip
    used = memory_in_use(pod.container)
    limit = pod.container_spec("torchserve")["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    print(f"torchserve container memory: {used / 2**20:.0f} MiB of a {limit} limit")
    assert used < 0.8 * int(limit.removesuffix("Mi")) * 2**20


def memory_in_use(container: str) -> float:
    """Bytes the container uses, page cache left out, as `docker stats` reports them (the figure
    a memory limit is held against, on cgroup v1 and v2 alike)."""
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container).stdout
    number, unit = re.fullmatch(r"([\d.]+)([KMG]i?B)", usage.split("/")[0].strip()).groups()
    return float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]


def test_the_pod_stops_on_sigterm_well_within_its_grace_period(pod):
    """Runs last: it stops the pod's server as Kubernetes does, with SIGTERM."""
    grace = pod.spec["terminationGracePeriodSeconds"]
    started = time.monotonic()
    docker("stop", "--time", str(grace), pod.container, timeout=grace + 60)
    seconds = time.monotonic() - started

    exit_code = docker("inspect", "--format", "{{.State.ExitCode}}", pod.container).stdout
    assert int(exit_code) != 137, "SIGKILLed: the server ignored SIGTERM"
    assert seconds < grace / 2, f"took {seconds:.0f} s of a {grace} s grace period"
