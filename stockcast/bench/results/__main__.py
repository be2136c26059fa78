"""`python -m stockcast.bench.results [--from PATH ...]` (`make results [FROM=...]`).

With --from, first copies the newest measurement of each kind found under PATH into
docs/results/ and the pictures into docs/img/; then renders every `<!-- results:NAME -->` block
of docs/*.md from docs/results/NAME.json, writing a page only when one of its blocks changed.
`--check` writes nothing and exits 1 when a page is out of date. A marker without its JSON or its
closing pair is one `error:` line naming it, exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from stockcast.app.layout import ProjectLayout
from stockcast.app.script import run_script
from stockcast.bench.results.blocks import render_pages
from stockcast.bench.results.collect import collect
from stockcast.bench.results.tables import render


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stockcast.bench.results", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--from",
        dest="sources",
        type=Path,
        nargs="+",
        help="folders or files to copy the newest measurements from (e.g. outputs)",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; 1 when out of date")
    args = parser.parse_args(argv)
    docs = ProjectLayout.find().root / "docs"
    if args.sources:
        for line in collect(args.sources, docs / "results", docs / "img"):
            print(f"copied {line}")
    pages = sorted(docs.glob("*.md"))
    changed = render_pages(pages, partial(render, results_dir=docs / "results"), not args.check)
    for page in changed:
        print(f"{'out of date' if args.check else 'rendered'}: {page}")
    if not changed:
        print(f"every results block of {len(pages)} page(s) is up to date")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    run_script(main, expected=(OSError,))
