"""``routeyard budgets`` against a real broker: snapshots on the state topic to rows."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from policy.budget import period_key
from schemas.admission import TenantSnapshot
from schemas.config import TopicsConfig
from schemas.config_loader import load_config
from streams.topics import ensure_topics
from tests.integration.harness import gateway_config

pytestmark = pytest.mark.integration


async def test_budgets_reads_the_last_snapshot_of_each_tenant(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    topics = {
        key: f"{test_name}.{value}" if isinstance(value, str) else value
        for key, value in TopicsConfig().model_dump().items()
    }
    admission = {
        "default": {"budgets": [{"period": "month", "limit_usd": "5"}]},
        "tenants": {"acme": {"budgets": [{"period": "day", "limit_usd": "2"}]}},
    }
    path = gateway_config(
        tmp_path, "http://127.0.0.1:1", test_name, topics=topics, admission=admission
    )
    config = load_config(path)
    await ensure_topics(kafka_bootstrap, config.topics, config.limits)
    now = datetime.now(UTC)
    day, month = period_key("day", now), period_key("month", now)
    snaps = [
        TenantSnapshot(
            tenant="acme",
            partition=1,
            confirmed_offset=3,
            spent={f"day|{day}": Decimal("0.5")},
            written_at=now - timedelta(seconds=2),
        ),
        TenantSnapshot(
            tenant="acme",
            partition=1,
            confirmed_offset=9,
            spent={f"day|{day}": Decimal("1.5")},
            written_at=now - timedelta(seconds=1),
        ),
        TenantSnapshot(
            tenant="beta", partition=2, confirmed_offset=0, spent={f"month|{month}": Decimal("1")}
        ),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for snap in snaps:
            await producer.send_and_wait(
                config.topics.admission_state,
                snap.to_bytes(),
                key=snap.tenant.encode(),
                partition=snap.partition,
            )
    finally:
        await producer.stop()

    argv = ["budgets", "--config", str(path), "--bootstrap", kafka_bootstrap, "--format", "json"]
    result = subprocess.run(
        [sys.executable, "-m", "routeyard.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = orjson.loads(result.stdout)
    got = [(r["tenant"], r["budget"], r["period_key"], r["spent_usd"]) for r in rows]
    # Run across midnight (UTC), the command reports the new period, where nothing is spent.
    now = datetime.now(UTC)
    new_day, new_month = period_key("day", now), period_key("month", now)
    assert got == [
        ("acme", "day", new_day, "1.5" if new_day == day else "0"),
        ("beta", "month", new_month, "1" if new_month == month else "0"),
    ]
