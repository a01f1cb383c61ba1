"""Every error the domain raises for its callers to tell apart, in one place: an adapter maps
each to its own terms (an HTTP status, a redelivery) by importing them from here."""

from __future__ import annotations


class Unavailable(Exception):
    """A passing failure of a port (a database or broker down): try again later."""


class NotFound(Exception):
    """No execution or dead letter of that id or key."""


class Conflict(Exception):
    """The request does not fit the execution's state (a retry of one that is not FAILED)."""


class PublishFailed(Exception):
    """A message did not go out; nothing was recorded of it."""


class InvalidCursor(ValueError):
    """Not a cursor this service made, or made for another list."""


class ExportFailed(Exception):
    """The receiver did not take the traces (down, refused, 5xx): try again later."""


class NotSettled(Exception):
    """A moment that writes still in flight may yet be recorded at or before: what was known
    then is not final yet. Ask again in a moment."""
