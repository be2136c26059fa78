"""Container health check: TorchServe answers /ping with "Healthy".

TorchServe 0.12 guards /ping with the inference key like any other inference call, so the check
reads the current key from the key file TorchServe writes into its working directory.
The port is the inference address's in the config the image installs
(torchserve/config.container.properties), so the check follows a change there.
Arguments (both optional) let a test aim it at a TorchServe outside the container:
    healthcheck.py [PING_URL] [KEY_FILE]
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

CONFIG_FILE = "/home/model-server/config.properties"  # where deploy/Dockerfile installs it
KEY_FILE = "/home/model-server/key_file.json"


def ping_url(config_file: Path) -> str:
    """/ping on loopback, at the port of the config's `inference_address`."""
    for line in config_file.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "inference_address":
            return f"http://127.0.0.1:{urlsplit(value.strip()).port}/ping"
    raise ValueError(f"{config_file} sets no inference_address")


def healthy(ping_url: str, key_file: Path) -> bool:
    key = json.loads(key_file.read_text())["inference"]["key"]
    request = urllib.request.Request(ping_url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read()).get("status") == "Healthy"
    except OSError:
        return False


def main(argv: list[str]) -> int:
    """0 when TorchServe answers Healthy, else 1 (a missing key or config file included)."""
    key_path = Path(argv[1] if len(argv) > 1 else KEY_FILE)
    try:
        url = argv[0] if argv else ping_url(Path(CONFIG_FILE))
    except (OSError, ValueError):
        return 1
    return 0 if key_path.is_file() and healthy(url, key_path) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
