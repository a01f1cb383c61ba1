"""The gauges' sampler: every few seconds, not once per event, it asks JetStream how far the
durable consumer is behind, reads the pool and the NATS connection, and the last verify's
outcome that the database keeps. It runs beside the
consumer for the life of the serving process (web.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client

from execution_service.adapters.nats import EventConsumer, consumer_lag
from execution_service.adapters.postgres import Database, pool_in_use
from execution_service.adapters.prometheus import RuntimeGauges
from execution_service.domain import Verification

log = logging.getLogger(__name__)
SAMPLE_SECONDS = 5.0


class GaugeSampler:
    def __init__(
        self,
        gauges: RuntimeGauges,
        nc: Client,
        consumer: EventConsumer,
        database: Database,
        interval: float = SAMPLE_SECONDS,
        verifications: Callable[[], Awaitable[Verification | None]] | None = None,
    ) -> None:
        self._gauges = gauges
        self._nc = nc
        self._consumer = consumer
        self._database = database
        self.interval = interval
        self._verifications = verifications

    async def sample(self) -> None:
        self._gauges.nats_connected(self._nc.is_connected)
        self._gauges.pool_in_use(pool_in_use(self._database))
        await self._sample_verification()
        stream = self._consumer.stream
        if stream is None or not self._nc.is_connected:
            return  # the lag keeps its last figure; nats_connected says why
        try:
            lag = await consumer_lag(
                self._nc, stream, self._consumer.settings.durable, timeout=self.interval
            )
        except Exception as exc:  # noqa: BLE001 - a sample missed; the next one may do
            log.debug("could not sample the consumer's lag: %r", exc)
            return
        self._gauges.consumer_lag(lag.pending, lag.ack_pending)

    async def _sample_verification(self) -> None:
        if self._verifications is None:
            return
        try:
            last = await self._verifications()
        except Exception as exc:  # noqa: BLE001 - a sample missed; the next one may do
            log.debug("could not read the last verification: %r", exc)
            return
        if last is not None:
            self._gauges.verification(last.differences, last.executions, last.finished_at)

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.interval)
