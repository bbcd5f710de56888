"""The status page in a real headless Chromium (Debian's chromium and chromium-driver).

It loads with no console error, shows the modem with its signal chart, shows a new SMS
after a reload, and leaves a screenshot under the test's tmp directory (path printed).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.helpers import wait_for
from tests.test_web_metrics import SEED_PHONES, Seeded, deliver, seeded

__all__ = ["seeded"]  # the fixture, imported for use here

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1100,1300")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    assert chromium, "apt-get install chromium (scripts/test does)"
    assert driver_path, "apt-get install chromium-driver (scripts/test does)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_status_page_in_chromium(seeded: Seeded, browser: webdriver.Chrome,
                                 tmp_path: Path) -> None:
    browser.get(seeded.server.status_url)
    assert browser.title == "appliance: status"
    modems = browser.find_element(By.ID, "modems").text
    assert "vala" in modems
    assert "up" in modems
    assert "-71 dBm" in modems
    chart = browser.find_element(By.CSS_SELECTOR, "tr.modem svg.signal polyline")
    assert len(chart.get_attribute("points").split()) == 5  # four recorded + the snapshot's
    assert browser.find_element(By.ID, "received").text == "3"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors

    shot = tmp_path / "status-page.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\nstatus page screenshot: {shot}")

    # A customer texts: the next load (the page refreshes itself every 30 s) counts it.
    deliver(SEED_PHONES[1], datetime.now(UTC), 77)
    browser.refresh()
    wait_for(lambda: browser.find_element(By.ID, "received").text == "4", timeout=10,
             what="the new SMS on the page")
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors
