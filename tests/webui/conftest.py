"""A headless Chromium (one per test module) and clusters whose master serves the dashboard."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from mesospy.cluster import LocalCluster
from mesospy.testing.browser import start_browser
from mesospy.testing.clusters import fast_master_flags, running_cluster

FAST_MASTER = fast_master_flags(max_agent_ping_timeouts=5)
AGENT_RESOURCES = "cpus:2;mem:1024;disk:1024;ports:[31000-31999]"


def dashboard_cluster(
    tmp_path_factory: pytest.TempPathFactory, agents: int = 1, **options: Any
) -> AbstractContextManager[LocalCluster]:
    """A started cluster whose master serves the dashboard (fast heartbeats unless
    ``master_flags`` says otherwise), stopped after."""
    options.setdefault("master_flags", FAST_MASTER)
    return running_cluster(
        lambda: tmp_path_factory.mktemp("cluster"),
        agents=agents,
        webui=True,
        agent_resources=AGENT_RESOURCES,
        **options,
    )


def dashboard_url(cluster: LocalCluster) -> str:
    """The dashboard's URL (ends with ``/``)."""
    assert cluster.master is not None and cluster.master.webui_url
    return cluster.master.webui_url


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
