"""docs/api.md is the output of stockcast/stack/api_reference.py on web/openapi.yaml
(`python -m stockcast.stack.api_reference`): the committed page is exactly what the contract
renders to now, and it names every operation and schema of the contract."""

from __future__ import annotations

from stockcast.stack import api_reference
from stockcast.stack.api_contract import load_document


def test_the_committed_page_is_what_the_contract_renders_to():
    rendered = api_reference.render(load_document())
    assert api_reference.PAGE.read_text(encoding="utf-8") == rendered, (
        "docs/api.md differs from its generator: python -m stockcast.stack.api_reference"
    )


def test_the_check_mode_finds_nothing_to_regenerate():
    assert api_reference.main(["--check"]) == 0


def test_the_page_has_a_section_per_operation_and_per_schema():
    document = load_document()
    page = api_reference.render(document)
    for path, item in document["paths"].items():
        for method in set(item) & set(api_reference.METHODS):
            assert f"### {method.upper()} {path}\n" in page
    for name in document["components"]["schemas"]:
        assert f"### {name}\n" in page
