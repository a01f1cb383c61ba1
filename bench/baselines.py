"""The least a correct consumer can do, written plainly, to measure the service against.

- `pull_drain`: JetStream's pull protocol on nats-py's core client: one
  `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` request for 500 messages, collected by a
  subscription callback, each acknowledged by publishing `+ACK` to its reply subject.
- `sink_drain`: the minimal durable sink: that loop, then one transaction that COPYs each
  message's (stream sequence, subject, payload) into a table, commit, then ack.

Both are deliberately independent of the service's own code (adapters/nats/pull.py), so
that a flaw there cannot flatter the comparison.
"""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from common import servers_cpu, since

BATCH = 500


class _Puller:
    def __init__(self, nc: nats.NATS, stream: str, durable: str) -> None:
        self.nc = nc
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self.batch: list[Msg] = []
        self.done = asyncio.Event()

    async def start(self) -> None:
        await self.nc.subscribe(self.inbox, cb=self.receive)

    async def receive(self, msg: Msg) -> None:
        if msg.headers and "Status" in msg.headers:
            self.done.set()
            return
        self.batch.append(msg)
        if len(self.batch) == BATCH:
            self.done.set()

    async def next_batch(self) -> list[Msg]:
        self.done.clear()
        request = json.dumps({"batch": BATCH, "expires": 900_000_000}).encode()
        await self.nc.publish(self.subject, request, reply=self.inbox)
        await asyncio.wait_for(self.done.wait(), 5)
        batch, self.batch = self.batch, []
        return batch


def _stream_sequence(reply: str) -> int:
    """From `$JS.ACK.[<domain>.<account>.]<stream>.<consumer>.<delivered>.<stream seq>…`."""
    tokens = reply.split(".")
    return int(tokens[5] if len(tokens) == 9 else tokens[7])


async def _durable(url: str, stream: str, durable: str, filter_subject: str) -> nats.NATS:
    nc = await nats.connect(url)
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        max_ack_pending=2000,
        filter_subject=filter_subject,
    )
    await nc.jetstream().add_consumer(stream, config)
    return nc


async def pull_drain(
    url: str, stream: str, filter_subject: str, total: int
) -> tuple[float, dict[str, float]]:
    nc = await _durable(url, stream, "pull", filter_subject)
    puller = _Puller(nc, stream, "pull")
    await puller.start()
    seen = 0
    started, cpu, servers = time.perf_counter(), time.process_time(), servers_cpu()
    while seen < total:
        batch = await puller.next_batch()
        for msg in batch:
            await nc.publish(msg.reply, b"+ACK")
        seen += len(batch)
    await nc.flush()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    servers = since(servers)
    await nc.close()
    return seconds, {"cpu": cpu, **servers}


async def sink_drain(
    url: str, stream: str, filter_subject: str, total: int, database: dict[str, object]
) -> tuple[float, dict[str, float]]:
    nc = await _durable(url, stream, "sink", filter_subject)
    puller = _Puller(nc, stream, "sink")
    await puller.start()
    conn = await asyncpg.connect(**database)  # type: ignore[arg-type]
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS sink_events (seq bigint, subject text, payload bytea)"
    )
    seen = 0
    started, cpu, servers = time.perf_counter(), time.process_time(), servers_cpu()
    while seen < total:
        batch = await puller.next_batch()
        rows = [(_stream_sequence(m.reply), m.subject, m.data) for m in batch]
        async with conn.transaction():
            await conn.copy_records_to_table("sink_events", records=rows)
        for msg in batch:
            await nc.publish(msg.reply, b"+ACK")
        seen += len(batch)
    await nc.flush()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    servers = since(servers)
    stored = await conn.fetchval("SELECT count(*) FROM sink_events")
    assert stored == total, (stored, total)
    await conn.execute("DROP TABLE sink_events")
    await conn.close()
    await nc.close()
    return seconds, {"cpu": cpu, **servers}
