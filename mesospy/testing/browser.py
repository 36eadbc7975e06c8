"""A headless Chromium under WebDriver, for tests and screenshots of the dashboard.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package (a dev
dependency); nothing here is imported by mesospy itself.
"""

from __future__ import annotations

from selenium import webdriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def start_browser(user_data_dir: str, width: int = 1400, height: int = 1000) -> webdriver.Chrome:
    """A fresh headless Chromium with its profile in ``user_data_dir`` (quit it after)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [
        *BROWSER_FLAGS,
        f"--window-size={width},{height}",
        f"--user-data-dir={user_data_dir}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver
