"""Ports served by the operating system."""

from execution_service.adapters.system.clock import SystemClock

__all__ = ["SystemClock"]
