"""The write side on PostgreSQL: recording batches of events, dead letters and retry requests.

Recording a batch is one transaction of a fixed number of round trips, whatever its size:
insert its events, fold them meanwhile in Python into the batch's own state of each execution
and node run (domain/fold.py), then join those into the stored rows and tell live views which
executions changed, in one statement (upserts.py). Nothing is read back into Python.

- The events go in by COPY, assuming every event is new, as nearly all are, and letting the
  primary key refuse a duplicate: the batch is then recorded again the careful way, which
  finds the duplicates (ON CONFLICT DO NOTHING RETURNING) and folds only the new events. Duplicates
  come in bursts (redeliveries after a crash or a lost ack), so the next batches go the
  careful way too.
- The state's statement first waits for any retention pass deleting one of the batch's
  executions, then leaves out those pruned (migrations/0006) and takes their events out
  again: their events are never kept, and they are never brought back as partial ones.
- Most node reports say of their execution only that an attempt runs. An execution this
  process has seen stored at that attempt or beyond needs no write for them (KnownExecutions).
- Rows are written in key order so that concurrent writers queue rather than deadlock.
  Triggers keep execution_counts (migrations/0003, 0006), whoever writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import itemgetter

import asyncpg
import attrs
import orjson

from execution_service.adapters.postgres.database import Connected, Database, encode_json
from execution_service.adapters.postgres.queries import RETRY_REQUEST, retry_request
from execution_service.adapters.postgres.rows import (
    EVENT_IN,
    event_record,
    execution_rows,
    node_run_rows,
)
from execution_service.adapters.postgres.upserts import WRITE_STATE, WRITE_STATE_TRACED
from execution_service.domain import (
    DeadLetter,
    Event,
    Folded,
    Recorded,
    RetryRequest,
    State,
    finished_attempts,
    fold,
    running_state,
)

log = logging.getLogger(__name__)
_KEY, _EXECUTION_ID = itemgetter(0), itemgetter(2)  # of an Event

# Batches recorded the careful way after a duplicate was found.
CAREFUL_BATCHES = 20
# executions_pruned's refusal of a batch planned before tombstones were deleted (0008).
TOMBSTONES_WENT = "ES001"
# Under pg_notify's 8000 bytes, with room for one more id of the longest (256 characters).
_NOTICE_BYTES = 6000

# A duplicate's first delivery is stored: the careful way records only the events not seen.
_EVENTS_NOT_SEEN = """
WITH inserted AS (
    INSERT INTO execution_events (event_key, execution_id, subject, payload, traceparent)
    SELECT u.* FROM unnest($1::event_in[]) AS u
    ON CONFLICT (execution_id, event_key) DO NOTHING RETURNING execution_id, event_key)
SELECT ARRAY(SELECT execution_id FROM inserted), ARRAY(SELECT event_key FROM inserted)"""


class KnownExecutions:
    """Executions this process has seen stored, each with an attempt it was stored at or
    beyond: a batch that says only that such an attempt runs has nothing to write for it.

    A stored execution only advances, and only retention deletes one. Its tombstone then keeps
    its events out, and while it lasts every batch of the execution hears it was pruned (and
    this forgets it). When tombstones are deleted, the database's tombstone generation moves
    on, and a batch planned with an older one is refused (migrations/0008): this forgets
    everything and the batch is recorded again. What is known here is never wrong when used."""

    def __init__(self, most: int = 100_000) -> None:
        self._most = most
        self._attempts: dict[str, int] = {}
        self.generation = -1  # of tombstones, when this was last true; -1 knows nothing

    def holds(self, execution_id: str, attempt: int) -> bool:
        return self._attempts.get(execution_id, 0) >= attempt

    def note(self, attempts: dict[str, int], generation: int) -> None:
        if generation != self.generation:
            self.forget_all()
            self.generation = generation
        known = self._attempts
        for execution_id, attempt in attempts.items():
            if known.get(execution_id, 0) < attempt:
                known[execution_id] = attempt
        while len(known) > self._most:
            del known[next(iter(known))]  # the first known

    def forget(self, execution_ids: Iterable[str]) -> None:
        for execution_id in execution_ids:
            self._attempts.pop(execution_id, None)

    def forget_all(self) -> None:
        self._attempts.clear()
        self.generation = -1


@attrs.define
class _Applied:
    """What a committed batch did and learnt."""

    recorded: Recorded
    written: dict[str, int] = attrs.field(factory=dict)  # execution id: attempt written
    pruned: frozenset[str] = frozenset()
    generation: int | None = None  # of tombstones, as the batch saw it
    late: int = 0  # node runs reported after their attempt's trace was exported


class PostgresRecorder(Connected):
    def __init__(
        self,
        database: Database,
        max_retries: int = 8,
        known: KnownExecutions | None = None,
        trace_delay: float | None = None,
    ) -> None:
        """`trace_delay`: while traces are exported, the seconds a finished attempt waits in
        the outbox for late node events (OTEL_EXPORT_DELAY); None: no traces."""
        super().__init__(database, max_retries)
        self._known = known or KnownExecutions()
        self._careful = 0  # batches still to record the careful way
        self._trace_delay = trace_delay
        self.late_trace_events = 0  # node runs reported after their attempt's trace went

    async def record(self, events: Sequence[Event], dead_letters: Sequence[DeadLetter]) -> Recorded:
        # the first of each event, in key order
        unique = sorted({e.identity: e for e in reversed(events)}.values(), key=_KEY)
        letters = _count_by_key(dead_letters)
        try:
            return await self._record(unique, letters)
        except asyncpg.PostgresError as exc:
            if exc.sqlstate != TOMBSTONES_WENT:
                raise
            log.info("tombstones were deleted: what this writer knew of executions is forgotten")
            self._known.forget_all()
            return await self._record(unique, letters)

    async def _record(
        self, unique: Sequence[Event], letters: Sequence[tuple[DeadLetter, int]]
    ) -> Recorded:
        async def work(raw: asyncpg.Connection, assume_new: bool) -> _Applied:
            applied = _Applied(Recorded(frozenset()))
            if unique:
                applied = await self._apply(raw, unique, assume_new)
            if letters:
                await _record_dead_letters(raw, letters)
            return applied

        applied = None
        if not self._careful:
            try:
                applied = await self._in_transaction(lambda raw: work(raw, True))
            except asyncpg.UniqueViolationError:
                self._careful = CAREFUL_BATCHES
        if applied is None:
            self._careful -= 1
            applied = await self._in_transaction(lambda raw: work(raw, False))
        self.late_trace_events += applied.late
        if applied.generation is not None:
            self._known.note(applied.written, applied.generation)
            self._known.forget(applied.pruned)
        return applied.recorded

    async def _apply(
        self, raw: asyncpg.Connection, batch: Sequence[Event], assume_new: bool
    ) -> _Applied:
        """`batch` is in key order: concurrent writers insert shared keys in the same order.
        Python folds the batch while PostgreSQL stores its events. The events of executions
        found pruned are taken out again by the state's statement (upserts.py)."""
        rows = [event_record(e) for e in batch]
        inserting = asyncio.ensure_future(
            raw.copy_records_to_table("execution_events", records=rows, columns=EVENT_IN)
            if assume_new
            else raw.fetchrow(_EVENTS_NOT_SEEN, rows)
        )
        try:
            await asyncio.sleep(0)  # the events are sent: fold meanwhile
            folded = fold(batch)
            inserted = await inserting
        finally:
            if not inserting.done():
                inserting.cancel()
        if assume_new:
            applied = frozenset(zip(map(_EXECUTION_ID, batch), map(_KEY, batch), strict=True))
        else:
            applied = frozenset(zip(*inserted, strict=True))
        new = batch
        if len(applied) < len(batch):
            if not applied:
                return _Applied(Recorded(applied))
            new = [e for e in batch if (e.execution_id, e.key) in applied]
            folded = fold(new)
        generation = self._known.generation  # what the executions to write are judged by
        executions = self._executions_to_write(folded)
        state = (
            node_run_rows(sorted(folded.node_runs.items())),
            execution_rows(executions),
            notices([*folded.executions, *folded.running]),
            generation,
        )
        if self._trace_delay is None:
            result = await raw.fetchrow(WRITE_STATE, *state)
        else:
            finished = finished_attempts(new)
            result = await raw.fetchrow(
                WRITE_STATE_TRACED,
                *state,
                [x for x, _ in finished],
                [a for _, a in finished],
                self._trace_delay,
            )
        pruned = frozenset(result["pruned"])
        written = {x: state[2] for x, state in executions if x not in pruned}
        late = result["late"] if self._trace_delay is not None else 0
        outcome = _Applied(Recorded(applied), written, pruned, result["generation"], late)
        if pruned:
            left_out = frozenset((e.execution_id, e.key) for e in batch if e.execution_id in pruned)
            outcome.recorded = Recorded(applied - left_out, left_out)
        return outcome

    def _executions_to_write(self, folded: Folded) -> list[tuple[str, State]]:
        """In id order: every execution of which the batch says more than that an attempt
        runs, and those it says only that of, unless known to be stored that far already."""
        states = list(folded.executions.items())
        states += [
            (x, running_state(attempt))
            for x, attempt in folded.running.items()
            if not self._known.holds(x, attempt)
        ]
        states.sort(key=itemgetter(0))
        return states

    async def record_retry_request(self, request: RetryRequest) -> RetryRequest:
        async def work(raw: asyncpg.Connection) -> RetryRequest:
            await raw.execute(
                """INSERT INTO retry_requests (execution_id, attempt, failed_node_id,
                       workflow_id, user_id, requested_at, message_id)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
                request.execution_id,
                request.attempt,
                request.failed_node_id,
                request.workflow_id,
                request.user_id,
                request.requested_at,
                request.message_id,
            )
            row = await raw.fetchrow(RETRY_REQUEST, request.execution_id, request.attempt)
            return retry_request(row)

        return await self._in_transaction(work)

    async def mark_replayed(self, key: str, count: int, at: datetime) -> bool:
        status = await self._run(
            lambda raw: raw.execute(
                """UPDATE dead_letters SET replayed_at = $3, replays = replays + 1
                   WHERE key = $1 AND count = $2 AND replayed_at IS NULL""",
                key,
                count,
                at,
            )
        )
        return bool(status == "UPDATE 1")

    async def discard_dead_letter(self, key: str) -> bool:
        status = await self._run(
            lambda raw: raw.execute("DELETE FROM dead_letters WHERE key = $1", key)
        )
        return bool(status == "DELETE 1")


def notices(execution_ids: Iterable[str]) -> list[str]:
    """The ids as pg_notify payloads: JSON arrays, each under pg_notify's limit. Sized by the
    ids' lengths, then checked, since an id's JSON may be longer."""
    payloads: list[str] = []
    chunk: list[str] = []
    size = 0
    for execution_id in execution_ids:
        chunk.append(execution_id)
        size += len(execution_id) + 3
        if size > _NOTICE_BYTES:
            payloads += _payloads(chunk)
            chunk, size = [], 0
    if chunk:
        payloads += _payloads(chunk)
    return payloads


def _payloads(ids: list[str]) -> list[str]:
    payload = orjson.dumps(ids)
    if len(payload) <= _NOTICE_BYTES + 1024 or len(ids) == 1:
        return [payload.decode()]
    half = len(ids) // 2
    return _payloads(ids[:half]) + _payloads(ids[half:])


def _count_by_key(letters: Sequence[DeadLetter]) -> list[tuple[DeadLetter, int]]:
    counted: dict[str, tuple[DeadLetter, int]] = {}
    for letter in letters:
        _, seen = counted.get(letter.key, (letter, 0))
        counted[letter.key] = (letter, seen + 1)
    return sorted(counted.values(), key=lambda pair: pair[0].key)


async def _record_dead_letters(
    raw: asyncpg.Connection, letters: Sequence[tuple[DeadLetter, int]]
) -> None:
    # last_seen as for updated_at (upserts.py): never before first_seen
    await raw.execute(
        """INSERT INTO dead_letters (key, subject, payload, headers, reason, count)
           SELECT k, s, p, h::jsonb, r, n
           FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::int[])
                AS u(k, s, p, h, r, n)
           ON CONFLICT (key) DO UPDATE SET count = dead_letters.count + excluded.count,
               last_seen = greatest(clock_timestamp(), dead_letters.first_seen),
               reason = excluded.reason, replayed_at = NULL""",
        [d.key for d, _ in letters],
        [d.subject for d, _ in letters],
        [d.payload for d, _ in letters],
        [encode_json(dict(d.headers)) for d, _ in letters],
        [d.reason for d, _ in letters],
        [n for _, n in letters],
    )
