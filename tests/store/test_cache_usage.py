"""Migration 0014 and cache hits in the analysts' figures, through the embedded engine.

A hit is one ``cache_hit`` row (no ``started`` row): a request answered, at no cost, with
``saved_usd`` the served answer's original cost. It counts in requests, successes, hits,
hit rate and savings; it stays out of calls, errors, latency quantiles and tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.cache import CacheHitKind
from schemas.events import UsageEvent
from store import UsageStore
from store.backends import EmbeddedBackend
from store.cache_stats import cache_summary
from store.migrations import MIGRATIONS, Schema, applied_versions, migrate
from store.migrations import m0014_cache as m0014
from store.queries import Source, Step, TimeRange, summary, timeseries
from store.usage import _row

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
AT = NOW - timedelta(minutes=30)
ALL = TimeRange.of(NOW - timedelta(hours=2), NOW + timedelta(minutes=1))
PRICE = Decimal("0.000250")


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(tmp_path / "chdb")
    yield b
    b.close()


@pytest.fixture
def store(backend: EmbeddedBackend) -> UsageStore:
    s = UsageStore(backend, "routeyard")
    s.ensure_schema()
    return s


def _call(request: str, route: str, model: str, latency_ms: float, ok: bool = True) -> UsageEvent:
    return UsageEvent(
        request_id=request,
        attempt=1,
        call_id=f"{request}:1",
        tenant="acme",
        route=route,
        model=model,
        provider="emu",
        upstream_model=model,
        outcome="success" if ok else "error",
        error_kind="" if ok else "timeout",
        input_tokens=100 if ok else 0,
        output_tokens=20 if ok else 0,
        cost_usd=PRICE if ok else Decimal(0),
        latency_ms=latency_ms,
        started_at=AT,
    )


def _hit(request: str, route: str, model: str, kind: CacheHitKind, origin: str) -> UsageEvent:
    # Tokens of the served answer: the hit did not pay for them, the queries must not
    # count them as billed.
    return UsageEvent(
        request_id=request,
        attempt=0,
        call_id=f"{request}:cache",
        tenant="acme",
        route=route,
        model=model,
        provider="emu",
        upstream_model=model,
        outcome="cache_hit",
        input_tokens=100,
        output_tokens=20,
        cost_usd=Decimal(0),
        latency_ms=0.5,  # far below every provider call: it would drag p50 down
        started_at=AT,
        cache=kind,
        cache_origin=origin,
        saved_usd=PRICE,
    )


def _traffic() -> list[UsageEvent]:
    """Route ``faq``: 4 calls (one failed), 4 exact hits, 2 semantic, 1 coalesced.
    Route ``code``: 2 calls, 1 exact hit."""
    calls = [_call(f"faq-{i}", "faq", "small", 100.0 + 100 * i) for i in range(3)]
    calls += [_call("faq-err", "faq", "small", 900.0, ok=False)]
    calls += [_call(f"code-{i}", "code", "big", 1000.0) for i in range(2)]
    hits = [_hit(f"faq-hit-{i}", "faq", "small", "exact", "faq-0") for i in range(4)]
    hits += [_hit(f"faq-sem-{i}", "faq", "small", "semantic", "faq-1") for i in range(2)]
    hits += [_hit("faq-co", "faq", "small", "coalesced", "faq-2")]
    hits += [_hit("code-hit", "code", "big", "exact", "code-0")]
    before = {"outcome": "started", "cost_usd": Decimal(0), "input_tokens": 0, "output_tokens": 0}
    started = [c.model_copy(update=before) for c in calls]
    return [*started, *calls, *hits]


def test_the_migration_adds_the_columns_once(backend: EmbeddedBackend) -> None:
    migrate(backend, "routeyard")
    schema = Schema(backend, "routeyard")
    usage = schema.columns("usage")
    assert (usage["cache"], usage["cache_origin"]) == ("LowCardinality(String)", "String")
    assert usage["saved_usd"] == usage["cost_usd"] == "Decimal(18, 9)"
    assert usage["outcome"] == "LowCardinality(String)"  # not an Enum: cache_hit fits as is
    assert {"cache", "cache_origin", "saved_usd"} <= schema.columns("usage_dedup").keys()
    assert {"cache", "saved_usd"} <= schema.columns("usage_minute").keys()
    assert not m0014.MIGRATION.applies(schema) and m0014.MIGRATION.verified(schema)
    assert migrate(backend, "routeyard") == []  # recorded: the next start does nothing
    # Run again regardless of the ledger, each step finds its change made and skips it.
    m0014.MIGRATION.apply(schema)
    assert m0014.MIGRATION.verified(schema)


def test_a_run_cut_short_is_finished_next_start(backend: EmbeddedBackend) -> None:
    migrate(backend, "routeyard", tuple(m for m in MIGRATIONS if m.version < 14))
    schema = Schema(backend, "routeyard")
    # 0014 added the usage columns and the rollup's, dropped the old view, then died.
    schema.run("ALTER TABLE {db}.usage ADD COLUMN cache LowCardinality(String)")
    schema.run("ALTER TABLE {db}.usage_minute ADD COLUMN saved_usd " + m0014._SAVED)
    schema.run("DROP TABLE {db}.usage_minute_mv")
    assert m0014.MIGRATION.applies(schema) and not m0014.MIGRATION.verified(schema)
    assert [m.version for m in migrate(backend, "routeyard")] == [14]
    store = UsageStore(backend, "routeyard")
    store.insert([_hit("after", "faq", "small", "exact", "before")])
    [total] = summary(store, ALL, [], "rollup")
    assert (total["requests"], total["cache_hits"]) == (1, 1)


def test_a_store_before_0014_keeps_its_rollup_and_counts_new_hits(
    backend: EmbeddedBackend,
) -> None:
    migrate(backend, "routeyard", tuple(m for m in MIGRATIONS if m.version < 14))
    store = UsageStore(backend, "routeyard")
    # Rows as the sink wrote them before the columns existed.
    old = [_row(_call(f"old-{i}", "faq", "small", 200.0)) for i in range(3)]
    for row in old:
        for column in ("cache", "cache_origin", "saved_usd"):
            del row[column]
    backend.insert_json_rows("routeyard.usage", old)
    before = backend.query("SELECT sum(rows) AS n FROM routeyard.usage_minute")

    store.ensure_schema()
    assert 14 in applied_versions(backend, "routeyard")
    assert backend.query("SELECT sum(rows) AS n FROM routeyard.usage_minute") == before
    store.insert([_hit("new-hit", "faq", "small", "semantic", "old-0")])
    sources: tuple[Source, ...] = ("rollup", "raw")
    for source in sources:
        [total] = summary(store, ALL, [], source)
        assert (total["requests"], total["cache_hits"], total["hit_rate"]) == (4, 1, 0.25)
        assert Decimal(total["saved_usd"]) == PRICE
    [row] = backend.query(
        "SELECT cache, cache_origin FROM routeyard.usage WHERE outcome = 'cache_hit'"
    )
    assert row == {"cache": "semantic", "cache_origin": "old-0"}
    olds = backend.query("SELECT DISTINCT cache FROM routeyard.usage WHERE outcome = 'success'")
    assert olds == [{"cache": ""}]


def test_a_row_without_a_hit_writes_an_empty_kind(store: UsageStore) -> None:
    store.insert([_call("plain", "faq", "small", 100.0)])
    [row] = store.query("SELECT cache, cache_origin, saved_usd FROM routeyard.usage")
    assert (row["cache"], row["cache_origin"]) == ("", "")
    assert Decimal(row["saved_usd"]) == 0


def test_hits_are_requests_and_successes_not_calls_tokens_or_cost(store: UsageStore) -> None:
    assert store.insert(_traffic()) == 6 + 6 + 8
    assert store.insert(_traffic()) == 0  # a replay: (call_id, outcome) held already
    for by in ([], ["route"], ["model"], ["route", "cache"], ["cache", "hour"]):
        assert summary(store, ALL, by, "rollup") == summary(store, ALL, by, "raw")
    steps: list[tuple[Step, str]] = [("minute", "model"), ("hour", "cache")]
    for step, key in steps:
        assert timeseries(store, ALL, step, key, "rollup") == timeseries(
            store, ALL, step, key, "raw"
        )

    [total] = summary(store, ALL, [], "rollup")
    assert total["requests"] == 6 + 8
    assert (total["calls"], total["errors"], total["error_rate"]) == (6, 1, round(1 / 6, 4))
    assert (total["successes"], total["cache_hits"]) == (5 + 8, 8)
    assert total["hit_rate"] == round(8 / 14, 4)
    assert Decimal(total["saved_usd"]) == 8 * PRICE
    assert Decimal(total["cost_usd"]) == 5 * PRICE  # the hits cost nothing
    assert (total["input_tokens"], total["output_tokens"]) == (5 * 100, 5 * 20)

    routes = {r["route"]: r for r in summary(store, ALL, ["route"], "rollup")}
    assert {k: (r["requests"], r["cache_hits"]) for k, r in routes.items()} == {
        "code": (3, 1),
        "faq": (11, 7),
    }
    assert Decimal(routes["faq"]["saved_usd"]) == 7 * PRICE


def test_a_models_latency_and_error_rate_ignore_its_hits(store: UsageStore) -> None:
    store.insert(_traffic())
    small = next(r for r in summary(store, ALL, ["model"], "raw") if r["model"] == "small")
    # Only the three successful provider calls (100, 200, 300 ms): 7 hits at 0.5 ms
    # would have put the median at 0.5.
    assert small["p50_ms"] == 200.0
    assert small["p99_ms"] is not None and small["p99_ms"] > 290
    assert small["error_rate"] == 0.25  # 1 of 4 provider calls, not 1 of 11 requests
    rollup = next(r for r in summary(store, ALL, ["model"], "rollup") if r["model"] == "small")
    assert rollup["p50_ms"] == 200.0


def test_a_model_answered_only_from_the_cache_has_no_latency(store: UsageStore) -> None:
    store.insert([_hit("only", "faq", "cached-only", "exact", "gone")])
    [row] = summary(store, ALL, ["model"], "rollup")
    assert (row["requests"], row["successes"], row["calls"]) == (1, 1, 0)
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (None, None, None)


def test_hit_rate_and_savings_by_route_and_kind(store: UsageStore) -> None:
    store.insert(_traffic())
    doc = cache_summary(store, ALL)
    assert doc == cache_summary(store, ALL, "raw")
    assert doc["total"] == {
        "requests": 14,
        "cache_hits": 8,
        "hit_rate": round(8 / 14, 4),
        "saved_usd": "0.002",
    }
    routes = [(r["route"], r["requests"], r["cache_hits"], r["hit_rate"]) for r in doc["routes"]]
    assert routes == [("code", 3, 1, 0.3333), ("faq", 11, 7, 0.6364)]
    assert [r["saved_usd"] for r in doc["routes"]] == ["0.00025", "0.00175"]
    kinds = [(k["cache"], k["cache_hits"], k["hit_rate"], k["saved_usd"]) for k in doc["kinds"]]
    assert kinds == [
        ("exact", 5, round(5 / 14, 4), "0.00125"),
        ("semantic", 2, round(2 / 14, 4), "0.0005"),
        ("coalesced", 1, round(1 / 14, 4), "0.00025"),
    ]


def test_no_traffic_is_zeros_not_an_error(store: UsageStore) -> None:
    doc = cache_summary(store, ALL)
    assert doc["total"] == {"requests": 0, "cache_hits": 0, "hit_rate": 0.0, "saved_usd": "0"}
    assert doc["routes"] == []
    assert [k["cache_hits"] for k in doc["kinds"]] == [0, 0, 0]
