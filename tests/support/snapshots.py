"""Everything a store holds, as readers see it, minus the store's own bookkeeping times."""

from __future__ import annotations

from typing import Any

import attrs

from execution_service.domain import ExecutionFilter, ExecutionQueries, Page, Status


def readable(view: Any) -> dict[str, Any]:
    return {
        k: v
        for k, v in attrs.asdict(view, recurse=False).items()
        if k not in ("created_at", "updated_at", "revision")
    }


async def snapshot(store: ExecutionQueries) -> list[Any]:
    executions = (await store.executions(Page(1, 1000))).items
    runs = [
        [readable(r) for r in (await store.node_runs(e.id, Page(1, 1000))).items]
        for e in executions
    ]
    totals = [(await store.executions(Page(1, 1))).total] + [
        (await store.executions(Page(1, 1), ExecutionFilter(statuses={status}))).total
        for status in Status
    ]
    return [[readable(e) for e in executions], runs, totals]
