"""GET /metrics, the probes and the consumer's figures, on the in-memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest
from aiohttp.test_utils import TestClient, TestServer
from dependency_injector import providers
from prometheus_client import CollectorRegistry, generate_latest

from execution_service.adapters.http import OPENAPI_URL
from execution_service.adapters.memory import FixedClock, MemoryStore
from execution_service.adapters.prometheus import PrometheusBatchObserver, PrometheusTraceMetrics
from execution_service.app import Container, Settings, create_app
from execution_service.domain import BatchReport, Outcome
from support.metrics import Scrape


@attrs.define
class Probes:
    database: bool = True
    nats: bool = True
    consumer: bool = True


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestClient, Probes]]:
    probes = Probes()
    container = Container(settings=Settings())
    store = providers.Object(MemoryStore(FixedClock()))
    container.recorder.override(store)
    container.queries.override(store)

    def check(name: str):  # type: ignore[no-untyped-def]
        async def up() -> bool:
            if getattr(probes, name):
                return True
            raise ConnectionError(name)

        return up

    names = ("database", "nats", "consumer")
    container.readiness_checks.override(providers.Object({n: check(n) for n in names}))
    async with TestClient(TestServer(create_app(container))) as client:
        yield client, probes


async def scrape(client: TestClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return Scrape.parse(await response.text())


async def test_requests_are_counted_by_route_template_and_status(
    served: tuple[TestClient, Probes],
) -> None:
    client, _ = served
    for path in ("/api/executions/x1", "/api/executions/x2", "/no/such/x3"):
        assert (await client.get(path)).status == 404
    assert (await client.get("/api/executions?limit=0")).status == 400
    figures = await scrape(client)
    requests = "execution_service_http_requests_total"
    one = {"method": "GET", "route": "/api/executions/{id}"}
    assert figures.sum(requests, status="404", **one) == 2
    assert figures.sum(requests, route="unmatched", status="404") == 1
    assert figures.sum(requests, route="/api/executions", status="400") == 1
    assert figures.sum("execution_service_http_request_duration_seconds_count", **one) == 2
    assert not [labels for _, labels, _ in figures.samples if "x1" in str(labels)]


async def test_metrics_are_left_out_of_the_openapi_document_and_the_probes_are_in(
    served: tuple[TestClient, Probes],
) -> None:
    client, _ = served
    paths = (await (await client.get(OPENAPI_URL)).json())["paths"]
    assert "/metrics" not in paths
    assert {"/api/health", "/api/health/live", "/api/health/ready"} <= set(paths)


async def test_ready_names_each_failing_check_while_live_stays_200(
    served: tuple[TestClient, Probes],
) -> None:
    client, probes = served
    ready = await client.get("/api/health/ready")
    assert ready.status == 200
    assert (await ready.json())["failing"] == []

    probes.nats = probes.consumer = False
    ready = await client.get("/api/health/ready")
    assert ready.status == 503
    body = await ready.json()
    assert body["status"] == "error"
    assert body["failing"] == ["nats", "consumer"]
    assert body["checks"] == {"database": "up", "nats": "down", "consumer": "down"}

    probes.database = False
    live = await client.get("/api/health/live")
    assert live.status == 200
    assert (await live.json())["status"] == "ok"


def test_a_batch_is_counted_by_outcome_and_subject_and_strange_subjects_share_one_label() -> None:
    registry = CollectorRegistry()
    observer = PrometheusBatchObserver(registry)
    node = "execution.node.started"
    subjects = ["execution.started", "execution.started", node, node, node, "zz.a", "q.b"]
    outcomes = [Outcome.APPLIED, Outcome.DUPLICATE, *[Outcome.APPLIED] * 3]
    observer.batch_fetched(7, redelivered=2)
    observer.batch_recorded(subjects, BatchReport([*outcomes, *[Outcome.REJECTED] * 2], []))
    observer.dead_lettered_after_failures(1)
    observer.batch_finished(0.25)

    figures = Scrape.parse(generate_latest(registry).decode())
    events = "execution_service_events_total"
    assert figures.sum(events, outcome="applied") == 4
    assert figures.sum(events, outcome="applied", subject=node) == 3
    assert figures.sum(events, outcome="applied", subject="execution.started") == 1
    assert figures.sum(events, outcome="duplicate", subject="execution.started") == 1
    assert figures.sum(events, outcome="rejected", subject="other") == 2
    assert figures.sum("execution_service_dead_letters_total") == 3
    assert figures.sum("execution_service_redeliveries_total") == 2
    assert figures.sum("execution_service_batch_size_sum") == 7
    assert figures.sum("execution_service_batch_duration_seconds_sum") == 0.25
    assert not [labels for _, labels, _ in figures.samples if "zz" in str(labels)]


def test_the_age_of_the_last_event_restarts_only_when_one_is_applied() -> None:
    registry = CollectorRegistry()
    observer = PrometheusBatchObserver(registry)
    age = "execution_service_last_event_age_seconds"
    observer._last_applied -= 100  # as if started 100 s ago
    observer.batch_recorded(["execution.started"], BatchReport([Outcome.DUPLICATE], []))
    assert Scrape.parse(generate_latest(registry).decode()).sum(age) >= 100
    observer.batch_recorded(["execution.started"], BatchReport([Outcome.APPLIED], []))
    assert Scrape.parse(generate_latest(registry).decode()).sum(age) < 100


def test_the_trace_export_figures_and_the_late_events_the_recorder_counted() -> None:
    registry = CollectorRegistry()
    late = [0]
    metrics = PrometheusTraceMetrics(registry, lambda: late[0])
    metrics.exported(3, 12)
    metrics.export_failed()
    metrics.backlog(40)
    metrics.dropped(2)
    late[0] = 5
    figures = Scrape.parse(generate_latest(registry).decode())
    assert [
        figures.sum(name)
        for name in (
            "execution_service_traces_exported_total",
            "execution_service_trace_spans_exported_total",
            "execution_service_trace_export_failures_total",
            "execution_service_trace_export_backlog",
            "execution_service_traces_dropped_total",
            "execution_service_trace_late_events_total",
        )
    ] == [3, 12, 1, 40, 2, 5]
