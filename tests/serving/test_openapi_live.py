"""Schemathesis against a real TorchServe with web/openapi.yaml: generated requests on every
documented operation (CSV bodies, multipart forms, calendars, versions, model names; mostly
refused with a 4xx, which is the point) and the document's own examples. No answer may be a
server error, and every answer's status, content type and body must be the documented ones.

Also: the upload page's static server serves the document at /openapi.yaml.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stockcast.stack.api_contract import DOCUMENT
from stockcast.stack.torchserve import HOST, LocalTorchServe

GENERATED_PER_OPERATION = 30
EXAMPLES_PER_OPERATION = 5
TIME_BUDGET_S = 90  # all operations together, well under the two minutes the suite allows
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# CSV text is sent as schemathesis sends text/plain: the string's UTF-8 bytes
schemathesis.serializer.alias("text/csv", "text/plain")


@pytest.fixture(scope="module")
def api_schema() -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_path(DOCUMENT)


def run_cases(strategy: st.SearchStrategy, count: int, base_url: str, deadline: float) -> int:
    """Send up to `count` cases drawn from `strategy` (deterministically), each validated by
    `CHECKS`; returns how many were sent before the deadline."""
    sent = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def send(case: schemathesis.Case) -> None:
        if time.monotonic() > deadline:
            return
        case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)
        sent.append(case)

    send()
    return len(sent)


@pytest.mark.integration
def test_generated_requests_get_documented_answers_and_no_server_error(
    torchserve: LocalTorchServe, api_schema: schemathesis.BaseSchema, answers_follow_the_contract
):
    deadline = time.monotonic() + TIME_BUDGET_S
    sent = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        examples = api_schema.get_strategies_from_examples(operation)
        sent[operation.label] = run_cases(
            st.one_of(examples), EXAMPLES_PER_OPERATION, torchserve.inference_url, deadline
        ) + run_cases(
            operation.as_strategy(), GENERATED_PER_OPERATION, torchserve.inference_url, deadline
        )
    assert len(sent) == 4 and all(sent.values()), sent
    # what came back, as the contract checked it: forecasts of the document's example CSV,
    # refusals of generated bodies, TorchServe's 404 for generated versions and model names
    statuses = Counter(answer.rsplit(" ", 1)[-1] for answer in answers_follow_the_contract)
    print(f"cases sent per operation: {sent}; statuses: {dict(statuses)}")
    assert {"200", "404"} <= set(statuses), statuses
    assert statuses.keys() & {"400", "422"}, statuses


@pytest.mark.integration
def test_the_upload_page_serves_the_document(upload_page_port: int):
    response = requests.get(f"http://{HOST}:{upload_page_port}/openapi.yaml", timeout=10)
    assert response.status_code == 200
    assert response.content == Path(DOCUMENT).read_bytes()
