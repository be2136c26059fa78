"""web/openapi.yaml is a valid OpenAPI document that says what the code does: its version is the
package's, every refusal reason the served code can raise is in its `Reason` enum, its examples
match its own schemas, and real answers of the service (in process here; through TorchServe in
tests/serving/conftest.py and test_openapi_live.py) match it."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from openapi_spec_validator import validate

import stockcast
from stockcast.app.layout import ProjectLayout
from stockcast.errors import DataValidationError
from stockcast.model.forecaster import Forecaster
from stockcast.serving.service import answer_batch
from stockcast.stack.api_contract import DOCUMENT, ApiContract, ContractViolation, load_document

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ProjectLayout(ROOT)
PACKAGE = ROOT / "stockcast"
# the served subpackages the archive ships (with errors.py): all the code that can refuse a request
SERVED_DIRS = ("inputs", "model", "serving")


@pytest.fixture(scope="module")
def document() -> dict:
    return load_document()


@pytest.fixture(scope="module")
def contract(document: dict) -> ApiContract:
    return ApiContract(document)


def served_files() -> list[Path]:
    return [PACKAGE / "errors.py"] + sorted(
        path for name in SERVED_DIRS for path in (PACKAGE / name).rglob("*.py")
    )


def _constant(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _reason_argument(call: ast.Call, position: int) -> ast.expr | None:
    """The `reason` argument of a call, by keyword or position (None when absent)."""
    keyword = next((kw.value for kw in call.keywords if kw.arg == "reason"), None)
    if keyword is not None:
        return keyword
    if any(isinstance(arg, ast.Starred) for arg in call.args[: position + 1]):
        return None
    return call.args[position] if len(call.args) > position else None


def _loop_values(function: ast.AST, name: str) -> set[str] | None:
    """The string constants a loop variable `name` takes in `function`: for `for a, b in rows`,
    the matching element of every tuple literal of that size in the function (the rows)."""
    for loop in ast.walk(function):
        if isinstance(loop, ast.For) and isinstance(loop.target, ast.Tuple):
            names = [getattr(target, "id", None) for target in loop.target.elts]
            if name in names:
                index, size = names.index(name), len(names)
                return {
                    value
                    for node in ast.walk(function)
                    if isinstance(node, ast.Tuple) and len(node.elts) == size
                    if (value := _constant(node.elts[index])) is not None
                }
    return None


def _calls(tree: ast.AST, name: str) -> Iterator[tuple[ast.AST, ast.Call]]:
    """Every call of `name` with its enclosing function (or the module)."""
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))]
    seen: set[int] = set()
    for scope in reversed(scopes):  # innermost functions first: each call keeps its own scope
        for node in ast.walk(scope):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == name
                and id(node) not in seen
            ):
                seen.add(id(node))
                yield scope, node


def raised_reasons() -> tuple[set[str], list[str]]:
    """Every `reason` the served code gives a `DataValidationError` or a `RequestRejected`, read
    from its source; and the calls whose reason could not be read (each must be explained).

    A `RequestRejected` whose reason is not a literal passes a `DataValidationError`'s reason on
    (`rejection_for`), which the first kind already lists."""
    default = inspect.signature(DataValidationError).parameters["reason"].default
    reasons, unread = {default}, []
    for path in served_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope, call in _calls(tree, "DataValidationError"):
            argument = _reason_argument(call, 1)
            if argument is None:
                continue  # the default, listed above
            if (value := _constant(argument)) is not None:
                reasons.add(value)
            elif isinstance(argument, ast.Name) and (values := _loop_values(scope, argument.id)):
                reasons |= values
            else:
                unread.append(f"{path.relative_to(ROOT)}:{call.lineno}")
        for _, call in _calls(tree, "RequestRejected"):
            if (value := _constant(_reason_argument(call, 3))) is not None:
                reasons.add(value)
    return reasons, unread


def test_the_document_is_valid_openapi(document):
    validate(document)  # raises with the offending part


def test_the_documents_version_is_the_packages(document):
    assert document["info"]["version"] == stockcast.__version__


def test_every_reason_the_served_code_raises_is_in_the_reason_enum(document):
    reasons, unread = raised_reasons()
    assert not unread, (
        f"reasons not read from the source (a literal or a loop over tuples): {unread}"
    )
    # the scan itself works: reasons from every layer, and the default
    assert {
        "invalid_csv",
        "too_few_rows",
        "unknown_calendar",
        "unsupported_content_type",
    } <= reasons
    enum = set(document["components"]["schemas"]["Reason"]["enum"])
    assert reasons - enum == set(), "add these to components.schemas.Reason in web/openapi.yaml"


def test_every_example_matches_its_own_schema(document, contract):
    checked = 0
    for body in document["components"]["requestBodies"].values():
        for media, content in body["content"].items():
            for example in content.get("examples", {}).values():
                contract.validate(example["value"], content["schema"], media)
                checked += 1
    for response in document["components"]["responses"].values():
        for media, content in response.get("content", {}).items():
            for example in content.get("examples", {}).values():
                contract.validate(example["value"], content["schema"], media)
                checked += 1
    assert checked >= 4


@pytest.fixture(scope="module")
def forecaster(tiny_run: Path) -> Forecaster:
    """The tiny model, with the version the handler adds from the archive's manifest."""
    loaded = Forecaster.load(tiny_run / "artifact")
    loaded.info["version"] = "1.0"
    return loaded


def example_csv(document: dict) -> bytes:
    content = document["components"]["requestBodies"]["Prices"]["content"]["text/csv"]
    return content["examples"]["goog60"]["value"].encode()


def test_the_documents_example_csv_is_forecast_and_the_answer_matches_the_document(
    document, contract, forecaster
):
    [outcome] = answer_batch(forecaster, [({"body": example_csv(document)}, "text/csv")])
    assert outcome.status == 200, outcome.body
    contract.check("POST", "/predictions/stockcast", 200, "application/json", _json(outcome.body))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "text/csv"),
        (b"Date,Open\n2024-01-02,1\n", "text/csv"),
        (b"a,b", "application/json"),
        (b"a=b", "application/x-www-form-urlencoded"),
    ],
    ids=["empty", "wrong columns", "json", "form-encoded"],
)
def test_refusals_match_the_documents_error_shape(contract, forecaster, body, content_type):
    [outcome] = answer_batch(forecaster, [({"body": body}, content_type)])
    assert 400 <= outcome.status < 500
    contract.check(
        "POST", "/predictions/stockcast", outcome.status, "application/json", _json(outcome.body)
    )


def test_the_contract_refuses_what_the_document_does_not_describe(contract):
    forecast_without_fields = b'{"last_date": "2013-03-01"}'
    with pytest.raises(ContractViolation, match="required property"):
        contract.check(
            "POST", "/predictions/stockcast", 200, "application/json", forecast_without_fields
        )
    with pytest.raises(ContractViolation, match="not documented"):
        contract.check("POST", "/predictions/stockcast", 418, "application/json", b"{}")
    with pytest.raises(ContractViolation, match="content type"):
        contract.check("POST", "/invocations", 422, "text/html", b"<p>no</p>")
    extra = b'{"error": "x", "detail": "y", "stack": "..."}'
    with pytest.raises(ContractViolation, match="Additional properties"):
        contract.check("PUT", "/predictions/stockcast", 400, "application/json", extra)
    # TorchServe's bare 413 (a body over max_request_size) is documented as such
    contract.check("POST", "/predictions/stockcast/1.0", 413, None, b"")


def test_a_multi_ticker_answer_is_checked_entry_by_entry(document, contract):
    example = document["components"]["responses"]["Forecast"]["content"]["application/json"]
    answer = example["examples"]["two_tickers"]["value"]
    refused = answer["results"][1]
    for broken in ({**refused, "status": 200}, {**refused, "reason": "no_such_reason"}):
        with pytest.raises(ContractViolation):
            contract.validate({**answer, "results": [broken]}, example["schema"])


def _json(body: dict) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def test_the_document_lives_where_the_upload_page_serves_it():
    assert LAYOUT.web_dir / "openapi.yaml" == DOCUMENT
