"""The predictions API's contract, web/openapi.yaml, as a check on real answers.

Given what a client saw (method, URL path, status, Content-Type, body), `ApiContract.check` finds
the documented response for that operation and status and validates the body against its JSON
Schema (OpenAPI 3.1 schemas are JSON Schema 2020-12, so `jsonschema` validates them as written,
`$ref`s resolved within the document). The tests route every request they send to TorchServe
through it, so an answer the document does not describe fails the test that received it.

Tooling only: the served code (and so the handler) never imports it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = Path(__file__).resolve().parents[2] / "web" / "openapi.yaml"
DOCUMENT_URI = "urn:stockcast:openapi"  # the document's id for `$ref` resolution
# a response object's extension: an empty body with no content type is also this response
EMPTY_BODY = "x-empty-body"


class ContractViolation(AssertionError):
    """An answer the document does not describe (an AssertionError: a test that saw it fails)."""


@dataclass(frozen=True)
class Operation:
    """One documented method on one path template."""

    method: str
    template: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.template}"


def load_document(path: Path = DOCUMENT) -> dict[str, Any]:
    """The OpenAPI document as plain data (YAML anchors expanded)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class ApiContract:
    """Finds and applies the documented response schema of an answer."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOCUMENT_URI, resource)

    @classmethod
    def load(cls, path: Path = DOCUMENT) -> ApiContract:
        return cls(load_document(path))

    @cached_property
    def _routes(self) -> list[tuple[re.Pattern[str], str]]:
        """Each path template as a regex; literal templates first, so they win over `{...}`."""
        templates = sorted(self.document["paths"], key=lambda t: ("{" in t, t))
        return [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$"), t)
            for t in templates
        ]

    def documents(self, path: str) -> bool:
        """Whether `path` (no query string) is one of the document's paths."""
        return self.template(path) is not None

    def template(self, path: str) -> str | None:
        return next((t for pattern, t in self._routes if pattern.match(path)), None)

    def operation(self, method: str, path: str) -> Operation:
        template = self.template(path)
        if template is None:
            raise ContractViolation(f"{path} is not a documented path")
        spec = self.document["paths"][template].get(method.lower())
        if spec is None:
            raise ContractViolation(f"{method.upper()} {template} is not a documented operation")
        return Operation(method.lower(), template, spec)

    def response(self, operation: Operation, status: int) -> dict[str, Any]:
        """The documented response object for `status` (exact code, then `4XX`-style, then
        `default`), its `$ref` followed."""
        responses = operation.spec["responses"]
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                return self._resolve(responses[key])
        raise ContractViolation(f"{operation.name}: status {status} is not documented")

    def check(
        self, method: str, path: str, status: int, content_type: str | None, body: bytes
    ) -> None:
        """Raise `ContractViolation` unless the answer is one the document describes."""
        operation = self.operation(method, path)
        response = self.response(operation, status)
        where = f"{operation.name} -> {status}"
        media = (content_type or "").split(";", 1)[0].strip().lower()
        content = response.get("content", {})
        if not body and not media and response.get(EMPTY_BODY):
            return
        if media not in content:
            raise ContractViolation(
                f"{where}: content type {content_type!r} is not documented ({sorted(content)})"
            )
        schema = content[media].get("schema")
        if schema is None:
            return
        if media != "application/json":
            raise ContractViolation(f"{where}: only JSON bodies are checked, got {media}")
        try:
            instance = json.loads(body)
        except ValueError as error:
            raise ContractViolation(
                f"{where}: the body is not JSON ({error}): {body[:200]!r}"
            ) from None
        self.validate(instance, schema, where)

    def validate(self, instance: Any, schema: dict[str, Any], where: str = "") -> None:
        """Validate `instance` against a schema of the document (its `$ref`s resolved there)."""
        rooted = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        rooted = _rebase(rooted)
        validator = Draft202012Validator(rooted, registry=self.registry)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [line for error in errors for line in _explained(error)]
            raise ContractViolation(
                f"{where}: the body does not match the document:\n" + "\n".join(lines[:10])
            )

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.pointer(node["$ref"])
        return node

    def pointer(self, ref: str) -> Any:
        """The node a local `#/...` reference names."""
        return resolve_pointer(self.document, ref)


def resolve_pointer(document: dict[str, Any], ref: str) -> Any:
    """The node of `document` a local JSON pointer reference (`#/components/...`) names."""
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _explained(error: ValidationError, depth: int = 1) -> list[str]:
    """The error's lines: where and what, then, for an `anyOf`/`oneOf`, why each branch failed."""
    where = "/" + "/".join(map(str, error.absolute_path))
    lines = ["  " * depth + f"at {where}: {error.message[:300]}"]
    for sub in sorted(error.context or [], key=lambda e: list(e.schema_path))[:8]:
        lines += _explained(sub, depth + 1)
    return lines


def _rebase(schema: Any) -> Any:
    """The schema with its local `#/...` references pointed at the document's URI."""
    if isinstance(schema, dict):
        return {
            key: (
                DOCUMENT_URI + value
                if key == "$ref" and isinstance(value, str) and value.startswith("#")
                else _rebase(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(item) for item in schema]
    return schema
