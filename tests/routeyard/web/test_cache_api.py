"""``/api/cache`` over the analytics server and a real embedded store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from routeyard.web.server import AnalyticsServer
from schemas.base import utcnow
from schemas.config_loader import load_config
from schemas.events import UsageEvent
from store import UsageStore, open_backend
from store.owner import StoreOwner
from tests.paths import EXAMPLE_CONFIG

CONFIG = load_config(EXAMPLE_CONFIG)
Client = TestClient[web.Request, web.Application]


def _event(i: int, hit: bool) -> UsageEvent:
    return UsageEvent(
        request_id=f"r{i}",
        attempt=0 if hit else 1,
        call_id=f"r{i}:cache" if hit else f"r{i}:1",
        tenant="acme",
        route="default",
        model="gpt-4o-mini",
        provider="openai",
        upstream_model="gpt-4o-mini",
        outcome="cache_hit" if hit else "success",
        cost_usd=Decimal(0) if hit else Decimal("0.00009"),
        latency_ms=2.0 if hit else 100.0,
        started_at=utcnow() - timedelta(minutes=2),
        cache="exact" if hit else None,
        cache_origin="r0" if hit else "",
        saved_usd=Decimal("0.00009") if hit else Decimal(0),
    )


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    owner = StoreOwner(
        lambda: UsageStore(open_backend(tmp_path / "chdb"), "routeyard"), raw_retention_days=0
    )
    await owner.run(lambda s: s.insert([_event(i, hit=i >= 4) for i in range(10)]))
    async with TestClient(TestServer(AnalyticsServer(CONFIG, owner).make_app())) as c:
        yield c
    owner.close()


async def test_cache_answers_hits_rate_and_saving(client: Client) -> None:
    response = await client.get("/api/cache", params={"since": "1h", "source": "raw"})
    assert response.status == 200
    body = await response.json()
    assert body["source"] == "raw"
    assert body["total"] == {
        "requests": 10,
        "cache_hits": 6,
        "hit_rate": 0.6,
        "saved_usd": "0.00054",
    }
    assert [r["route"] for r in body["routes"]] == ["default"]
    assert [(k["cache"], k["cache_hits"]) for k in body["kinds"]] == [
        ("exact", 6),
        ("semantic", 0),
        ("coalesced", 0),
    ]
    summary = await (await client.get("/api/summary", params={"since": "1h"})).json()
    [row] = summary["rows"]
    assert (row["requests"], row["calls"], row["cache_hits"], row["hit_rate"]) == (10, 4, 6, 0.6)


async def test_a_bad_source_is_a_400_naming_it(client: Client) -> None:
    response = await client.get("/api/cache", params={"source": "disk"})
    assert response.status == 400
    assert (await response.json())["error"]["param"] == "source"
