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


def test_a_market_chosen_on_the_page_dates_the_forecast_by_it(page, torchserve):
    """GOOG's rows end on Friday 2013-03-01: asked to date them as a market open every day,
    the page shows Saturday, and says which calendar dated it and why."""
    expected = requests.put(
        torchserve.prediction_url,
        data=SAMPLE.read_bytes(),
        headers={"Exchange": "always-open"},
        timeout=30,
    ).json()
    assert expected["forecast"][0]["date"] == "2013-03-02"
    page.set_input_files("#csv", str(SAMPLE))
    page.fill("#exchange", "always-open")
    page.click("#submit")
    page.wait_for_selector("#result", state="visible", timeout=30_000)
    assert page.text_content("#forecast-date") == "2013-03-02"
    calendar = expected["calendar"]
    assert page.text_content("#calendar") == f"dated by {calendar['name']} ({calendar['how']})"


def test_a_file_of_several_tickers_shows_a_row_each_and_the_refused_one_says_why(page, tmp_path):
    header, *rows = SAMPLE.read_text().splitlines()
    lines = [f"Ticker,{header}"]
    lines += [f"GOOG,{row}" for row in rows[-80:]]
    lines += [f"SHORT,{row}" for row in rows[-5:]]
    universe = tmp_path / "universe.csv"
    universe.write_text("\n".join(lines) + "\n")
    page.set_input_files("#csv", str(universe))
    page.click("#submit")
    page.wait_for_selector("#many", state="visible", timeout=30_000)
    assert page.text_content("#many-summary") == "1 of 2 tickers forecast, 1 refused"
    table = page.locator("#many-table tbody tr")
    assert table.count() == 2
    assert table.nth(0).locator("td").nth(0).text_content() == "GOOG"
    assert table.nth(0).locator("td").nth(1).text_content() == "2013-03-04"
    refused = table.nth(1).locator("td").nth(1).text_content()
    assert table.nth(1).locator("td").nth(0).text_content() == "SHORT" and "rows" in refused
    assert page.is_hidden("#result")
