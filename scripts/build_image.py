"""Build the serving image: `python scripts/build_image.py [--tag stockcast-torchserve:<version>]`.

From the public base image and indexes when a registry is in reach, else from a base made from
Debian's archive and a loopback wheelhouse (stockcast/release/image.py). Prints the tag, the
build time and the image's size (`--json`: stamped, for `make results`); `docker run --network host <tag>` then serves the model built into it.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.app.script import run_script
from stockcast.app.stamp import load_average, write_stamped
from stockcast.release.image import IMAGE, build_image

LAYOUT = ProjectLayout(Path(__file__).resolve().parents[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=IMAGE, help=f"image tag (default {IMAGE})")
    parser.add_argument("--no-cache", action="store_true", help="build every layer anew")
    parser.add_argument("--json", type=Path, help="also write the tag, size and build time here")
    args = parser.parse_args()
    load_before = load_average()
    built = build_image(LAYOUT, args.tag, no_cache=args.no_cache)
    size = built.size_bytes()
    print(
        f"built {built.tag} in {built.seconds:.0f} s from the {built.source}: {size / 1e9:.2f} GB"
    )
    if args.json:
        figures = {
            "tag": built.tag,
            "size_bytes": size,
            "build_seconds": round(built.seconds, 1),
            "no_cache": args.no_cache,
            "source": built.source,
        }
        write_stamped(args.json, "image", figures, load_before)
    return 0


if __name__ == "__main__":
    run_script(main, expected=(OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired))
