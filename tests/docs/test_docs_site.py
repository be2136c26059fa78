"""The docs are part of the product: the MkDocs site builds with --strict, and the README stays an
index whose links lead somewhere.

`mkdocs build --strict` with mkdocs.yml's `validation` settings fails on a link to a missing page,
a link to a heading that does not exist, and a page left out of the nav, so a renamed heading or a
moved file breaks this test rather than a reader's click.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_LINES = 200
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(text: str) -> list[str]:
    """The lines of a markdown text outside fenced code blocks (where a link is only text)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def relative_links(text: str) -> list[str]:
    """Every link target that is neither a URL nor a bare in-page anchor."""
    targets = [match for line in prose_lines(text) for match in LINK.findall(line)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def anchors(markdown_file: Path) -> set[str]:
    """The heading ids MkDocs gives a page (Python-Markdown's toc slugify, as mkdocs.yml uses)."""
    found = set()
    for line in prose_lines(markdown_file.read_text(encoding="utf-8")):
        heading = HEADING.match(line)
        if heading:
            text = re.sub(r"`([^`]*)`", r"\1", heading.group(1))
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
            found.add(slugify(text, "-"))
    return found


def test_the_docs_site_builds_in_strict_mode(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}\n{build.stderr}"
    assert (tmp_path / "site" / "index.html").is_file()


def test_the_readme_is_an_index_of_at_most_200_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_every_relative_link_in_the_readme_leads_to_a_file_and_heading_that_exist() -> None:
    targets = relative_links(README.read_text(encoding="utf-8"))
    assert targets, "the README links to no docs page"
    broken = []
    for target in targets:
        path, _, anchor = target.partition("#")
        file = (ROOT / path).resolve()
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading with that anchor in {path}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[a](docs/a.md) and ![b](docs/img/b.png)", ["docs/a.md", "docs/img/b.png"]),
        ("[a](docs/a.md#part) [web](https://example.com) [top](#top)", ["docs/a.md#part"]),
        ("```\n[not a link](nowhere.md)\n```\n[a](x.md)", ["x.md"]),
    ],
)
def test_relative_links_are_found_outside_code_and_urls_are_left_alone(
    text: str, expected: list[str]
) -> None:
    assert relative_links(text) == expected


def test_anchors_follow_the_toc_slugs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## The 80% band\n\n```\n# not a heading\n```\n### `make run`, make serve\n"
    )
    assert anchors(page) == {"title", "the-80-band", "make-run-make-serve"}
