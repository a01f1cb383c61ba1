"""A real OTLP/HTTP traces receiver for the tests: an aiohttp server that decodes each request
with opentelemetry-proto (the official message definitions) and keeps every span it got."""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import attrs
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


@attrs.frozen
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start: int  # ns since the epoch
    end: int
    status: str  # STATUS_CODE_UNSET, _OK, _ERROR
    message: str
    attributes: dict[str, Any]
    links: list[tuple[str, str, dict[str, Any]]]
    events: list[tuple[str, dict[str, Any]]]
    resource: dict[str, Any]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self.status = 200  # what it answers: a test sets 503 to play a failing collector
        self.response_delay = 0.0  # seconds between taking a request's spans and answering
        self.in_flight = 0  # requests whose spans it took and has not answered yet
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    async def start(self) -> None:
        """Listens on the port it had before, if it had one (a collector back after a fall)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        encoding = request.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.requests += 1
        if self.status != 200:
            return web.Response(status=self.status, text="not now")
        decoded = ExportTraceServiceRequest()
        decoded.ParseFromString(body)
        for resource_spans in decoded.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.name,
                            span.start_time_unix_nano,
                            span.end_time_unix_nano,
                            span.status.DESCRIPTOR.fields_by_name["code"]
                            .enum_type.values_by_number[span.status.code]
                            .name,
                            span.status.message,
                            _attributes(span.attributes),
                            [
                                (
                                    link.trace_id.hex(),
                                    link.span_id.hex(),
                                    _attributes(link.attributes),
                                )
                                for link in span.links
                            ],
                            [(event.name, _attributes(event.attributes)) for event in span.events],
                            resource,
                        )
                    )
        if self.response_delay:
            self.in_flight += 1
            try:
                await asyncio.sleep(self.response_delay)
            finally:
                self.in_flight -= 1
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    def traces(self) -> dict[str, list[ReceivedSpan]]:
        by_trace: dict[str, list[ReceivedSpan]] = {}
        for span in self.spans:
            by_trace.setdefault(span.trace_id, []).append(span)
        return by_trace

    def roots(self) -> list[ReceivedSpan]:
        return [
            s for s in self.spans if s.attributes.get("gen_ai.operation.name") == "invoke_workflow"
        ]


T = TypeVar("T")


class ReceiverThread:
    """The receiver on an event loop of its own, for tests that run the service as a process
    and wait synchronously."""

    def __init__(self) -> None:
        self.receiver = OtlpReceiver()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def call(self, work: Callable[[], Awaitable[T]]) -> T:
        return asyncio.run_coroutine_threadsafe(_awaited(work), self._loop).result(30)

    def start(self) -> None:
        self.call(self.receiver.start)

    def stop(self) -> None:
        self.call(self.receiver.stop)


async def _awaited(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


@contextmanager
def receiver_thread() -> Iterator[ReceiverThread]:
    running = ReceiverThread()
    running._thread.start()
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running._loop.call_soon_threadsafe(running._loop.stop)
        running._thread.join(10)
