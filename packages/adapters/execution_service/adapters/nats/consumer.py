"""The durable, batched JetStream consumer (CONTRACT §1).

fetch up to N → parse → record events and dead letters in ONE unit of work → ack them all.
A message is acked only after its effect is committed, so a crash anywhere loses nothing;
redeliveries are harmless because de-duplication is durable.

`concurrency` loops do that side by side, each with its own pull consumer (pull.py: JetStream's
pull protocol without a future per message) on the durable consumer, as replicas do: while one
waits for PostgreSQL, another parses and folds, so the two cores both work. The store's writes
are order-independent and safe for concurrent writers, so nothing else changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import attrs

from execution_service.adapters.nats.decoding import decode_event_body
from execution_service.adapters.nats.pull import Delivery, PullConsumer, ack, ack_all, nak
from execution_service.adapters.nats.stream import bind_or_create_stream
from execution_service.adapters.nats.subjects import Subjects
from execution_service.domain import (
    MAX_EVENT_BYTES,
    BatchObserver,
    BatchReport,
    DeadLetter,
    ExecutionRecorder,
    Outcome,
    RawMessage,
    Unavailable,
    UnobservedBatches,
    parse_message,
    record_events,
)
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)
_tuple_new = tuple.__new__


@attrs.define
class ConsumerSettings:
    stream: str = "EXECUTIONS"
    stream_replicas: int = 1  # for a stream created here; the durable follows its stream
    durable: str = "execution-service"
    batch_size: int = 500
    fetch_timeout: float = 1.0
    ack_wait: float = 60.0
    max_deliveries: int = 5  # a message failing this often for a non-passing reason is dead
    max_backoff: float = 5.0
    max_event_bytes: int = MAX_EVENT_BYTES
    concurrency: int = 2  # batches in flight at once


@attrs.define
class ConsumerStats:
    fetches: int = 0  # attempts, empty or failed ones included
    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    dead_lettered_after_failures: int = 0
    database_up: bool = True


class EventConsumer:
    def __init__(
        self,
        nc: Client,
        store: ExecutionRecorder,
        subjects: Subjects,
        settings: ConsumerSettings | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        self._nc = nc
        self._store = store
        self._subjects = subjects
        self.settings = settings or ConsumerSettings()
        self.stats = ConsumerStats()
        self.stream: str | None = None
        self._pulls: list[PullConsumer] = []
        self._stopping = asyncio.Event()
        self._backoff = 0.0
        self._observer: BatchObserver = observer or UnobservedBatches()
        self.running = False  # run() is consuming: readiness asks this

    async def start(self) -> None:
        s = self.settings
        js = self._nc.jetstream()
        self.stream = await bind_or_create_stream(
            js, self._subjects, s.stream, replicas=s.stream_replicas
        )
        config = ConsumerConfig(
            name=s.durable,
            durable_name=s.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=s.ack_wait,
            # Room for the batches in flight of ten replicas: past this the server hands out
            # nothing more, and every replica's pull requests are refused.
            max_ack_pending=max(10 * s.concurrency * s.batch_size, 1000),
            filter_subject=self._subjects.events,
        )
        try:  # bind to the durable as it is, like replicas started with other settings
            await js.consumer_info(self.stream, s.durable)
        except NotFoundError:
            await js.add_consumer(self.stream, config)
        self._pulls = [
            PullConsumer(self._nc, self.stream, s.durable) for _ in range(max(1, s.concurrency))
        ]
        for pull in self._pulls:
            await pull.start()

    def stop(self) -> None:
        """Stop fetching; the batch in hand is finished and acknowledged."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until stop(); never dies of a bad message or a passing failure."""
        if not self._pulls:
            raise RuntimeError("start() the consumer before running it")
        self.running = True
        try:
            await asyncio.gather(*(self._loop(pull) for pull in self._pulls))
        finally:
            self.running = False
            await self._close()

    async def _loop(self, pull: PullConsumer) -> None:
        while not self._stopping.is_set():
            self.stats.fetches += 1
            try:
                messages = await pull.fetch(
                    self.settings.batch_size, timeout=self.settings.fetch_timeout
                )
            except Exception as exc:  # noqa: BLE001 - disconnected, closed, refused…: retry
                log.warning("fetch failed (%r); retrying", exc)
                await self._sleep(1.0)
                continue
            try:
                await self.handle(messages)
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("unexpected failure handling a batch; it will be redelivered")
                await self._sleep(1.0)

    async def handle(self, messages: Sequence[Msg]) -> None:
        if not messages:
            return  # a fetch that expired empty: nothing happened, so nothing to say
        started = time.perf_counter()
        raw, redelivered = self._raw_batch(messages)
        self._observer.batch_fetched(len(messages), redelivered)
        try:
            await self._record(messages, raw)
        finally:
            self._observer.batch_finished(time.perf_counter() - started)

    async def _record(self, messages: Sequence[Msg], raw: Sequence[RawMessage]) -> None:
        started = time.perf_counter()
        try:
            report = await record_events(
                self._store, raw, self.settings.max_event_bytes, decode_event_body
            )
        except Unavailable as exc:
            await self._passing_failure(messages, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a message the store cannot take
            log.warning("batch of %d failed (%r); isolating messages", len(messages), exc)
            await self._one_by_one(messages, raw)
            return
        self._recovered()
        await self._acknowledge(messages, raw, report)
        self._log_batch(report, time.perf_counter() - started)

    async def _one_by_one(self, messages: Sequence[Msg], raw: Sequence[RawMessage]) -> None:
        for msg, message in zip(messages, raw, strict=True):
            try:
                report = await record_events(
                    self._store, [message], self.settings.max_event_bytes, decode_event_body
                )
            except Unavailable as exc:
                await self._passing_failure([msg], exc)
                continue
            except Exception as exc:  # noqa: BLE001
                delivery = _delivery(msg)
                delivered = delivery.delivered if delivery is not None else 1
                if delivered < self.settings.max_deliveries:
                    await nak(self._nc, msg, self._next_backoff())
                    continue
                reason = _storable(f"failed {delivered} deliveries: {exc!r}"[:1000])
                key = parse_message(message, self.settings.max_event_bytes).key
                letter = DeadLetter(key, message.subject, message.data, message.headers, reason)
                try:
                    await self._store.record([], [letter])
                except Exception:  # noqa: BLE001 - keep it for redelivery
                    await nak(self._nc, msg, self._next_backoff())
                    continue
                self.stats.dead_lettered_after_failures += 1
                self._observer.dead_lettered_after_failures(1)
                log.error("dead-lettered %s after %d deliveries: %r", letter.key, delivered, exc)
                await self._publish_dead_letter(message, reason)
                await ack(self._nc, msg)
                continue
            await self._acknowledge([msg], [message], report)

    async def _acknowledge(
        self, messages: Sequence[Msg], raw: Sequence[RawMessage], report: BatchReport
    ) -> None:
        for message, letter in _rejected(raw, report):
            log.warning("rejected %s on %s: %s", letter.key, message.subject, letter.reason)
            await self._publish_dead_letter(message, letter.reason)
        await ack_all(self._nc, messages)
        self._observer.batch_recorded([m.subject for m in raw], report)
        self.stats.batches += 1
        self.stats.applied += report.count(Outcome.APPLIED)
        self.stats.duplicates += report.count(Outcome.DUPLICATE)
        self.stats.rejected += report.count(Outcome.REJECTED)
        self.stats.ignored += report.count(Outcome.IGNORED)

    async def _publish_dead_letter(self, message: RawMessage, reason: str) -> None:
        """Best effort: the dead letter is already stored."""
        try:
            headers = dict(message.headers) | {"Dead-Letter-Reason": reason[:500]}
            await self._nc.publish(
                self._subjects.dead_letter(message.subject), message.data, headers=headers
            )
        except Exception as exc:  # noqa: BLE001
            log.debug("could not publish a dead letter: %r", exc)

    async def _passing_failure(self, messages: Sequence[Msg], exc: Exception) -> None:
        if self.stats.database_up:
            log.error("store unavailable, backing off: %s", exc)
        self.stats.database_up = False
        delay = self._next_backoff()
        for msg in messages:
            try:
                await nak(self._nc, msg, delay)
            except Exception:  # noqa: BLE001 - unacked, it comes back after ack_wait
                pass
        await self._sleep(delay)

    def _recovered(self) -> None:
        if not self.stats.database_up:
            log.info("store available again")
        self.stats.database_up = True
        self._backoff = 0.0

    def _next_backoff(self) -> float:
        self._backoff = min(self.settings.max_backoff, max(0.1, self._backoff * 2))
        return self._backoff

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def _raw_batch(self, messages: Sequence[Msg]) -> tuple[list[RawMessage], int]:
        """The messages as the event contract sees them, and how many of them had been
        delivered before."""
        local, stream = self._subjects.local, self.stream
        raw = []
        redelivered = 0
        for msg in messages:
            delivery = _delivery(msg)
            sequence = None
            if delivery is not None:
                stream, sequence = delivery.stream, delivery.sequence
                if delivery.delivered > 1:
                    redelivered += 1
            headers = msg.headers
            kept = {_storable(k): _storable(v) for k, v in headers.items()} if headers else {}
            # tuple.__new__ skips the NamedTuple's own __new__, a Python function
            raw.append(
                _tuple_new(RawMessage, (local(msg.subject), msg.data, kept, stream, sequence))
            )
        return raw, redelivered

    def _log_batch(self, report: BatchReport, seconds: float) -> None:
        log.info(
            "batch: %d applied, %d duplicate, %d rejected, %d ignored in %.0f ms",
            report.count(Outcome.APPLIED),
            report.count(Outcome.DUPLICATE),
            report.count(Outcome.REJECTED),
            report.count(Outcome.IGNORED),
            seconds * 1000,
        )

    async def _close(self) -> None:
        try:
            for pull in self._pulls:
                await pull.stop()
            await self._nc.flush(timeout=5)  # acks are fire-and-forget: make them go out
        except Exception as exc:  # noqa: BLE001
            log.warning("closing the consumer: %r", exc)


def _delivery(msg: Msg) -> Delivery | None:
    """None for a message that is not JetStream's: it was never delivered before."""
    try:
        return Delivery.of(msg.reply)
    except (IndexError, ValueError):
        return None


def _rejected(
    raw: Sequence[RawMessage], report: BatchReport
) -> list[tuple[RawMessage, DeadLetter]]:
    letters = iter(report.rejections)
    return [
        (message, next(letters))
        for message, outcome in zip(raw, report.outcomes, strict=True)
        if outcome is Outcome.REJECTED
    ]


def _storable(text: str) -> str:
    """Text a database can store: headers and reasons are kept as text, unlike payloads."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode()
