"""The analytics server over a real embedded store: answers, errors, files, a taken port."""

from __future__ import annotations

import socket
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


def _owner(path: Path) -> StoreOwner:
    return StoreOwner(lambda: UsageStore(open_backend(path), "routeyard"), raw_retention_days=0)


def _call(i: int, model: str) -> UsageEvent:
    return UsageEvent(
        request_id=f"r{i}",
        attempt=1,
        call_id=f"c{i}",
        tenant="acme",
        route="default",
        model=model,
        provider="openai",
        upstream_model=model,
        outcome="success",
        input_tokens=100,
        output_tokens=50,
        cost_usd=Decimal("0.00009"),
        latency_ms=100.0 + i,
        started_at=utcnow() - timedelta(minutes=2),
    )


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    owner = _owner(tmp_path / "chdb")
    await owner.run(lambda s: s.insert([_call(i, "gpt-4o-mini") for i in range(10)]))
    server = AnalyticsServer(CONFIG, owner)
    async with TestClient(TestServer(server.make_app())) as c:
        yield c
    owner.close()


async def test_summary_answers_from_the_store(client: Client) -> None:
    response = await client.get("/api/summary", params={"by": "model,tenant", "since": "1h"})
    assert response.status == 200
    body = await response.json()
    [row] = body["rows"]
    assert (row["model"], row["tenant"], row["calls"]) == ("gpt-4o-mini", "acme", 10)
    assert Decimal(row["cost_usd"]) == Decimal("0.0009")
    assert body["source"] == "rollup" and body["by"] == ["model", "tenant"]


async def test_router_prices_the_same_tokens_at_the_strongest_model(
    client: Client,
) -> None:
    body = await (await client.get("/api/router", params={"since": "1h"})).json()
    assert body["estimate"] is True
    [tier] = body["tiers"]
    assert (tier["model"], tier["requests"], tier["share"]) == ("gpt-4o-mini", 10, 1.0)
    [route] = body["routes"]
    assert (route["route"], route["strongest_model"]) == ("default", "claude-haiku")
    haiku = CONFIG.models["claude-haiku"]
    expected = (haiku.input_per_mtok * 1000 + haiku.output_per_mtok * 500) / 1_000_000
    assert Decimal(route["cost_if_strongest_usd"]) == expected


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/api/summary", {"by": "colour"}, "by"),
        ("/api/summary", {"since": "last tuesday"}, "since"),
        ("/api/timeseries", {"step": "week"}, "step"),
        ("/api/summary", {"source": "cache"}, "source"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    client: Client, path: str, params: dict[str, str], param: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["param"] == param and error["message"].startswith(f"{param}: ")


async def test_the_dashboard_is_served_from_the_package(
    client: Client,
) -> None:
    response = await client.get("/", allow_redirects=True)
    assert response.status == 200 and response.url.path == "/dashboard/"
    assert "<html" in (await response.text()).lower()


async def test_alerts_without_a_monitor_are_an_empty_list(client: Client) -> None:
    body = await (await client.get("/api/alerts")).json()
    assert body == {"rules": [], "stats": None}


async def test_a_closed_store_is_a_503(tmp_path: Path) -> None:
    owner = _owner(tmp_path / "chdb")
    owner.close()
    async with TestClient(TestServer(AnalyticsServer(CONFIG, owner).make_app())) as c:
        response = await c.get("/api/status")
        assert response.status == 503
        assert "closed" in (await response.json())["error"]["message"]


async def test_a_taken_port_leaves_the_process_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = CONFIG.model_copy(
            update={
                "analytics": CONFIG.analytics.model_copy(update={"listen": f"127.0.0.1:{port}"})
            }
        )
        server = AnalyticsServer(config, _owner(tmp_path / "chdb"))
        await server.start()  # logs and returns: the usage sink must go on
        assert not server.listening
        assert f"cannot listen on 127.0.0.1:{port}" in caplog.text
        await server.stop()
