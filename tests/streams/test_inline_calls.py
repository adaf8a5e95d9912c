"""Which requests triage calls in place: those read from their own partition number, on
a worker that owns that dispatch partition."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from streams.inline_calls import DispatchOwnership, key_partition


@given(st.text(min_size=1, max_size=64), st.integers(min_value=1, max_value=64))
def test_key_partition_is_where_the_producer_sends_a_keyed_event(key: str, n: int) -> None:
    partitions = list(range(n))
    assert key_partition(key, n) == DefaultPartitioner()(key.encode(), partitions, partitions)


def test_only_a_request_on_its_own_owned_partition_is_called_here() -> None:
    owned = DispatchOwnership(4)
    rid = next(f"r-{i}" for i in range(100) if key_partition(f"r-{i}", 4) == 2)
    assert not owned.here(2, rid)  # nothing assigned yet
    owned.on_assigned([1, 2])
    assert owned.here(2, rid)
    assert not owned.here(1, rid)  # a copy read from another partition
    owned.on_assigned([0, 1, 3])
    assert not owned.here(2, rid)  # its dispatch partition is another worker's
    owned.on_assigned([2])
    owned.on_revoked()
    assert not owned.here(2, rid)
