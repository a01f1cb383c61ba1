"""The page at /ui/, in Debian's Chromium, against the built PEX in `dev` mode (demo data) on
the test PostgreSQL and NATS: the list, the failed execution's timeline, a node event arriving
without a reload, Retry through to NATS, the dead letters. Screenshots go to SCREENSHOTS_DIR
(`.ci/run`: dist/screenshots)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import ActionChains, Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from execution_service.adapters.nats import Subjects
from execution_service.domain.events import format_time, parse_time
from support.browser import chromium, full_page_screenshot, missing, resize
from support.environment import service_environment
from support.service import Service

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"browser test: {missing()}")


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    with service_environment("u") as e:
        yield e


@pytest.fixture
def service(env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    running = Service(env, "dev", log=tmp_path / "dev.log")
    try:
        running.wait_healthy(timeout=120)
        yield running
    finally:
        running.stop(signal.SIGTERM)


def screenshots() -> Path:
    return Path(os.environ.get("SCREENSHOTS_DIR") or "dist/screenshots").resolve()


def shoot(browser: Chrome, name: str) -> None:
    """The page at 1280 and at 390 CSS pixels wide, whole, then back to 1280."""
    for width in (1280, 390):
        full_page_screenshot(browser, screenshots() / f"{name}-{width}.png", width)
    resize(browser, 1280, 900)


async def publish(env: dict[str, str], subject: str, data: bytes) -> None:
    nc = await nats.connect(env["NATS_URL"])
    await nc.jetstream().publish(env["NATS_SUBJECT_PREFIX"] + subject, data)
    await nc.close()


def node_started(execution: dict[str, Any], node: str, name: str) -> bytes:
    at = parse_time(execution["completedAt"]) + timedelta(milliseconds=150)
    return json.dumps(
        {
            "eventId": str(uuid.uuid4()),
            "eventType": "execution.node.started",
            "timestamp": format_time(at),
            "data": {"executionId": execution["id"], "nodeId": node, "nodeName": name},
        }
    ).encode()


def css(browser: Chrome, selector: str) -> list[Any]:
    return browser.find_elements(By.CSS_SELECTOR, selector)


def classes(element: Any) -> list[str]:
    return str(element.get_attribute("class") or "").split()


def shown(browser: Chrome, selector: str) -> Any:
    """The first displayed element that matches, or None (for WebDriverWait.until)."""
    return next((e for e in css(browser, selector) if e.is_displayed()), None)


def failed_node_marked(browser: Chrome) -> bool:
    """The failed node's row is marked, its bar says FAILED, and the other node's does not."""
    row = browser.find_element(By.CSS_SELECTOR, ".trace-row[data-node-id='search']")
    bar = row.find_element(By.CSS_SELECTOR, ".bar")
    other = browser.find_element(By.CSS_SELECTOR, ".trace-row[data-node-id='plan'] .bar")
    return (
        "failed-node" in classes(row)
        and "failed here" in row.text
        and bar.get_attribute("data-status") == "FAILED"
        and "FAILED" in bar.text
        and "FAILED" not in other.text
    )


def test_the_page_shows_the_demo_follows_new_events_and_retries(
    env: dict[str, str], service: Service
) -> None:
    with chromium() as browser:
        wait = WebDriverWait(
            browser, 30, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
        )
        resize(browser, 1280, 900)

        browser.get(service.base + "/")
        wait.until(lambda b: len(css(b, "tr[data-id^='demo-']")) == 4)
        assert browser.current_url == service.base + "/ui/"
        badges = {r.get_attribute("data-id"): r.find_element(By.CSS_SELECTOR, ".badge").text
                  for r in css(browser, "tr[data-id]")}  # fmt: skip
        assert {k: v.split()[-1] for k, v in badges.items()} == {
            "demo-completed": "COMPLETED", "demo-failed": "FAILED",
            "demo-running": "RUNNING", "demo-cancelled": "CANCELLED",
        }  # fmt: skip
        wait.until(lambda b: "1" in b.find_element(By.CSS_SELECTOR, ".chip.status-FAILED").text)
        shoot(browser, "executions")

        browser.find_element(By.LINK_TEXT, "demo-failed").click()
        # The page redraws when its live stream's first state arrives: read the timeline once
        # it has settled, each time from the page as it is (an element from an earlier draw
        # is stale).
        wait.until(lambda b: failed_node_marked(b))
        assert browser.current_url == service.base + "/ui/executions/demo-failed"
        bar = browser.find_element(By.CSS_SELECTOR, ".trace-row[data-node-id='search'] .bar")
        alert = browser.find_element(By.CSS_SELECTOR, ".alert").text
        assert "Web search" in alert and "search API timed out" in alert
        ActionChains(browser).move_to_element(bar).perform()
        tip: Any = wait.until(lambda b: shown(b, ".tip"))
        assert re.search(r"Start\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", tip.text), tip.text
        browser.save_screenshot(str(screenshots() / "timeline.png"))
        body = browser.find_element(By.TAG_NAME, "body")
        for _ in range(40):  # the bars are reachable from the keyboard, in order
            body.send_keys(Keys.TAB)
            if browser.switch_to.active_element.get_attribute("data-run-id"):
                break
        assert "bar" in classes(browser.switch_to.active_element)
        ActionChains(browser).move_to_element(browser.find_element(By.TAG_NAME, "h1")).perform()
        shoot(browser, "execution-failed")

        browser.execute_script("window.sameDocument = true")
        execution = service.get("/api/executions/demo-failed")[1]
        asyncio.run(
            publish(env, "execution.node.started", node_started(execution, "notify", "Notify"))
        )
        row = wait.until(lambda b: css(b, ".trace-row[data-node-id='notify']"))[0]
        assert "RUNNING" in row.text
        assert browser.execute_script("return window.sameDocument") is True  # no reload

        async def retry() -> dict[str, Any]:
            nc = await nats.connect(env["NATS_URL"])
            sub = await nc.subscribe(Subjects(env["NATS_SUBJECT_PREFIX"]).retry_requested)
            await nc.flush()

            def press_and_confirm() -> str:
                browser.find_element(By.CSS_SELECTOR, "button.retry").click()
                dialog: Any = wait.until(lambda b: shown(b, "dialog[open]"))
                assert "attempt 2" in dialog.text and "Web search" in dialog.text
                dialog.find_element(By.CSS_SELECTOR, "button[value='confirm']").click()
                return str(wait.until(lambda b: css(b, ".result"))[0].text)

            answer = await asyncio.to_thread(press_and_confirm)
            assert answer.startswith("202 Accepted") and "attempt 2" in answer, answer
            received = json.loads((await sub.next_msg(timeout=10)).data)
            await nc.close()
            return received

        received = asyncio.run(retry())
        assert received["eventType"] == "execution.retry.requested"
        assert received["data"]["executionId"] == "demo-failed"
        assert received["data"]["failedNodeId"] == "search" and received["data"]["attempt"] == 2
        wait.until(
            lambda b: "search"
            in b.find_element(By.ID, "retries-title").find_element(By.XPATH, "..").text
        )
        shoot(browser, "execution-retried")

        asyncio.run(publish(env, "execution.started", b"{not json"))
        browser.find_element(By.LINK_TEXT, "Dead letters").click()
        letter = wait.until(lambda b: css(b, "article.letter"))[0]
        assert "not JSON" in letter.text and "execution.started" in letter.text
        assert "{not json" in letter.text
        shoot(browser, "dead-letters")

        browser.get(service.base + "/ui/executions/demo-completed")  # a deep link
        wait.until(
            lambda b: css(b, ".trace-row[data-node-id='write'] .bar[data-status='COMPLETED']")
        )
        assert not css(browser, "button.retry")
        # No script error anywhere on the way (a missing stream is a 404 the page handles).
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert [e for e in errors if not re.search(r"/stream(\?|\s|$)", e["message"])] == []
