"""Ports served by the operating system."""

from execution_service.adapters.system.clock import FixedClock, SystemClock

__all__ = ["FixedClock", "SystemClock"]
