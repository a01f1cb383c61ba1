"""In-memory fakes of every port, for tests and for developers."""

from execution_service.adapters.memory.changes import MemoryChanges
from execution_service.adapters.memory.clock import FixedClock
from execution_service.adapters.memory.event_log import MemoryEventLog
from execution_service.adapters.memory.publisher import MemoryRetryPublisher
from execution_service.adapters.memory.store import MemoryStore, StoreUnavailable

__all__ = [
    "FixedClock",
    "MemoryChanges",
    "MemoryEventLog",
    "MemoryRetryPublisher",
    "MemoryStore",
    "StoreUnavailable",
]
