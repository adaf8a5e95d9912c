"""Tenant budgets through the real broker, worker processes and the emulator."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from schemas.admission import TenantSnapshot
from schemas.config_loader import load_config
from streams.tenant_state import read_snapshots
from tests.integration.harness import (
    Emulator,
    Worker,
    collect,
    gateway_config,
    publish,
    request_event,
    wait_committed,
)

pytestmark = pytest.mark.integration

FAST = {"latency": {"dist": "lognormal", "median_ms": 30, "sigma": 0.5, "max_ms": 500}}
# One model and no fallback: the estimate is close to the real cost, so the limit is
# approached for real instead of being hit by reservations alone.
SOLO_ROUTE = {"name": "solo", "by_name_only": True, "primary": "gpt-4o-mini"}


def budget_config(tmp: Path, emulator_url: str, name: str, admission: dict[str, Any]) -> Path:
    base = yaml.safe_load(gateway_config(tmp, emulator_url, name).read_text())
    return gateway_config(
        tmp, emulator_url, name, routes=[*base["routes"], SOLO_ROUTE], admission=admission
    )


def solo_request(rid: str, tenant: str) -> bytes:
    event = request_event(rid, f"hello, a short question {rid}", tenant=tenant, route="solo")
    event["params"] = {"max_tokens": 16}
    return orjson.dumps(event)


def outcomes(got: dict[str, list[dict[str, Any]]], topics: dict[str, str]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for topic in (topics["responses"], topics["dlq"]):
        for event in got[topic]:
            seen[event["request_id"]] = seen.get(event["request_id"], 0) + 1
    return seen


async def settled_state(bootstrap: str, topic: str, tenant: str) -> TenantSnapshot:
    """The tenant's snapshot once it holds no reservation (every request settled)."""
    end = time.monotonic() + 30
    while True:
        found = [
            snap
            for part in (await read_snapshots(bootstrap, topic)).values()
            for name, snap in part.items()
            if name == tenant
        ]
        if found and not found[0].reservations:
            return found[0]
        if time.monotonic() > end:
            left = len(found[0].reservations) if found else "no snapshot"
            raise TimeoutError(f"{tenant} still has reservations after 30s: {left}")
        await asyncio.sleep(0.2)


async def test_hard_budget_holds_under_1000_concurrent_requests_on_two_workers(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 3, "default": FAST})
    limit = Decimal("0.003")
    admission = {
        "tenants": {"budget-co": {"budgets": [{"period": "day", "limit_usd": str(limit)}]}}
    }
    config = budget_config(tmp_path, emulator.url, test_name, admission)
    topics = load_config(config).topics.model_dump()
    ids = [f"hb-{i}" for i in range(1000)]
    first = Worker(tmp_path, config, kafka_bootstrap, tag="worker-1")
    second = Worker(tmp_path, config, kafka_bootstrap, tag="worker-2", role="gateway")
    try:
        await publish(
            kafka_bootstrap,
            topics["requests"],
            [(rid, solo_request(rid, "budget-co")) for rid in ids],
        )

        def all_ended(got: dict[str, list[dict[str, Any]]]) -> bool:
            return set(outcomes(got, topics)) >= set(ids)

        got = await collect(kafka_bootstrap, [topics["responses"], topics["dlq"]], all_ended, 120)
        # Spends reach admission after the outcomes are out: wait for the last to settle.
        state = await settled_state(kafka_bootstrap, topics["admission_state"], "budget-co")
        # Every admission event is acknowledged once a snapshot covers it.
        group = load_config(config).app_id
        await wait_committed(kafka_bootstrap, group, topics["admission"], 4, deadline_s=30)
    finally:
        assert second.stop() == 0, second.process.log_text()[-3000:]
        assert first.stop() == 0, first.process.log_text()[-3000:]
        emulator.stop()

    assert outcomes(got, topics) == dict.fromkeys(ids, 1), "a request lost or answered twice"
    letters = got[topics["dlq"]]
    assert {d["reason"] for d in letters} == {"budget_exceeded"}
    spent = sum((Decimal(r["cost_usd"]) for r in got[topics["responses"]]), Decimal(0))
    # The design's bound (docs/design/state.md): the limit, plus what admitted requests
    # cost beyond their estimate; with max_tokens set and this prompt that is nothing.
    assert spent <= limit, f"spent {spent} over the {limit} limit"
    assert spent >= limit / 2, f"only {spent} of {limit} used: admission refused too early"
    letter = letters[0]
    assert letter["stage"] == "admission" and letter["limit"]["kind"] == "budget"
    assert Decimal(letter["limit"]["limit"]) == limit

    # The state settled every response's cost once.
    assert sum(state.spent.values(), Decimal(0)) == spent
    print(
        f"\nhard budget {limit} USD: {len(got[topics['responses']])} answered,"
        f" {len(letters)} budget_exceeded, spent {spent} ({spent / limit:.1%} of the limit)"
    )


def test_config_names_a_bad_budget_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    base = yaml.safe_load(gateway_config(tmp_path, "http://127.0.0.1:1", "bad").read_text())
    base["admission"] = {"tenants": {"acme": {"budgets": [{"period": "week", "limit_usd": 1}]}}}
    path.write_text(yaml.safe_dump(base))
    with pytest.raises(Exception, match=r"admission\.tenants\.acme\.budgets\[0\]\.period"):
        load_config(path)
