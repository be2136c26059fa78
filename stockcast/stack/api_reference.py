"""The API reference page, docs/api.md, rendered from the contract, web/openapi.yaml.

`python -m stockcast.stack.api_reference` writes it; `--check` only says whether the committed
page is what the document renders to (tests/docs/test_api_reference.py holds them equal). The
page is a reader's view of the document, never edited by hand: each operation with its
parameters, request bodies and responses, then every schema's fields as a table, so the prose of
docs/serving.md and the machine-readable contract cannot drift apart unnoticed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stockcast.stack.api_contract import DOCUMENT, load_document, resolve_pointer

PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = ("get", "put", "post", "delete", "patch")
SCHEMAS = "#/components/schemas/"


def render(document: dict[str, Any]) -> str:
    """The whole Markdown page."""
    info = document["info"]
    lines = [
        "# API reference",
        "",
        "<!-- Generated from web/openapi.yaml by `python -m stockcast.stack.api_reference`; "
        "edit the document, not this page. -->",
        "",
        f"{info['title']}, version {info['version']}: {info['summary']}",
        "",
        "The machine-readable contract is `web/openapi.yaml`, also served by the upload page's "
        "server at `/openapi.yaml`.",
        "",
        info["description"].strip(),
        "",
        "## Operations",
        "",
    ]
    for path, item in document["paths"].items():
        for method in (key for key in item if key in METHODS):  # the document's order
            lines += _operation(document, path, item, method, item[method])
    lines += ["## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += _schema_section(name, schema)
    return "\n".join(lines).rstrip() + "\n"


def _operation(
    document: dict[str, Any], path: str, item: dict, method: str, operation: dict
) -> list[str]:
    lines = [f"### {method.upper()} {path}", "", f"{operation['summary']}.", ""]
    if item.get("description"):
        lines += [item["description"].strip(), ""]
    parameters = [_resolve(document, p) for p in item.get("parameters", [])] + [
        _resolve(document, p) for p in operation.get("parameters", [])
    ]
    if parameters:
        lines += [
            "| parameter | in | required | type | description |",
            "|---|---|---|---|---|",
        ]
        lines += [
            _row(
                f"`{p['name']}`",
                p["in"],
                "yes" if p.get("required") else "no",
                _type(p["schema"]),
                _one_line(p.get("description", "")),
            )
            for p in parameters
        ]
        lines.append("")
    body = _resolve(document, operation["requestBody"]) if "requestBody" in operation else None
    if body:
        lines += ["**Request body**" + (" (required)" if body.get("required") else ""), ""]
        lines += [
            "| content type | schema |",
            "|---|---|",
            *(_row(f"`{media}`", _type(c["schema"])) for media, c in body["content"].items()),
            "",
        ]
        lines += [_one_line(body["description"]), ""]
        for media, content in body["content"].items():
            schema = content["schema"]
            if "properties" in schema:
                lines += [f"Fields of `{media}`:", "", *_fields(schema), ""]
    lines += ["**Responses**", "", "| status | content | schema | when |", "|---|---|---|---|"]
    for status, reference in operation["responses"].items():
        response = _resolve(document, reference)
        content = response.get("content", {})
        media = ", ".join(f"`{m}`" for m in content) or "none"
        if response.get("x-empty-body"):
            media += " or no body"
        schemas = ", ".join(_type(c["schema"]) for c in content.values() if "schema" in c)
        lines.append(_row(status, media, schemas, _one_line(response["description"])))
    return [*lines, ""]


def _schema_section(name: str, schema: dict) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [_one_line(schema["description"]), ""]
    for word, joiner in (("allOf", "All of"), ("oneOf", "One of"), ("anyOf", "Any of")):
        if word in schema:
            parts = [_type(part) for part in schema[word] if "$ref" in part]
            inline = [part for part in schema[word] if "$ref" not in part]
            lines += [f"{joiner}: {', '.join(parts + ['the fields below'] * bool(inline))}.", ""]
            for part in inline:
                lines += [*_fields(part), ""]
    if "properties" in schema:
        lines += [*_fields(schema), ""]
    elif not any(word in schema for word in ("allOf", "oneOf", "anyOf")):
        lines += [f"Type: {_type(schema)}.", ""]
    closed = schema.get("additionalProperties") is False or "unevaluatedProperties" in schema
    if "properties" in schema or "allOf" in schema:
        lines += ["No other fields." if closed else "Other fields may appear.", ""]
    return lines


def _fields(schema: dict) -> list[str]:
    required = set(schema.get("required", []))
    return [
        "| field | type | required | description |",
        "|---|---|---|---|",
        *(
            _row(
                f"`{name}`",
                _type(field),
                "yes" if name in required else "no",
                _one_line(field.get("description", "")),
            )
            for name, field in schema["properties"].items()
        ),
        *(
            [_row("any other name", _type(other), "no", _one_line(other.get("description", "")))]
            if isinstance(other := schema.get("additionalProperties"), dict)
            else []
        ),
    ]


def _type(schema: dict) -> str:
    """A schema in a few words: a link to a named schema, a type, its allowed values."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(SCHEMAS)
        return f"[{name}](#{name.lower()})"
    if "properties" in schema:
        return "object (fields below)"
    for word in ("oneOf", "anyOf"):
        if word in schema:
            return " or ".join(_type(part) for part in schema[word])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array":
        kind = f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        kind += ": " + ", ".join(f"`{value}`" for value in schema["enum"])
    bounds = [
        f"{word} {schema[key]}"
        for key, word in (
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("exclusiveMinimum", ">"),
            ("exclusiveMaximum", "<"),
        )
        if key in schema
    ]
    if bounds:
        kind += f" ({', '.join(bounds)})"
    if "contentMediaType" in schema:
        kind += f" ({schema['contentMediaType']})"
    return kind


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        node = resolve_pointer(document, node["$ref"])
    return node


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(list(argv) if argv is not None else None)
    text = render(load_document(DOCUMENT))
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is stale: python -m stockcast.stack.api_reference", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
