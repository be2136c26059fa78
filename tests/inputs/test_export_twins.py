"""Generated export shapes: whatever is read gives exactly the forecast of its ISO, comma twin.

Hypothesis draws a slice of the bundled sample and a shape (delimiter, decimal mark, date
format, quoting, digit grouping, Yahoo `null` days; `export_cases` in tests/conftest.py),
derandomized so every run checks the same cases. The live server gets the same cases in
tests/reliability/test_hostile_input.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockcast.inputs.validation import read_price_table
from stockcast.model.forecaster import Forecaster


@pytest.fixture(scope="module")
def forecaster(tiny_run: Path) -> Forecaster:
    return Forecaster.load(tiny_run / "artifact")


def test_every_export_shape_reads_as_its_iso_twin_and_forecasts_the_same(
    forecaster, export_of, export_cases: st.SearchStrategy
):
    @settings(
        max_examples=80,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(export_cases)
    def reads_as_its_twin(case):
        rows, shape, dates = case
        body = export_of(rows, **shape)
        twin = read_price_table(export_of(rows), min_rows=forecaster.min_rows)
        table = read_price_table(body, min_rows=forecaster.min_rows)
        pd.testing.assert_frame_equal(table.frame, twin.frame, check_exact=True)
        assert forecaster.predict(table.frame) == forecaster.predict(twin.frame)
        assert table.read_as == {
            "delimiter": shape["delimiter"],
            "decimal": shape["decimal"],
            "dates": dates,
            "prices": "as written",
        }
        assert len(table.dropped_rows) == body.count(b"null") // 5

    reads_as_its_twin()
