"""Soft budgets and budget alerts through the real broker, a worker process and the emulator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.admission import BudgetAlert
from schemas.config_loader import load_config
from tests.integration.budget_helpers import admission_config, read_all
from tests.integration.harness import Emulator, Worker, collect, publish, request_event
from tests.integration.test_budgets import (
    FAST,
    outcomes,
    settled_state,
    solo_request,
)

pytestmark = pytest.mark.integration

Got = dict[str, list[dict[str, Any]]]
CHEAP = "llama-3.1-8b-groq"


async def run_until_ended(
    bootstrap: str, topics: dict[str, Any], items: list[tuple[str, bytes]]
) -> Got:
    """Publish the requests; every outcome so far, once each of these has one."""
    await publish(bootstrap, topics["requests"], items)
    ids = {rid for rid, _ in items}

    def ended(got: Got) -> bool:
        return set(outcomes(got, topics)) >= ids

    return await collect(bootstrap, [topics["responses"], topics["dlq"]], ended, 60)


def soft_item(rid: str) -> tuple[str, bytes]:
    return rid, solo_request(rid, "soft-co")


async def test_soft_budget_downgrades_once_past_its_limit(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 5, "default": FAST})
    limit = Decimal("0.0001")  # about eight short gpt-4o-mini answers of 16 tokens
    soft = {
        "period": "day",
        "limit_usd": str(limit),
        "mode": "soft",
        "downgrade_to": {"model": CHEAP},
    }
    admission = {"tenants": {"soft-co": {"budgets": [soft]}}}
    config = admission_config(tmp_path, emulator.url, test_name, admission)
    topics = load_config(config).topics.model_dump()
    worker = Worker(tmp_path, config, kafka_bootstrap)
    boot = kafka_bootstrap
    try:
        # Five estimates fit together under the limit: all on the route's own model.
        first = [f"sb-a{i}" for i in range(5)]
        got = await run_until_ended(boot, topics, [soft_item(r) for r in first])
        # One at a time: each request's spend is settled before the next is admitted, so
        # the answers switch to the cheap model once and for all at the limit.
        sequence: list[str] = []
        for i in range(30):
            got = await run_until_ended(boot, topics, [soft_item(f"sb-b{i}")])
            sequence.append(f"sb-b{i}")
            if any(r["downgraded"] for r in got[topics["responses"]]):
                break
        second = [f"sb-c{i}" for i in range(10)]
        got = await run_until_ended(boot, topics, [soft_item(r) for r in second])
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    ids = first + sequence + second
    assert outcomes(got, topics) == dict.fromkeys(ids, 1), "a request lost or answered twice"
    assert got[topics["dlq"]] == [], "a soft budget never dead-letters"
    by_id = {r["request_id"]: r for r in got[topics["responses"]]}
    flags = [by_id[r]["downgraded"] for r in first + sequence]
    assert flags == [False] * (len(flags) - 1) + [True], f"no clean switch: {flags}"
    full = [by_id[r] for r in first + sequence[:-1]]
    assert {r["model"] for r in full} == {"gpt-4o-mini"}
    assert all(r["downgrade_reason"] is None for r in full)
    for r in [by_id[rid] for rid in [sequence[-1], *second]]:
        assert r["downgraded"] and r["model"] == CHEAP and r["route"] == "solo", r
        assert r["downgrade_reason"].startswith("soft budget day"), r["downgrade_reason"]
    # Estimates are above real costs here, so the route's own model stayed within the limit.
    spent_full = sum((Decimal(r["cost_usd"]) for r in full), Decimal(0))
    assert spent_full <= limit
    print(
        f"\nsoft budget {limit} USD: {len(full)} on gpt-4o-mini (spent {spent_full}),"
        f" then {1 + len(second)} downgraded to {CHEAP}"
    )


def long_request(rid: str) -> bytes:
    # 8,000 characters of prose are ~2,000 tokens to the emulator; the config below
    # assumes 8 bytes a token, so the real cost runs past the estimate: the one way the
    # design lets settled spend pass a hard limit and fire the 100 % alert.
    event = request_event(
        rid, f"{rid} " + "lorem ipsum dolor sit amet " * 296, tenant="alert-co", route="solo"
    )
    event["params"] = {"max_tokens": 16}
    return orjson.dumps(event)


async def test_budget_alerts_once_per_threshold(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 6, "default": FAST})
    limit = Decimal("0.002")
    hard = {"period": "day", "limit_usd": str(limit), "alert_at": [0.5, 1.0]}
    admission = {"bytes_per_token": 8, "tenants": {"alert-co": {"budgets": [hard]}}}
    config = admission_config(tmp_path, emulator.url, test_name, admission)
    topics = load_config(config).topics.model_dump()
    worker = Worker(tmp_path, config, kafka_bootstrap)
    ids = [f"al-{i}" for i in range(30)]
    try:
        got = await run_until_ended(kafka_bootstrap, topics, [(r, long_request(r)) for r in ids])
        # Alerts are published before the snapshot that covers their spend.
        state = await settled_state(kafka_bootstrap, topics["admission_state"], "alert-co")
        alerts = await read_all(kafka_bootstrap, topics["alerts"], topics["partitions"])
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    assert outcomes(got, topics) == dict.fromkeys(ids, 1), "a request lost or answered twice"
    spent = sum(state.spent.values(), Decimal(0))
    assert spent >= limit, f"spend {spent} never reached the {limit} limit"
    period = next(iter(state.spent)).split("|")[1]
    assert sorted(a.value["threshold"] for a in alerts) == [0.5, 1.0], alerts
    for key, alert, _ in alerts:
        # Keyed tenant:budget:period:threshold, so compaction can drop a duplicate.
        assert key == BudgetAlert.model_validate(alert).key, key
        assert key.startswith(f"alert-co:day:{period}:"), key
        assert alert["period_key"] == period and Decimal(alert["limit_usd"]) == limit
        assert Decimal(alert["spent_usd"]) >= Decimal(str(alert["threshold"])) * limit, alert
    print(
        f"\nalerts at 50/100 % of {limit} USD: spent {spent},"
        f" {len(got[topics['responses']])} answered, {len(got[topics['dlq']])} rejected,"
        f" alerts {[(a['threshold'], a['spent_usd']) for _, a, _ in alerts]}"
    )
