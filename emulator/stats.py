"""Counters of requests served, per model and per outcome; tests count attempts here."""

from __future__ import annotations

from collections import Counter, defaultdict

# Recorded when a request arrives whose body names no model.
UNKNOWN_MODEL = "<unknown>"


class Stats:
    def __init__(self) -> None:
        self._by_model: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._by_wire: Counter[str] = Counter()

    def record(self, wire: str, model: str, outcome: str) -> None:
        self._by_model[model][outcome] += 1
        self._by_wire[wire] += 1

    def reset(self) -> None:
        self._by_model.clear()
        self._by_wire.clear()

    def snapshot(self) -> dict[str, object]:
        """``requests`` total, ``outcomes`` across models, and both broken down."""
        outcomes: Counter[str] = Counter()
        for counts in self._by_model.values():
            outcomes.update(counts)
        return {
            "requests": outcomes.total(),
            "outcomes": dict(outcomes),
            "by_wire": dict(self._by_wire),
            "models": {
                model: {"requests": counts.total(), "outcomes": dict(counts)}
                for model, counts in self._by_model.items()
            },
        }
