"""A route's ``cache:`` section and the cache state topic's records (schemas/cache.py)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from schemas.cache import (
    SEMANTIC_THRESHOLD,
    CacheConfig,
    CacheRecord,
    EntryRecord,
    FlightRecord,
    WaiterRecord,
)


def _problem(**settings: Any) -> str:
    with pytest.raises(ValidationError) as info:
        CacheConfig.model_validate(settings)
    return str(info.value)


def test_defaults_are_the_safe_ones() -> None:
    c = CacheConfig()
    assert c.mode == "exact"
    assert not c.share_across_tenants
    assert not c.allow_images and not c.allow_tool_results
    assert c.deterministic_only and not c.unset_temperature_deterministic
    assert c.semantic_threshold == SEMANTIC_THRESHOLD
    assert 0 < SEMANTIC_THRESHOLD <= 1


def test_a_full_section_from_yaml() -> None:
    text = """
    mode: semantic
    ttl_s: 600
    max_entries: 5000
    max_bytes: 10000000
    share_across_tenants: true
    allow_images: true
    allow_tool_results: true
    deterministic_only: true
    unset_temperature_deterministic: true
    semantic_threshold: 0.95
    """
    c = CacheConfig.model_validate(yaml.safe_load(text))
    assert (c.mode, c.ttl_s, c.max_entries, c.max_bytes) == ("semantic", 600, 5000, 10_000_000)
    assert c.share_across_tenants and c.allow_images and c.allow_tool_results
    assert c.semantic_threshold == 0.95
    # A dumped section (every default written out) reads back the same.
    assert CacheConfig.model_validate(c.model_dump()) == c
    assert CacheConfig.model_validate(CacheConfig().model_dump()) == CacheConfig()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"mode": "fuzzy"}, "mode"),
        ({"ttl_s": 0}, "ttl_s"),
        ({"ttl_s": 31 * 86400}, "ttl_s"),
        ({"max_entries": 0}, "max_entries"),
        ({"max_bytes": 1024}, "max_bytes"),
        ({"semantic_threshold": 0, "mode": "semantic"}, "semantic_threshold"),
        ({"semantic_threshold": 1.5, "mode": "semantic"}, "semantic_threshold"),
        ({"share_across_tenants": "maybe"}, "share_across_tenants"),
        ({"ttl": 60}, "ttl"),
    ],
)
def test_bad_values_name_their_field(settings: dict[str, Any], field: str) -> None:
    assert field in _problem(**settings)


def test_a_threshold_on_an_exact_cache_is_a_mistake() -> None:
    message = _problem(semantic_threshold=0.8)
    assert "semantic_threshold: only mode semantic takes it (mode is exact)" in message


def test_unset_temperature_rule_needs_deterministic_only() -> None:
    message = _problem(unset_temperature_deterministic=True, deterministic_only=False)
    assert "unset_temperature_deterministic: only matters with deterministic_only" in message


def test_a_record_round_trips() -> None:
    record = CacheRecord(
        key="k" * 64,
        route="default",
        confirmed_offset=41,
        entry=EntryRecord(
            response='{"content":"caf\\u00e9 \\"ok\\""}', origin="r1", stored_at=1.5, expires_at=9.5
        ),
        flight=FlightRecord(
            leader="r2",
            leader_offset=40,
            deadline=100.0,
            waiters=[WaiterRecord(request_id="r3", tenant="acme", deadline=90.0, offset=42)],
        ),
    )
    assert CacheRecord.from_bytes(record.to_bytes()) == record


def test_a_record_rejects_unknown_fields_by_name() -> None:
    data = {"key": "k", "route": "default", "confirmed_offset": -1, "ttl": 3}
    with pytest.raises(ValidationError, match="ttl"):
        CacheRecord.model_validate(data)


def test_default_threshold_is_the_measured_one() -> None:
    # The schema cannot import policy (it would load numpy for every config reader), so
    # the measured value is kept in step here.
    from policy.semantic_match import DEFAULT_THRESHOLD

    assert SEMANTIC_THRESHOLD == DEFAULT_THRESHOLD
