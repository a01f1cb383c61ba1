"""Debian's Chromium driven through its chromedriver (Selenium), headless and offline: no
Selenium Manager download, no Google services, a fresh profile each time."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService

# Pants runs tests with a minimal PATH: look where Debian puts them too.
_PLACES = ("/usr/bin", "/usr/lib/chromium")


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (str(Path(p) / name) for p in _PLACES if (Path(p) / name).is_file()), None
        )
        if found:
            return found
    return None


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    if _find("chromium", "chromium-browser") is None:
        return "no chromium (apt-get install -y chromium chromium-driver)"
    if _find("chromedriver") is None:
        return "no chromedriver (apt-get install -y chromium-driver)"
    return None


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[webdriver.Chrome]:
    binary, driver = _find("chromium", "chromium-browser"), _find("chromedriver")
    assert binary and driver, missing()
    profile = tempfile.mkdtemp(prefix="es-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    os.environ.setdefault("SE_AVOID_STATS", "true")
    browser = webdriver.Chrome(options=options, service=DriverService(executable_path=driver))
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def resize(browser: webdriver.Chrome, width: int, height: int) -> None:
    """The viewport itself (window-size counts the window), so 390 means 390 CSS pixels."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700},
    )


def full_page_screenshot(browser: webdriver.Chrome, path: Path, width: int) -> None:
    """The whole page, not just the viewport, at `width` CSS pixels."""
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    resize(browser, width, max(height, 600))
    path.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(path))
