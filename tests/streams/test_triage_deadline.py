"""Triage stamps each dispatch event with its retry deadline."""

from datetime import datetime, timedelta

import orjson

from schemas.base import utcnow
from schemas.config_loader import load_config
from streams.triage import RecentIds, Routed, triage
from tests.paths import EXAMPLE_CONFIG


def _routed(**over: object) -> Routed:
    data: dict[str, object] = {
        "request_id": "r-1",
        "tenant": "acme",
        "messages": [{"role": "user", "content": "hello"}],
    }
    data.update(over)
    out = triage(orjson.dumps(data), load_config(EXAMPLE_CONFIG), RecentIds(10))
    assert isinstance(out, Routed), out
    return out


def test_the_route_deadline_counts_from_first_sight() -> None:
    ev = _routed().dispatch
    assert ev.route == "default"
    assert ev.deadline_at == ev.first_seen_at + timedelta(seconds=300)


def test_a_caller_deadline_shortens_it() -> None:
    ev = _routed(deadline_s=20).dispatch
    assert ev.deadline_at == ev.first_seen_at + timedelta(seconds=20)
    at = (utcnow() + timedelta(seconds=5)).isoformat()
    assert _routed(deadline_at=at).dispatch.deadline_at == datetime.fromisoformat(at)


def test_a_caller_deadline_cannot_lengthen_it() -> None:
    at = (utcnow() + timedelta(hours=1)).isoformat()
    ev = _routed(deadline_at=at).dispatch
    assert ev.deadline_at == ev.first_seen_at + timedelta(seconds=300)
