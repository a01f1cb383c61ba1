"""JetStream's pull protocol on nats-py's core client, without a future per message.

nats-py's `PullSubscription.fetch` awaits `next_msg` (a future and a `wait_for`) for every
message, which measured about as much CPU per event as parsing and folding it. The protocol
underneath is public and small, so this speaks it directly:

- a pull request is a core publish to `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` whose
  reply subject is our inbox, with `{"batch": n}` and either `"no_wait": true` (answer now:
  what is there, then a 404) or `"expires": ns` (wait until something comes);
- messages arrive on the inbox; a status message (header `Status`) ends a request: 404 no
  messages, 408 the request expired, 409 the server refused or ended it; 100 is a heartbeat;
- a message is acknowledged by publishing `+ACK` to its reply subject, and handed back with
  `-NAK {"delay": ns}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import NamedTuple

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import ConnectionClosedError

log = logging.getLogger(__name__)

_ACK = b"+ACK"
_tuple_new = tuple.__new__
_SETTLE_SECONDS = 0.002  # after a waiting request's first message, gather its burst
_REFUSED_PAUSE_SECONDS = 0.1


class Delivery(NamedTuple):
    """What the reply subject `$JS.ACK.[<domain>.<account>.]<stream>.<consumer>.<delivered>.
    <stream seq>.<consumer seq>.<time>.<pending>[.<token>]` says about a message."""

    stream: str
    sequence: int
    delivered: int

    @classmethod
    def of(cls, reply: str) -> Delivery:
        tokens = reply.split(".")
        at = 2 if len(tokens) == 9 else 4  # the original form, or with domain and account
        # tuple.__new__ skips the NamedTuple's own __new__, a Python function: one per message
        return _tuple_new(cls, (tokens[at], int(tokens[at + 3]), int(tokens[at + 2])))


class PullConsumer:
    """One inbox and one pull request at a time on a durable consumer. Several of these (in
    one process or in replicas) share the consumer, as JetStream intends."""

    def __init__(self, nc: Client, stream: str, durable: str) -> None:
        self._nc = nc
        self._request_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._received: list[Msg] = []
        self._request = _Request(0, settle=False)
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._receive)

    async def stop(self) -> None:
        """Unsubscribe, and hand back at once what arrived but was never fetched."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        for msg in self._received:
            await self.nak(msg, 0)
        self._received = []

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` messages: those available now, else the first to come within
        `timeout` seconds with whatever arrives with them. [] when none came. Messages that a
        request brings after it was given up on are kept for the next call."""
        if len(self._received) < batch:
            await self._ask(batch - len(self._received), {"no_wait": True}, settle=False)
        if not self._received:
            expires = max(int(timeout * 1e9) - 50_000_000, 1_000_000)
            await self._ask(batch, {"expires": expires}, settle=True, wait=timeout + 1.0)
        if not self._received and self._request.refused:
            # Refused at once (409: every message the consumer may have out is out, or too
            # many requests wait): asking again at once would only spin.
            await asyncio.sleep(min(timeout, _REFUSED_PAUSE_SECONDS))
        taken, self._received = self._received[:batch], self._received[batch:]
        return taken

    async def ack(self, msg: Msg) -> None:
        await ack(self._nc, msg)

    async def nak(self, msg: Msg, delay: float) -> None:
        await nak(self._nc, msg, delay)

    async def _ask(
        self, count: int, options: dict[str, object], settle: bool, wait: float = 5.0
    ) -> None:
        request = self._request = _Request(len(self._received) + count, settle)
        body = json.dumps({"batch": count, **options}).encode()
        await self._nc.publish(self._request_subject, body, reply=self._inbox)
        try:
            await asyncio.wait_for(request.done.wait(), wait)
        except TimeoutError:
            pass  # disconnected meanwhile, or a slow server: the next request asks again

    async def _receive(self, msg: Msg) -> None:
        request = self._request
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self._received.append(msg)
            if len(self._received) >= request.wanted:
                request.done.set()
            elif request.settle and len(self._received) == 1:
                asyncio.get_running_loop().call_later(_SETTLE_SECONDS, request.done.set)
        elif status != "100":
            if status == "409":
                request.refused = True
                log.debug("pull request ended by the server: %s", msg.headers)
            request.done.set()


async def ack(nc: Client, msg: Msg) -> None:
    """Acknowledge a message of any pull consumer on this connection."""
    await nc.publish(msg.reply, _ACK)


async def ack_all(nc: Client, messages: Sequence[Msg]) -> None:
    """Acknowledge a batch: the +ACK of each message, as `publish` writes it, handed to the
    client's outgoing buffer in one piece. `publish` per message (three coroutines, the
    command built, the buffer counted) cost about 2 µs of CPU each, a tenth of what the
    service spends per event; nats-py has no public call for many messages. The buffer is
    the client's own, so a reconnection sends it as it would any publish."""
    if nc.is_closed:
        raise ConnectionClosedError
    commands = b"".join([b"PUB %s 4\r\n+ACK\r\n" % m.reply.encode() for m in messages])
    await nc._send_command(commands)
    await nc._flush_pending()


async def nak(nc: Client, msg: Msg, delay: float) -> None:
    """Hand a message back, to be redelivered after `delay` seconds."""
    await nc.publish(msg.reply, b"-NAK " + json.dumps({"delay": int(delay * 1e9)}).encode())


class _Request:
    """The pull request under way: done when it has what it asked for or a status ends it."""

    def __init__(self, wanted: int, settle: bool) -> None:
        self.wanted = wanted
        self.settle = settle
        self.done = asyncio.Event()
        self.refused = False
