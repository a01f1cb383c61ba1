"""Reading a /metrics page the way Prometheus does, with prometheus-client's own parser."""

from __future__ import annotations

import attrs
from prometheus_client.parser import text_string_to_metric_families


@attrs.frozen
class Scrape:
    samples: tuple[tuple[str, dict[str, str], float], ...]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        return cls(
            tuple(
                (sample.name, dict(sample.labels), sample.value)
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            )
        )

    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}

    def has(self, name: str, **labels: str) -> bool:
        return any(self._matches(s, name, labels) for s in self.samples)

    def sum(self, name: str, **labels: str) -> float:
        """The sum over every sample of that name whose labels include these; KeyError if
        there is none, so that a missing metric never reads as 0."""
        found = [s[2] for s in self.samples if self._matches(s, name, labels)]
        if not found:
            raise KeyError(f"no sample {name}{labels or ''} in the scrape")
        return sum(found)

    @staticmethod
    def _matches(sample: tuple[str, dict[str, str], float], name: str, labels: dict) -> bool:
        return sample[0] == name and all(sample[1].get(k) == v for k, v in labels.items())
