"""Time to first paint of the page, measured in Chromium: the executions list with 10,000
executions stored, and one execution of 500 node runs drawn as a timeline. Reads the
browser's own Performance API: `first-contentful-paint`, and the page's marks
`executions-drawn` / `timeline-drawn` (set when the table / timeline holds the data).

    ./pants run bench/ui_bench.py -- --executions 10000 --node-runs 500 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
from http_bench import run_service, seed, wait
from selenium.webdriver import Chrome
from selenium.webdriver.support.ui import WebDriverWait

from common import T0
from execution_service.adapters.nats import EmbeddedNats
from execution_service.adapters.nats.embedded import free_port
from support.browser import chromium, resize
from support.postgres import fresh_database

BIG = "big-execution"


def big_execution(node_runs: int) -> list[tuple[str, dict[str, Any]]]:
    """One execution, `node_runs` node runs on overlapping branches; the last one fails."""
    start = T0 + timedelta(days=30)  # newer than the 10,000: first in the list
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(subject: str, ms: int, **data: Any) -> None:
        at = (start + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")
        envelope = {"eventId": f"{BIG}-{len(events)}", "eventType": subject, "timestamp": at}
        events.append((subject, envelope | {"data": {"executionId": BIG, **data}}))

    emit("execution.started", 0, workflowId="wf-big", userId="u1", input={"n": node_runs})
    for n in range(node_runs):
        node = {"nodeId": f"node-{n:03d}", "nodeType": "tool"}
        begin, length = 20 * n, 60 + (n * 37) % 400
        emit("execution.node.started", begin, **node, nodeName=f"Step {n}", input={"n": n})
        if n == node_runs - 1:
            emit("execution.node.failed", begin + length, **node, error="boom")
        else:
            emit(
                "execution.node.completed",
                begin + length,
                **node,
                output={"ok": n},
                duration=length,
            )
    emit("execution.failed", 20 * node_runs + 500, error="node failed")
    return events


async def publish(url: str, prefix: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for subject, envelope in events:
        await js.publish(prefix + subject, json.dumps(envelope).encode())
    await nc.close()


def measure(browser: Chrome, url: str, page: str) -> dict[str, float]:
    mark = f"{page}-drawn"
    browser.get(url)
    WebDriverWait(browser, 60, poll_frequency=0.02).until(
        lambda b: b.execute_script("return performance.getEntriesByName(arguments[0]).length", mark)
    )
    return dict(
        browser.execute_script(
            """const paint = performance.getEntriesByName('first-contentful-paint')[0];
               return {fcp: paint ? paint.startTime : NaN,
                       drawn: performance.getEntriesByName(arguments[0])[0].startTime,
                       elements: document.getElementsByTagName('*').length};""",
            mark,
        )
    )


def redraw_ms(browser: Chrome) -> float:
    """The page's own measure of its last timeline redraw (what each live update costs)."""
    return float(
        browser.execute_script(
            "return performance.getEntriesByName('timeline-render').at(-1).duration"
        )
    )


def main(executions: int, node_runs: int, repeat: int, shots: Path | None) -> None:
    nats_url = os.environ.get("TEST_NATS_URL")
    server = None if nats_url else EmbeddedNats(Path(tempfile.mkdtemp())).start()
    nats_url = nats_url or server.url  # type: ignore[union-attr]
    context = multiprocessing.get_context("fork")
    tag = os.urandom(4).hex()
    with fresh_database() as url:
        asyncio.run(seed(url, executions))
        port = free_port()
        env = {
            "DATABASE_URL": url.url(), "NATS_URL": nats_url, "PORT": str(port),
            "APP_ENV": "production", "LOG_LEVEL": "WARNING",
            "NATS_SUBJECT_PREFIX": f"b{tag}.", "NATS_STREAM": f"B{tag}",
        }  # fmt: skip
        service = context.Process(target=run_service, args=(env,))
        service.start()
        base = f"http://127.0.0.1:{port}"
        try:
            wait(f"{base}/api/health")
            asyncio.run(publish(nats_url, f"b{tag}.", big_execution(node_runs)))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                body = urllib.request.urlopen(f"{base}/api/executions/{BIG}/logs?limit=1").read()
                if json.loads(body)["total"] >= node_runs:
                    break
                time.sleep(0.5)
            results: dict[str, list[dict[str, float]]] = {}
            with chromium() as browser:
                for width in (1280, 390):
                    resize(browser, width, 900)
                    pages = (
                        (f"list of {executions:,} executions", "/ui/", "executions"),
                        (f"timeline of {node_runs} node runs", f"/ui/executions/{BIG}", "timeline"),
                    )
                    for name, path, mark in pages:
                        runs = [measure(browser, base + path, mark) for _ in range(repeat)]
                        if "timeline" in name:
                            runs[-1]["redraw"] = redraw_ms(browser)
                            if shots:
                                shots.mkdir(parents=True, exist_ok=True)
                                browser.save_screenshot(
                                    str(shots / f"timeline-{node_runs}-{width}.png")
                                )
                        results[f"{name} at {width} px"] = runs
        finally:
            service.terminate()
            service.join(20)
        asyncio.run(_drop_stream(nats_url, f"B{tag}"))
    if server:
        server.stop()
    print(f"Chromium headless, median of {repeat} loads (ms from navigation start)")
    for name, runs in results.items():
        fcp = statistics.median(r["fcp"] for r in runs)
        drawn = statistics.median(r["drawn"] for r in runs)
        extra = ""
        if "redraw" in runs[-1]:
            extra = f", a timeline redraw {runs[-1]['redraw']:.0f} ms"
        elements = int(runs[0]["elements"])
        drawing = f"first paint {fcp:5.0f}, data drawn {drawn:5.0f}{extra}"
        print(f"  {name:<40} {drawing} ({elements} elements)")


async def _drop_stream(url: str, name: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(name)
    except Exception:  # noqa: BLE001 - never created
        pass
    await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--node-runs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--screenshots", type=Path, help="save the big timeline here")
    args = parser.parse_args()
    main(args.executions, args.node_runs, args.repeat, args.screenshots)
