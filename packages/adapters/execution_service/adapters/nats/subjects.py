"""The subjects the service reads and writes, under an optional prefix (NATS_SUBJECT_PREFIX),
so that several deployments or test runs can share one NATS server without their streams
overlapping. With no prefix they are exactly CONTRACT §1's. `staging` and `staging.` both
put them under `staging.`: a NATS subject's tokens are separated by dots."""

from __future__ import annotations

import attrs


def _as_prefix(given: str) -> str:
    token = given.strip().rstrip(".")
    return f"{token}." if token else ""


@attrs.frozen
class Subjects:
    prefix: str = attrs.field(default="", converter=_as_prefix)

    @property
    def events(self) -> str:
        return f"{self.prefix}execution.>"

    @property
    def started(self) -> str:
        return f"{self.prefix}execution.started"

    @property
    def retry_requested(self) -> str:
        return f"{self.prefix}execution.retry.requested"

    def dead_letter(self, subject: str) -> str:
        return f"{self.prefix}dlq.{subject}"

    def local(self, subject: str) -> str:
        """A subject as the event contract names it."""
        return subject[len(self.prefix) :] if subject.startswith(self.prefix) else subject
