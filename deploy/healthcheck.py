"""Container health check: TorchServe answers /ping with "Healthy".

TorchServe 0.12 guards /ping with the inference key like any other inference call, so the check
reads the current key from the key file TorchServe writes into its working directory.
Arguments (both optional) let a test aim it at a TorchServe outside the container:
    healthcheck.py [PING_URL] [KEY_FILE]
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

PING_URL = "http://127.0.0.1:8080/ping"
KEY_FILE = "/home/model-server/key_file.json"


def healthy(ping_url: str, key_file: Path) -> bool:
    key = json.loads(key_file.read_text())["inference"]["key"]
    request = urllib.request.Request(ping_url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read()).get("status") == "Healthy"
    except OSError:
        return False


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else PING_URL
    key_path = Path(sys.argv[2] if len(sys.argv) > 2 else KEY_FILE)
    sys.exit(0 if key_path.is_file() and healthy(url, key_path) else 1)
