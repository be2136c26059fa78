"""Every answer a test here receives from the predictions API is checked against the contract.

An autouse fixture wraps `requests.Session.send` (what `requests.post`, `requests.put` and the
tests' own helpers all go through) for the duration of each test: an answer to a request on one
of web/openapi.yaml's paths (`/predictions/stockcast...`, `/invocations`) that the document does
not describe raises `ContractViolation`, an AssertionError, in the test that received it. Tests
keep asserting what they are about; none has to assert the shape of the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from stockcast.stack.api_contract import ApiContract


@pytest.fixture(scope="session")
def api_contract() -> ApiContract:
    return ApiContract.load()


@pytest.fixture(autouse=True)
def answers_follow_the_contract(
    api_contract: ApiContract, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Check each predictions-API answer of the test; yields the operations checked."""
    checked: list[str] = []
    send = requests.Session.send

    def checked_send(
        session: requests.Session, request: requests.PreparedRequest, **kwargs
    ) -> requests.Response:
        response = send(session, request, **kwargs)
        path = urlsplit(request.url).path
        if api_contract.documents(path):
            api_contract.check(
                request.method or "GET",
                path,
                response.status_code,
                response.headers.get("Content-Type"),
                response.content,
            )
            checked.append(f"{request.method} {path} -> {response.status_code}")
        return response

    monkeypatch.setattr(requests.Session, "send", checked_send)
    yield checked
