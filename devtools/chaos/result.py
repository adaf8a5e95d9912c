"""A chaos run's outcome accounting: lost, duplicate, conflicting, bad events, usage."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from devtools.chaos.observe import Outcomes
from devtools.chaos.plan import Event


@dataclass
class ChaosResult:
    method: list[str]
    published_valid: int
    published_bad: dict[str, int]
    answered: int
    dead_lettered: dict[str, int]
    lost: list[str]
    bad_dead_lettered: dict[str, int]
    bad_missing: list[str]
    duplicates: int
    conflicting: list[str]
    unattributed_dead_letters: int
    garbled_outcomes: int
    usage: dict[str, Any]
    provider_calls: int
    emulator_outcomes: dict[str, int]
    drain: dict[str, float | None]
    run_s: float
    exit_codes: dict[str, int]
    notes: list[str]

    @property
    def usage_calls(self) -> int:
        """Provider calls according to the store: distinct call_ids once they exist."""
        key = "calls" if self.usage.get("call_id") else "dedup_calls"
        return int(self.usage.get(key, 0))

    @property
    def completed_calls(self) -> int:
        return int(self.usage.get("completed_calls", 0))

    @property
    def interrupted_calls(self) -> int:
        return int(self.usage.get("interrupted_calls", 0))

    def usage_matches_calls(self) -> bool:
        """Every call the provider saw has a row, and every row but an interrupted one is a
        call it saw. A worker killed between recording a call and sending it leaves an
        interrupted row for a call that never left: the only gap the design allows."""
        if not self.usage.get("call_id"):
            return self.usage_calls == self.provider_calls
        low, high = self.completed_calls, self.completed_calls + self.interrupted_calls
        return low <= self.provider_calls <= high

    def failures(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"LOST {len(self.lost)}")
        if self.conflicting:
            found.append(f"CONFLICTING {len(self.conflicting)}")
        if not self.usage.get("call_id") and not self.usage_matches_calls():
            found.append(f"usage {self.usage_calls} != calls {self.provider_calls}")
        elif not self.usage_matches_calls():
            found.append(
                f"provider calls {self.provider_calls} outside usage calls"
                f" [{self.completed_calls}, {self.completed_calls + self.interrupted_calls}]"
            )
        if self.bad_missing:
            found.append(f"{len(self.bad_missing)} bad events without a dead letter")
        return found


def summarize(
    *,
    method: list[str],
    traffic: list[Event],
    outcomes: Outcomes,
    usage: dict[str, Any],
    stats: dict[str, Any],
    drain: dict[str, float | None],
    run_s: float,
    exit_codes: dict[str, int],
    notes: list[str],
) -> ChaosResult:
    valid = [e.id for e in traffic if e.kind == "valid"]
    bad = [e for e in traffic if e.kind != "valid"]
    answered = 0
    dead: Counter[str] = Counter()
    lost: list[str] = []
    duplicates = 0
    conflicting: list[str] = []
    for rid in valid:
        seen = outcomes.by_id.get(rid, [])
        if not seen:
            lost.append(rid)
            continue
        kinds = {(s.kind, s.reason) for s in seen}
        if len(kinds) > 1:
            conflicting.append(
                f"{rid}: " + ", ".join(sorted(f"{k}{f' {r}' if r else ''}" for k, r in kinds))
            )
        elif len(seen) > 1:
            duplicates += 1
        if any(s.kind == "response" for s in seen):
            answered += 1
        else:
            dead[str(seen[0].reason)] += 1
    bad_dead: Counter[str] = Counter()
    bad_missing: list[str] = []
    for event in bad:
        letters = [s for s in outcomes.by_id.get(event.id, []) if s.kind == "dead_letter"]
        if letters:
            bad_dead[f"{event.kind} -> {letters[0].reason}"] += 1
        else:
            bad_missing.append(event.id)
    return ChaosResult(
        method=method,
        published_valid=len(valid),
        published_bad=dict(Counter(e.kind for e in bad)),
        answered=answered,
        dead_lettered=dict(dead),
        lost=lost,
        bad_dead_lettered=dict(bad_dead),
        bad_missing=bad_missing,
        duplicates=duplicates,
        conflicting=conflicting,
        unattributed_dead_letters=len(outcomes.unattributed),
        garbled_outcomes=outcomes.garbled,
        usage=usage,
        provider_calls=int(stats["requests"]),
        emulator_outcomes={k: int(v) for k, v in stats["outcomes"].items()},
        drain=drain,
        run_s=run_s,
        exit_codes=exit_codes,
        notes=notes,
    )
