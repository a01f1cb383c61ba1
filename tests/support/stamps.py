"""Views compared without the times a store stamps them with (createdAt, updatedAt)."""

from __future__ import annotations

from datetime import datetime

import attrs

from execution_service.domain import ExecutionView, NodeRunView

_STAMP = datetime(2000, 1, 1).astimezone()


def unstamped(view: ExecutionView | NodeRunView) -> ExecutionView | NodeRunView:
    return attrs.evolve(view, created_at=_STAMP, updated_at=_STAMP)
