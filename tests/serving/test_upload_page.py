"""The upload page in a real headless Chromium: pick the sample CSV, read the forecast, see a chart."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import requests

from stockcast.stack.upload_page import page_url

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "GOOG.csv"
# what the docs show of the page: `make results FROM=outputs` copies it to docs/img/
SCREENSHOT = Path(__file__).resolve().parents[2] / "outputs" / "results" / "upload-page.png"


@pytest.fixture
def page(browser, torchserve, upload_page_port):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(page_url(upload_page_port, torchserve.inference_url))
    yield page
    page.close()


def test_uploading_the_sample_shows_the_forecast_numbers_and_a_chart(page, torchserve):
    expected = requests.put(torchserve.prediction_url, data=SAMPLE.read_bytes(), timeout=30).json()
    page.set_input_files("#csv", str(SAMPLE))
    page.click("#submit")
    page.wait_for_selector("#result", state="visible", timeout=30_000)

    [step] = expected["forecast"]
    assert page.text_content("#forecast-date") == step["date"]
    assert page.text_content("#forecast-close") == f"{step['close']:,.2f}"
    assert page.text_content("#last-date") == expected["last_date"]
    assert page.locator("#forecast-table tbody tr").count() == len(expected["forecast"])
    assert expected["model"]["version"] in page.text_content("#model")
    # the canvas has been drawn on: some pixels are neither white nor transparent
    drawn = page.evaluate(
        """() => {
        const c = document.getElementById('chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] < 200) n++;
        return n;
    }"""
    )
    assert drawn > 500
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_a_bad_file_shows_the_services_explanation(page, tmp_path):
    bad = tmp_path / "short.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,1,1,1,1,10\n")
    page.set_input_files("#csv", str(bad))
    page.click("#submit")
    page.wait_for_selector("#error", state="visible", timeout=30_000)
    assert "too few rows" in page.text_content("#error")
    assert page.is_hidden("#result")


def test_a_spreadsheet_export_shows_the_forecast_and_what_was_dropped(
    page, torchserve, tmp_path, export_of
):
    rows = [line.split(",") for line in SAMPLE.read_text().splitlines()[-120:]]
    friday = next(i for i, row in enumerate(rows) if date.fromisoformat(row[0]).weekday() == 4)
    export = tmp_path / "excel.csv"
    export.write_bytes(
        export_of(
            rows, delimiter=";", decimal=",", date_format="%d/%m/%Y", null_days_after=[friday]
        )
    )
    expected = requests.put(torchserve.prediction_url, data=export.read_bytes(), timeout=30).json()
    page.set_input_files("#csv", str(export))
    page.click("#submit")
    page.wait_for_selector("#result", state="visible", timeout=30_000)
    assert page.text_content("#forecast-close") == f"{expected['forecast'][0]['close']:,.2f}"
    [saturday] = expected["dropped_rows"]
    assert f"dropped 1 row(s) without prices: {saturday}" in page.text_content("#notes")
