"""Generated hostile bodies against the live endpoint: never a 5xx, never a traceback, always a
JSON body, and the same worker processes afterwards.

Hypothesis draws the cases (derandomized, no example database: every run sends the same ones)
and each test sends them one by one to the session's real TorchServe. The case counts are fixed
by `max_examples` below (270 hostile bodies, 20 export shapes and their twins, 40 damaged
exports) and printed with the status codes seen (`pytest -s`).
Real-world export shapes (`export_cases` in tests/conftest.py: semicolons, decimal commas,
DD/MM dates, Yahoo `null` days) must get exactly their ISO twin's forecast, and damaged ones a
JSON answer below 500.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockcast.stack.torchserve import LocalTorchServe

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
LINES = (ROOT / "data" / "GOOG.csv").read_text().splitlines()
HEADER, ROWS = LINES[0], LINES[1:]
COLUMNS = HEADER.split(",")
CONTENT_TYPES = [
    "text/csv",
    "",
    "text/plain; charset=utf-16",
    "application/octet-stream",
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=xyz",
    "image/png",
]
AWKWARD_NUMBERS = [
    "nan", "NaN", "-nan", "inf", "-Infinity", "1e308", "1e309", "-1e309", "1e-320", "-1", "0",
    "-0", "9" * 400, "", " ", "0x10", "1_000", "1,5", "١٢٣", "∞", "None", "null", "--1",
]  # fmt: skip


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(",".join(cells) for cells in [header, *rows]) + "\n"


def sample_rows(count: int, start: int | None = None) -> list[list[str]]:
    first = len(ROWS) - count if start is None else start
    return [row.split(",") for row in ROWS[first : first + count]]


def send_raw(url: str, case: tuple[bytes, str]) -> requests.Response:
    body, content_type = case
    return requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=60)


def post_csv(url: str, body: bytes) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": "text/csv"}, timeout=60)


def send_multipart(url: str, case: tuple[str, str, bytes, str]) -> requests.Response:
    field, filename, body, part_type = case
    return requests.post(url, files={field: (filename, body, part_type)}, timeout=60)


def run_cases(
    server: LocalTorchServe,
    cases: st.SearchStrategy[Any],
    send: Callable[[str, Any], requests.Response],
    max_examples: int,
) -> Counter[int]:
    """Send every generated case; each answer must be a JSON body with a status below 500."""
    workers = server.worker_pids()
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(cases)
    def answers_safely(case: Any) -> None:
        response = send(server.prediction_url, case)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (case, response.text[:300])
        assert "Traceback" not in response.text
        assert isinstance(response.json(), dict), response.text[:300]

    answers_safely()
    print(f"{sum(statuses.values())} cases, statuses {dict(sorted(statuses.items()))}")
    assert server.worker_pids() == workers
    return statuses


# --- strategies -------------------------------------------------------------------------------

random_bytes = st.tuples(st.binary(max_size=4096), st.sampled_from(CONTENT_TYPES))


def reordered(names: list[str], keep: int, filler: str, rows: list[list[str]]) -> str:
    """The first `keep` of `names` as the header; known columns carry the sample's values."""
    header = names[:keep]
    cells = [[row[COLUMNS.index(n)] if n in COLUMNS else filler for n in header] for row in rows]
    return csv_text(header, cells)


column_sets = st.builds(
    reordered,
    st.permutations([*COLUMNS, "Adj Close", "date", " CLOSE ", "", "Datum", "Volume"]),
    st.integers(0, 12),
    st.text(max_size=6).filter(lambda text: "," not in text and "\n" not in text),
    st.integers(0, 80).map(sample_rows),
)

awkward_numbers = st.builds(
    lambda rows, edits: csv_text(COLUMNS, apply(rows, edits)),
    st.integers(0, 120).map(sample_rows),
    st.lists(
        st.tuples(
            st.integers(0, 119),
            st.integers(1, 5),
            st.sampled_from(AWKWARD_NUMBERS) | st.floats().map(repr),
        ),
        min_size=1,
        max_size=6,
    ),
)


def apply(rows: list[list[str]], edits: list[tuple[int, int, str]]) -> list[list[str]]:
    """`rows` with cell (row, column) replaced for each edit whose row exists."""
    rows = [list(row) for row in rows]
    for row, column, value in edits:
        if row < len(rows):
            rows[row][column] = value
    return rows


shuffled_and_duplicated_dates = st.builds(
    lambda rows, duplicates: csv_text(COLUMNS, rows + [rows[i % len(rows)] for i in duplicates]),
    st.permutations(sample_rows(60)),
    st.lists(st.integers(0, 59), max_size=5),
)

any_row_count = st.builds(
    lambda count, start: csv_text(COLUMNS, sample_rows(count, start % (len(ROWS) - count + 1))),
    st.integers(0, len(ROWS)),
    st.integers(0, len(ROWS)),
)

wrong_encodings = st.tuples(
    st.builds(
        lambda header, rows, encoding: csv_text(header, rows).encode(encoding),
        st.sampled_from([COLUMNS, ["Dåte", *COLUMNS[1:]], [f"{c}é" for c in COLUMNS]]),
        st.integers(0, 80).map(sample_rows),
        st.sampled_from(["latin-1", "cp1252", "utf-16", "utf-16-le", "utf-32", "utf-8-sig"]),
    ),
    st.sampled_from(["text/csv", "text/csv; charset=ISO-8859-1", "text/csv; charset=utf-16"]),
)

multipart_uploads = st.tuples(
    # an empty part name or an unknown part charset is TorchServe's own 500 before any handler
    # runs (pinned by the last test), so neither is drawn here
    (
        st.sampled_from(["data", "file", "DATA", "data[]", 'da"ta', "dàta"]) | st.text(max_size=20)
    ).filter(lambda name: name != ""),
    st.text(max_size=20),
    st.sampled_from([csv_text(COLUMNS, sample_rows(80)).encode(), b"", b"\xff\xfe\x00"])
    | st.binary(max_size=512),
    st.sampled_from(
        [
            "text/csv",
            "application/octet-stream",
            "image/png",
            "text/csv; charset=ISO-8859-1",
            "text/csv; charset=UTF-16",
        ]
    ),
)


@pytest.mark.parametrize(
    ("cases", "send", "max_examples"),
    [
        pytest.param(random_bytes, send_raw, 50, id="random bytes, any content type"),
        pytest.param(
            column_sets.map(lambda text: (text.encode(), "text/csv")), send_raw, 40, id="columns"
        ),
        pytest.param(
            awkward_numbers.map(lambda text: (text.encode(), "text/csv")),
            send_raw,
            50,
            id="NaN, inf, huge, negative numbers",
        ),
        pytest.param(
            shuffled_and_duplicated_dates.map(lambda text: (text.encode(), "text/csv")),
            send_raw,
            30,
            id="shuffled and duplicate dates",
        ),
        pytest.param(
            any_row_count.map(lambda text: (text.encode(), "text/csv")),
            send_raw,
            30,
            id="0 to all rows",
        ),
        pytest.param(wrong_encodings, send_raw, 30, id="latin-1, UTF-16, UTF-32"),
        pytest.param(multipart_uploads, send_multipart, 40, id="multipart, odd field names"),
    ],
)
def test_hostile_bodies_get_a_json_answer_below_500_and_keep_the_workers(
    torchserve: LocalTorchServe,
    cases: st.SearchStrategy[Any],
    send: Callable[[str, Any], requests.Response],
    max_examples: int,
) -> None:
    run_cases(torchserve, cases, send, max_examples)


@pytest.mark.parametrize(
    ("field", "part_type", "message"),
    [
        pytest.param("", "text/csv", "empty name", id="empty part name"),
        pytest.param("data", "text/csv; charset=x", "UnsupportedCharsetException", id="charset"),
    ],
)
def test_multipart_that_torchserve_cannot_decode_is_its_own_json_500_and_harms_no_worker(
    torchserve: LocalTorchServe, field: str, part_type: str, message: str
) -> None:
    """A known limit of TorchServe 0.12, pinned so a fix upstream shows up here: its frontend
    (Netty's form decoder) fails on these parts before any handler runs, and answers 500 with
    a JSON body. No worker is involved; the server-error alert counts these."""
    workers = torchserve.worker_pids()
    body = csv_text(COLUMNS, sample_rows(80)).encode()
    response = send_multipart(torchserve.prediction_url, (field, "p.csv", body, part_type))
    assert response.status_code == 500
    assert response.json()["type"] == "ErrorDataDecoderException"
    assert message in response.json()["message"]
    assert torchserve.worker_pids() == workers


# --- real-world export shapes ------------------------------------------------------------------

EXAMPLES = settings(max_examples=20, deadline=None, derandomize=True, database=None)
FORECAST_KEYS = ("last_date", "last_close", "forecast", "backtest", "model")
DAMAGE = ("date in year 2999", "one null price", "a huge price", "line cut short", "an ISO line")


def damaged(body: bytes, twin: bytes, delimiter: str, edits: list[tuple[int, str]]) -> bytes:
    """`body` with each edit applied to one of its data lines (by index, modulo their count)."""
    lines, twin_lines = body.decode().splitlines(), twin.decode().splitlines()
    for index, kind in edits:
        at = 1 + index % (len(lines) - 1)
        cells = lines[at].split(delimiter)
        if kind == "date in year 2999":
            cells[0] = "2999-01-04"
        elif kind == "one null price":
            cells[2] = "null"
        elif kind == "a huge price":
            cells[1:5] = ["99999999"] * 4
        lines[at] = delimiter.join(cells)
        if kind == "line cut short":
            lines[at] = lines[at][:5]
        elif kind == "an ISO line":
            lines[at] = twin_lines[min(at, len(twin_lines) - 1)]
    return ("\n".join(lines) + "\n").encode()


def test_export_shapes_get_exactly_the_forecast_of_their_iso_twin(
    torchserve: LocalTorchServe, export_of: Callable[..., bytes], export_cases: st.SearchStrategy
) -> None:
    @EXAMPLES
    @given(export_cases)
    def same_forecast(case: tuple) -> None:
        rows, shape, dates = case
        shaped = post_csv(torchserve.prediction_url, export_of(rows, **shape))
        twin = post_csv(torchserve.prediction_url, export_of(rows))
        assert shaped.status_code == twin.status_code == 200, shaped.text[:300]
        answer = shaped.json()
        assert [answer[key] for key in FORECAST_KEYS] == [twin.json()[key] for key in FORECAST_KEYS]
        assert answer["read_as"]["delimiter"] == shape["delimiter"]
        assert answer["read_as"]["dates"] == dates

    same_forecast()


def test_damaged_exports_get_a_json_answer_below_500_and_keep_the_workers(
    torchserve: LocalTorchServe, export_of: Callable[..., bytes], export_cases: st.SearchStrategy
) -> None:
    edits = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(DAMAGE)), max_size=3)
    cases = st.builds(
        lambda case, edits: (
            damaged(export_of(case[0], **case[1]), export_of(case[0]), case[1]["delimiter"], edits),
            "text/csv",
        ),
        export_cases,
        edits,
    )
    statuses = run_cases(torchserve, cases, send_raw, 40)
    assert set(statuses) <= {200, 400, 422}, statuses
