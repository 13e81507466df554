"""A real headless browser for the page tests: Debian's chromium through Selenium.

Skipped, with the reason, where the browser, its driver or Selenium is missing (``.ci/run``
installs them: ``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, find: Callable[[], Any], timeout: float = 20.0) -> Any:
    """What ``find`` returns once it is truthy (page content arrives over SSE)."""
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = find()
        except WebDriverException:  # the element was redrawn between two lookups
            value = None
        if value:
            return value
        time.sleep(0.1)  # the page has no event a test can wait on; poll it
    raise AssertionError("not on the page in time:\n" + driver.page_source[-3000:])
