"""Which requests triage may make the first attempt of itself
(docs/design/inline_dispatch.md).

A request's attempts must all meet one dispatcher: its dispatch events are keyed by
request_id, so they land on one dispatch partition, and that partition's owner drops a
fork or a second copy (``StartedAttempts``, the outcome ledger). A request read from
another partition than the one its request_id hashes to (a republished copy, a caller
that keys by something else) may be triaged by another worker, so it goes through the
dispatch topic as before. A request read from its own partition number, on a worker
that owns that dispatch partition too, is called in place: its copies, retries and
fallbacks all reach this worker's dispatcher.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.partitioner import murmur2


def key_partition(key: str, partitions: int) -> int:
    """The partition a send keyed by ``key`` goes to (the producer's default partitioner)."""
    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % partitions


class DispatchOwnership:
    """The dispatch partitions this worker owns, kept from the rebalance callbacks."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._owned: frozenset[int] = frozenset()

    def on_assigned(self, owned: Iterable[int]) -> None:
        self._owned = frozenset(owned)

    def on_revoked(self) -> None:
        # Until the next assignment says which partitions are ours, nothing is called in
        # place: the dispatch topic takes every request.
        self._owned = frozenset()

    def here(self, partition: int, request_id: str) -> bool:
        """Whether the request ``request_id``, read from requests ``partition``, may be
        called by this worker's triage."""
        return partition in self._owned and key_partition(request_id, self.partitions) == partition
