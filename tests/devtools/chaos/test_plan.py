"""The chaos run's plan without Kafka: the traffic it publishes and when faults happen."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from devtools.chaos import ChaosPlan, build_traffic
from schemas.events import LLMRequest


def test_traffic_mixes_valid_images_and_bad_events() -> None:
    plan = ChaosPlan(requests=2000, bad_share=0.02, image_share=0.05)
    traffic = build_traffic(plan)
    kinds = Counter(e.kind for e in traffic)
    assert kinds == {"valid": 2000, "not_json": 20, "schema_invalid": 20}
    assert len({e.id for e in traffic}) == len(traffic)
    valid = [LLMRequest.from_bytes(e.value) for e in traffic if e.kind == "valid"]
    with_image = [r for r in valid if any(m.images for m in r.messages)]
    assert 60 <= len(with_image) <= 140
    assert all(str(m.images[0].url).startswith("https://") for r in with_image for m in r.messages)
    for event in traffic:
        if event.kind == "not_json":
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(event.value)
        elif event.kind == "schema_invalid":
            with pytest.raises(ValueError):
                LLMRequest.from_bytes(event.value)
    # Bad events are spread among the valid ones, not bunched at one end.
    positions = [i for i, e in enumerate(traffic) if e.kind != "valid"]
    assert positions[0] < len(traffic) // 4
    assert positions[-1] > len(traffic) * 3 // 4
    assert build_traffic(plan) == traffic


def test_schedule_falls_inside_the_publishing_window() -> None:
    plan = ChaosPlan(requests=10_000, rate=150, kills=3)
    schedule = plan.schedule()
    assert Counter(kind for _, kind in schedule) == {
        "kill": 3,
        "provider_outage": 1,
        "store_outage": 1,
    }
    assert all(0 < at < plan.publish_s for at, _ in schedule)
    quiet = ChaosPlan(kills=0, provider_outage_s=0, store_outage_s=0)
    assert quiet.schedule() == []
