"""Build the serving image: `python scripts/build_image.py [--tag stockcast-torchserve:<version>]`.

From the public base image and indexes when a registry is in reach, else from a base made from
Debian's archive and a loopback wheelhouse (stockcast/release/image.py). Prints the tag and the
image's size; `docker run --network host <tag>` then serves the model built into it.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.app.script import run_script
from stockcast.release.image import IMAGE, build_image, docker

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=IMAGE, help=f"image tag (default {IMAGE})")
    args = parser.parse_args()
    tag = build_image(LAYOUT, args.tag)
    size = int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout)
    print(f"{tag}: {size / 1e9:.2f} GB")
    return 0


if __name__ == "__main__":
    run_script(main, expected=(OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired))
