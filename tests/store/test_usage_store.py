"""The usage table on the embedded ClickHouse engine: DDL, inserts, dedup view, report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest

from devtools.store_outage import StoreOutage
from schemas.events import UsageEvent
from store import StoreUnavailable, UsageStore, open_backend
from store.backends import EmbeddedBackend
from store.queries import TimeRange, summary


@pytest.fixture
def store(tmp_path: Path) -> Iterator[UsageStore]:
    s = UsageStore(EmbeddedBackend(tmp_path / "chdb"), "routeyard")
    s.ensure_schema()
    yield s
    s.backend.close()


def _usage(request_id: str, attempt: int = 1, **over: object) -> UsageEvent:
    fields: dict[str, object] = {
        "request_id": request_id,
        "attempt": attempt,
        "call_id": uuid4().hex,  # each event is its own provider call unless a test says not
        "tenant": "acme",
        "route": "default",
        "model": "small",
        "provider": "emu",
        "upstream_model": "s",
        "outcome": "success",
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_usd": Decimal("0.000001"),
        "latency_ms": 100.0,
    }
    fields.update(over)
    return UsageEvent.model_validate(fields)


def test_schema_creation_is_idempotent(store: UsageStore) -> None:
    store.ensure_schema()
    assert store.query("SELECT count() AS n FROM routeyard.usage") == [{"n": 0}]


def test_cost_sums_exactly(store: UsageStore) -> None:
    store.insert([_usage(f"r{i}", cost_usd=Decimal("0.001")) for i in range(3000)])
    [row] = store.query("SELECT sum(cost_usd) AS usd FROM routeyard.usage")
    assert Decimal(row["usd"]) == Decimal("3")


def test_a_replayed_batch_is_inserted_once(store: UsageStore) -> None:
    rows = [_usage("a", 1, outcome="error", error_kind="rate_limited"), _usage("a", 2)]
    assert store.insert(rows) == 2
    assert store.insert(rows) == 0  # a replay after a crash
    raw = store.query("SELECT count() AS n FROM routeyard.usage")[0]["n"]
    dedup = store.query("SELECT count() AS n FROM routeyard.usage_dedup")[0]["n"]
    assert (int(raw), int(dedup)) == (2, 2)


def test_report_by_model(store: UsageStore) -> None:
    store.insert(
        [_usage(f"ok{i}", latency_ms=float(i)) for i in range(1, 101)]
        + [_usage("bad", outcome="error", error_kind="timeout", model="big")]
        + [_usage("fb", 2, model="big", is_fallback=True)]
        + [_usage("rej", 0, outcome="rejected", model="")]
    )
    now = datetime.now(UTC)
    window = TimeRange.of(now - timedelta(hours=1), now + timedelta(minutes=1))
    report = {r["model"]: r for r in summary(store, window, ["model"])}
    assert set(report) == {"small", "big", ""}  # "": the rejection, made before any call
    small, big = report["small"], report["big"]
    assert small["calls"] == 100 and small["error_rate"] == 0
    assert 49 <= small["p50_ms"] <= 52 and 98 <= small["p99_ms"] <= 100
    assert big["error_rate"] == 0.5 and big["fallback_rate"] == 0.5
    assert report[""]["rejected"] == 1 and report[""]["calls"] == 0
    assert Decimal(small["cost_usd"]) == Decimal("0.0001")


def test_a_held_folder_is_a_clear_store_error(tmp_path: Path) -> None:
    with StoreOutage(tmp_path / "chdb"), pytest.raises(StoreUnavailable, match="one process"):
        open_backend(tmp_path / "chdb")


def test_unreachable_server_is_a_store_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    monkeypatch.setenv("CLICKHOUSE_URL", f"http://analyst:hunter2@127.0.0.1:{port}/routeyard")
    with pytest.raises(StoreUnavailable) as info:
        open_backend("unused")
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "hunter2" not in str(info.value)
