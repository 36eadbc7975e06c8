"""A headless Chromium (one per test module) and clusters whose master serves the dashboard."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from mesospy.testing.browser import start_browser

FAST_MASTER = [
    "--allocation-interval",
    "0.2",
    "--agent-ping-timeout",
    "0.5",
    "--max-agent-ping-timeouts",
    "5",
    "--framework-heartbeat-interval",
    "2",
]
AGENT_RESOURCES = "cpus:2;mem:1024;disk:1024;ports:[31000-31999]"


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium for the tests of one module."""
    with tempfile.TemporaryDirectory(prefix="mesospy-chromium-") as profile:
        driver = start_browser(profile)
        try:
            yield driver
        finally:
            driver.quit()


def wait_until(
    driver: webdriver.Chrome, check: Callable[[], Any], what: str, timeout: float = 20.0
) -> Any:
    """Wait until ``check()`` is truthy (elements re-rendered meanwhile are retried)."""

    def attempt(_: object) -> Any:
        try:
            return check()
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        attempt, message=f"waiting for {what}"
    )


def text_of(driver: webdriver.Chrome, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def rows(driver: webdriver.Chrome, css: str) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, css)
