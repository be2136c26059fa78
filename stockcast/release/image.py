"""Build the serving image (deploy/Dockerfile) here or anywhere: `make image`.

With a registry in reach the Dockerfile's defaults apply (the official Python slim image, PyPI and
PyTorch's CPU index). Without one, as on machines behind a closed network, the same Dockerfile is
built from what this machine can make itself:
- a base image made from Debian's archive (`mmdebstrap --variant=minbase`, python3 and venv, then
  `docker import`), built once and kept under its tag;
- a wheelhouse of every wheel both stages install, downloaded by the host's pip (which trusts this
  network's proxy, where pip inside a container would not) for the base's own Python version, and
  served to the build on loopback (`--network host`), so no package index is needed inside.

The Docker engine is started (`dockerd --iptables=false --bridge=none`: containers use the host's
network on loopback) when none answers and this process may start one.
"""

from __future__ import annotations

import configparser
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import stockcast
from stockcast.app.layout import ProjectLayout
from stockcast.errors import StockcastError

IMAGE = f"stockcast-torchserve:{stockcast.__version__}"
PUBLIC_BASE = "python:3.11-slim-bookworm"
LOCAL_BASE = "stockcast-base:bookworm"
DEBIAN_SUITE = "bookworm"
TORCH = "torch==2.13.0"
# sdists among the dependencies, built into wheels on the host so the wheelhouse is wheels only
SDIST_ONLY = ("antlr4-python3-runtime==4.9.3",)


class DockerUnavailable(StockcastError):
    """No Docker engine answers and none could be started here."""


@dataclass(frozen=True)
class BuildPlan:
    """How the image is built: from the public defaults, or from a local base and wheelhouse."""

    base_image: str
    wheelhouse: Path | None  # None: pip inside the build uses the public indexes

    @property
    def local(self) -> bool:
        return self.wheelhouse is not None


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def engine_running() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return (
            docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


def ensure_engine(log_file: Path, timeout_s: float = 60) -> None:
    """A Docker engine answers, started here if none does and this is root with `dockerd`."""
    if engine_running():
        return
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        raise DockerUnavailable("no Docker here: install Debian's docker.io (`make system-deps`)")
    if os.geteuid() != 0:
        raise DockerUnavailable("the Docker engine is not running: start it (`sudo dockerd`)")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        subprocess.Popen(
            ["dockerd", "--iptables=false", "--bridge=none"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while not engine_running():
        if time.monotonic() > deadline:
            raise DockerUnavailable(
                f"dockerd did not answer within {timeout_s:.0f} s; see {log_file}"
            )
        time.sleep(1)


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def public_base_available(timeout_s: float = 90) -> bool:
    """The official base image is here, or a registry hands it over now."""
    if image_exists(PUBLIC_BASE):
        return True
    try:
        return docker("pull", PUBLIC_BASE, timeout=timeout_s, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def build_local_base(tag: str = LOCAL_BASE) -> str:
    """A minimal Debian with python3 and venv from Debian's archive, imported as `tag` (kept)."""
    if image_exists(tag):
        return tag
    if shutil.which("mmdebstrap") is None:
        raise DockerUnavailable("no registry in reach and no mmdebstrap: `make system-deps`")
    print(f"building the base image {tag} from Debian's archive (about 2 minutes, once)")
    debootstrap = subprocess.Popen(
        ["mmdebstrap", "--variant=minbase", "--include=python3,python3-venv", DEBIAN_SUITE, "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    imported = subprocess.run(
        ["docker", "import", "-", tag], stdin=debootstrap.stdout, capture_output=True, text=True
    )
    debootstrap.stdout.close()
    if debootstrap.wait() != 0 or imported.returncode != 0:
        raise DockerUnavailable(f"could not build {tag}: {imported.stderr.strip()[-300:]}")
    return tag


def python_version(image: str) -> str:
    """The python3 version inside `image`, e.g. 3.11.2: the wheels must admit it."""
    run = docker(
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "python3",
        "-c",
        "import platform; print(platform.python_version())",
    )
    return run.stdout.strip()


def install_requires(setup_cfg: Path) -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    return [
        line.strip() for line in parser["options"]["install_requires"].splitlines() if line.strip()
    ]


def fill_wheelhouse(layout: ProjectLayout, wheelhouse: Path, python: str) -> Path:
    """Every wheel the two stages install, for `python`, downloaded by the host's pip."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    quiet = {"capture_output": True, "text": True}
    for sdist in SDIST_ONLY:
        subprocess.run(
            [*pip, "wheel", "-q", "--no-deps", "-w", str(wheelhouse), sdist], check=True, **quiet
        )
    requirements = install_requires(layout.root / "setup.cfg")
    result = subprocess.run(
        [*pip, "download", "-q", "--python-version", python, "--only-binary=:all:",
         "--find-links", str(wheelhouse), "-d", str(wheelhouse),
         "-c", str(layout.serving_requirements), TORCH, "setuptools>=68", "wheel",
         *requirements, "-r", str(layout.serving_requirements)],
        **quiet,
    )  # fmt: skip
    if result.returncode != 0:
        raise StockcastError(f"could not fill the wheelhouse: {result.stderr.strip()[-400:]}")
    return wheelhouse


@contextmanager
def served_on_loopback(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on a free loopback port while the block runs; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def plan(layout: ProjectLayout) -> BuildPlan:
    """Public defaults when the official base comes from a registry, else local parts."""
    if public_base_available():
        return BuildPlan(PUBLIC_BASE, None)
    base = build_local_base()
    wheelhouse = layout.root / "build" / "wheelhouse"
    return BuildPlan(base, fill_wheelhouse(layout, wheelhouse, python_version(base)))


@dataclass(frozen=True)
class BuiltImage:
    """What `build_image` made: the tag, how long the build took and from what."""

    tag: str
    seconds: float
    source: str  # "public base and indexes" or "local base and wheelhouse"

    def size_bytes(self) -> int:
        return int(docker("image", "inspect", "--format", "{{.Size}}", self.tag).stdout)


def build_image(
    layout: ProjectLayout, tag: str = IMAGE, quiet: bool = False, no_cache: bool = False
) -> BuiltImage:
    """Build deploy/Dockerfile as `tag` (layers cached by Docker unless `no_cache`)."""
    ensure_engine(layout.root / "build" / "dockerd.log")
    how = plan(layout)
    command = ["docker", "build", "--network", "host", "-f", str(layout.dockerfile), "-t", tag]
    command += ["--quiet"] if quiet else []
    command += ["--no-cache"] if no_cache else []
    with served_on_loopback(how.wheelhouse) if how.local else _nothing() as index:
        if how.local:
            command += [
                "--build-arg", f"BASE_IMAGE={how.base_image}",
                "--build-arg", "PIP_NO_INDEX=1",
                "--build-arg", f"PIP_FIND_LINKS={index}",
                "--build-arg", "PIP_EXTRA_INDEX_URL=",
            ]  # fmt: skip
        started = time.monotonic()
        result = subprocess.run([*command, str(layout.root)], text=True, capture_output=quiet)
        seconds = time.monotonic() - started
    if result.returncode != 0:
        tail = (result.stderr or "").strip()[-600:] if quiet else "see the build output above"
        raise StockcastError(f"docker build failed ({tail})")
    source = "local base and wheelhouse" if how.local else "public base and indexes"
    return BuiltImage(tag, seconds, source)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
