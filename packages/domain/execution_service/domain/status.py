"""Where an execution or a node run stands."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """A str: a store writes it as the text it is, with no conversion per row."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
