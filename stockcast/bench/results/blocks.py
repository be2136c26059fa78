"""The marked blocks of a docs page: find them, render them, rewrite only their text.

A block is
    <!-- results:NAME -->
    ...generated markdown...
    <!-- /results:NAME -->
and nothing outside the marker pairs is ever touched, so the docs writer owns every other line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from stockcast.errors import StockcastError

OPEN = re.compile(r"<!-- results:(?P<name>[\w-]+) -->")
BLOCK = re.compile(
    r"(?P<open><!-- results:(?P<name>[\w-]+) -->)(?P<body>.*?)(?P<close><!-- /results:(?P=name) -->)",
    re.DOTALL,
)


class ResultsError(StockcastError):
    """A docs page or a results JSON that cannot be rendered; the message names which."""


def block_names(text: str, where: str = "page") -> list[str]:
    """The names of the page's blocks, in order; a marker without its closing pair is an error."""
    names = [match["name"] for match in BLOCK.finditer(text)]
    opened = [match["name"] for match in OPEN.finditer(text)]
    if sorted(opened) != sorted(names):
        unclosed = sorted(set(opened) - set(names)) or opened
        raise ResultsError(
            f"{where}: <!-- results:{unclosed[0]} --> has no <!-- /results:{unclosed[0]} --> after it"
        )
    return names


def render_text(text: str, render: Callable[[str], str], where: str = "page") -> str:
    """The page with every block's body replaced by `render(name)`, everything else unchanged."""
    block_names(text, where)

    def body(match: re.Match) -> str:
        try:
            rendered = render(match["name"]).strip()
        except ResultsError as error:
            raise ResultsError(f"{where}: <!-- results:{match['name']} -->: {error}") from None
        return f"{match['open']}\n\n{rendered}\n\n{match['close']}"

    return BLOCK.sub(body, text)


def render_pages(pages: list[Path], render: Callable[[str], str], write: bool = True) -> list[Path]:
    """Render every page's blocks; the pages whose text changed (written only when `write`)."""
    changed = []
    for page in pages:
        text = page.read_text()
        new = render_text(text, render, where=str(page))
        if new != text:
            changed.append(page)
            if write:
                page.write_text(new)
    return changed
