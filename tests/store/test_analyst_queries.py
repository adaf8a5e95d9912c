"""Every ```sql block of docs/analytics.md runs against a store the real pipeline filled.

A worker (role all) answers a few hundred requests over several tenants, routes and
models while the emulator fails two models for a while; then the worker stops, releasing
the embedded folder, and each query of the page runs and is checked against what was
published and collected (responses, the emulator's call count) and against raw rows.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from devtools.sample_traffic import sample_texts
from policy.savings import route_candidates, router_savings
from schemas.config import GatewayConfig
from schemas.config_loader import load_config
from store import UsageStore, open_backend
from store.migrations import MIGRATIONS
from tests.integration.harness import (
    Emulator,
    Worker,
    collect,
    gateway_config,
    publish,
    request_event,
    wait_committed,
)
from tests.paths import EXAMPLE_CONFIG, ROOT

DOC = ROOT / "docs" / "analytics.md"
SAVING = "Cost saved by routing (rollup, prices from the config)"
REQUESTS = 300
TENANTS = ("acme", "globex", "initech", "tenant-2")
FAST = {"latency": {"dist": "lognormal", "median_ms": 20, "sigma": 0.5, "max_ms": 300}}

Rows = list[dict[str, Any]]


def doc_queries() -> dict[str, str]:
    """Title (the block's first line, a ``--`` comment) -> SQL, for every sql block."""
    blocks = re.findall(r"^```sql\n(.*?)^```", DOC.read_text(), re.S | re.M)
    queries: dict[str, str] = {}
    for sql in blocks:
        first = sql.splitlines()[0]
        assert first.startswith("-- "), f"a sql block must open with a title comment: {first!r}"
        title = first.removeprefix("-- ")
        assert title not in queries, f"two sql blocks are titled {title!r}"
        queries[title] = sql
    return queries


def test_the_saving_query_inlines_the_example_configs_prices_and_routes() -> None:
    """The page says its prices are config/routeyard.example.yaml's: keep them so."""
    sql = doc_queries()[SAVING]
    config = load_config(EXAMPLE_CONFIG)
    candidates = [
        (r.name, m, i) for r in config.routes for i, m in enumerate(route_candidates(r), 1)
    ]
    for route, model, position in candidates:
        assert f"('{route}', '{model}', {position})" in sql
    models = {m for _, m, _ in candidates}
    for name in models:
        price = config.models[name]
        cached = price.cached_input_per_mtok
        cached = price.input_per_mtok if cached is None else cached
        row = f"('{name}', '{price.input_per_mtok}', '{cached}', '{price.output_per_mtok}')"
        assert row in sql
    # Nothing else: no price or candidate the example config does not have.
    assert len(re.findall(r"\('[^']+', '[^']+', \d+\)", sql)) == len(candidates)
    assert len(re.findall(r"\('[^']+'(?:, '[^']+'){3}\)", sql)) == len(models)


def _requests() -> Iterator[tuple[str, bytes]]:
    for i, text in enumerate(sample_texts(REQUESTS, seed=11)):
        rid = f"aq-{i}"
        extra: dict[str, Any] = {"tenant": TENANTS[i % len(TENANTS)]}
        # Named routes and task types spread the traffic over most routes; the rest go
        # where triage's classifier sends them (default, hard, on-prem for tenant-2).
        kind = i % 6
        if kind == 0:
            extra["task_type"] = "code"
        elif kind == 1:
            extra["task_type"] = "summarize"
        elif kind == 2:
            extra["route"] = "search"
        elif kind == 3:
            extra["route"] = "budget"
        yield rid, orjson.dumps(request_event(rid, text, **extra))


@pytest.mark.integration
async def test_every_query_on_the_analyst_page_answers_from_the_pipelines_store(
    kafka_bootstrap: str,
    test_name: str,
    tmp_path: Path,
) -> None:
    queries = doc_queries()
    emulator = Emulator(tmp_path, {"seed": 5, "default": FAST})
    config_path = gateway_config(tmp_path, emulator.url, test_name)
    topics = yaml.safe_load(config_path.read_text())["topics"]
    worker = Worker(tmp_path, config_path, kafka_bootstrap, role="all")
    try:
        # Failing models make errors, retries, fallbacks and open breakers (skips).
        emulator.fault("gpt-4o-mini", 500, 6)
        emulator.fault("deepseek-chat", 503, 6)
        await publish(kafka_bootstrap, topics["requests"], _requests())

        def answered(got: dict[str, Rows]) -> bool:
            done = len(got[topics["responses"]]) + len(got[topics["dlq"]]) >= REQUESTS
            successes = sum(u["outcome"] == "success" for u in got[topics["usage"]])
            return done and successes >= len(got[topics["responses"]])

        got = await collect(
            kafka_bootstrap,
            [topics["responses"], topics["dlq"], topics["usage"]],
            answered,
            deadline_s=180,
        )
        await wait_committed(
            kafka_bootstrap, f"routeyard-{test_name}", topics["usage"], 4, deadline_s=60
        )
    finally:
        # Stopping the worker releases the embedded folder for this process.
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
    calls_seen = emulator.stats()["requests"]
    emulator.stop()
    responses = got[topics["responses"]]
    assert got[topics["dlq"]] == []
    assert len(responses) == REQUESTS

    store = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    try:
        store.ensure_schema()  # applies nothing: the worker migrated the store
        results = {title: store.query(sql) for title, sql in queries.items()}
        raw = RawFacts(store)
    finally:
        store.backend.close()

    facts = Facts(responses, calls_seen, raw, load_config(config_path))
    checks = facts.checks()
    assert set(checks) == set(results), "each sql block of the page needs a check here"
    for title, rows in results.items():
        checks[title](rows)
    saved = sum(Decimal(r["saved_usd"]) for r in results[SAVING])
    errors = sum(_int(r, "errors") for r in results["Error kinds by provider (rollup)"])
    print(f"{calls_seen} calls, {errors} errors, ${saved} saved by routing")


def _int(row: dict[str, Any], key: str) -> int:
    return int(row[key])


def _by(rows: Rows, *keys: str) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(str(r[k]) for k in keys): r for r in rows}


class RawFacts:
    """Figures read straight from the raw ``usage`` rows, to hold the page's queries to."""

    def __init__(self, store: UsageStore) -> None:
        q, db = store.query, "routeyard.usage"
        completed = "outcome IN ('success', 'error')"
        self.by_tenant = _by(
            q(f"SELECT tenant, sum(cost_usd) AS cost FROM {db} WHERE {completed} GROUP BY tenant"),
            "tenant",
        )
        self.by_route_model = _by(
            q(
                "SELECT route, model, count() AS calls, sum(toUInt64(input_tokens)) AS i,"
                " sum(toUInt64(output_tokens)) AS o, sum(toUInt64(cached_input_tokens)) AS c,"
                f" sum(cost_usd) AS cost, countIf(is_fallback) AS fallbacks FROM {db}"
                f" WHERE {completed} GROUP BY route, model"
            ),
            "route",
            "model",
        )
        self.errors = _by(
            q(
                f"SELECT provider, error_kind, count() AS n FROM {db} WHERE outcome = 'error'"
                " GROUP BY provider, error_kind"
            ),
            "provider",
            "error_kind",
        )
        self.first_calls = _by(
            q(
                f"SELECT tier, model, count() AS n FROM {db} WHERE attempt = 1 AND {completed}"
                " GROUP BY tier, model"
            ),
            "tier",
            "model",
        )
        self.interrupted = _int(
            q("SELECT count() AS n FROM routeyard.usage_dedup WHERE outcome = 'interrupted'")[0],
            "n",
        )

    @property
    def calls(self) -> int:
        return sum(_int(r, "calls") for r in self.by_route_model.values())


class Facts:
    def __init__(
        self, responses: Rows, calls_seen: int, raw: RawFacts, config: GatewayConfig
    ) -> None:
        self.responses = responses
        self.calls_seen = calls_seen
        self.raw = raw
        self.config = config
        self.cost_by_tenant: dict[str, Decimal] = defaultdict(Decimal)
        for r in responses:
            self.cost_by_tenant[r["tenant"]] += Decimal(r["cost_usd"])
        self.answers_by_model = Counter(r["model"] for r in responses)

    def checks(self) -> dict[str, Callable[[Rows], None]]:
        return {
            "Requests per minute (rollup)": self.requests_per_minute,
            "Cost by tenant and day (rollup)": self.cost_by_tenant_and_day,
            "Cost by tenant and day (raw rows)": self.cost_by_tenant_and_day,
            "Latency by model per hour (rollup)": self.latency,
            "Latency by model per hour (raw rows)": self.latency,
            "Fallback rate by route (rollup)": self.fallback_rate,
            "Error kinds by provider (rollup)": self.error_kinds,
            "Tier mix (rollup)": self.tier_mix,
            "Token sums per route and model (rollup)": self.token_sums,
            SAVING: self.saving,
            "Interrupted calls by model (raw rows)": self.interrupted,
            "Applied migrations": self.migrations,
        }

    def requests_per_minute(self, rows: Rows) -> None:
        assert sum(_int(r, "requests") for r in rows) == len(self.responses)
        # Every call reached the emulator and completed: its count is the calls'.
        assert sum(_int(r, "calls") for r in rows) == self.calls_seen == self.raw.calls
        assert sum(_int(r, "errors") for r in rows) == sum(
            _int(r, "n") for r in self.raw.errors.values()
        )
        assert sum(_int(r, "rejected") for r in rows) == 0

    def cost_by_tenant_and_day(self, rows: Rows) -> None:
        cost: dict[str, Decimal] = defaultdict(Decimal)
        requests: Counter[str] = Counter()
        for r in rows:
            cost[r["tenant"]] += Decimal(r["cost_usd"])
            requests[r["tenant"]] += _int(r, "requests")
        assert set(cost) == set(TENANTS)
        assert cost == self.cost_by_tenant  # what the responses said each call cost
        assert cost == {t: Decimal(r["cost"]) for (t,), r in self.raw.by_tenant.items()}
        assert requests == Counter(r["tenant"] for r in self.responses)

    def latency(self, rows: Rows) -> None:
        successes: Counter[str] = Counter()
        for r in rows:
            successes[r["model"]] += _int(r, "successes")
            p50, p95, p99 = r["p50_p95_p99_ms"]
            assert 0 < p50 <= p95 <= p99 and r["p95_ms"] == p95
        assert successes == self.answers_by_model

    def fallback_rate(self, rows: Rows) -> None:
        raw: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (route, _), r in self.raw.by_route_model.items():
            raw[route][0] += _int(r, "calls")
            raw[route][1] += _int(r, "fallbacks")
        assert {r["route"]: [_int(r, "calls"), _int(r, "fallbacks")] for r in rows} == raw
        default = _by(rows, "route")[("default",)]
        # gpt-4o-mini failed for a while: the default route fell back to claude-haiku.
        assert _int(default, "fallbacks") > 0 and float(default["fallback_rate"]) > 0
        assert len(rows) >= 5

    def error_kinds(self, rows: Rows) -> None:
        assert {k: _int(r, "errors") for k, r in _by(rows, "provider", "error_kind").items()} == {
            k: _int(r, "n") for k, r in self.raw.errors.items()
        }
        assert {"openai", "deepseek"} <= {r["provider"] for r in rows}
        for provider in {r["provider"] for r in rows}:
            shares = [float(r["share_of_provider"]) for r in rows if r["provider"] == provider]
            assert sum(shares) == pytest.approx(1, abs=1e-3)

    def tier_mix(self, rows: Rows) -> None:
        assert {k: _int(r, "requests") for k, r in _by(rows, "tier", "model").items()} == {
            k: _int(r, "n") for k, r in self.raw.first_calls.items()
        }
        assert sum(_int(r, "requests") for r in rows) == len(self.responses)
        assert sum(float(r["share"]) for r in rows) == pytest.approx(1, abs=1e-3)
        assert len({r["tier"] for r in rows}) >= 2

    def token_sums(self, rows: Rows) -> None:
        raw = {
            k: (_int(r, "calls"), _int(r, "i"), _int(r, "c"), _int(r, "o"), Decimal(r["cost"]))
            for k, r in self.raw.by_route_model.items()
        }
        mine = {
            k: (
                _int(r, "calls"),
                _int(r, "input_tokens"),
                _int(r, "cached_input_tokens"),
                _int(r, "output_tokens"),
                Decimal(r["cost_usd"]),
            )
            for k, r in _by(rows, "route", "model").items()
        }
        assert mine == raw
        assert sum(v[4] for v in mine.values()) == sum(self.cost_by_tenant.values())

    def saving(self, rows: Rows) -> None:
        # The SQL and policy/savings.py give the same figures from the same token sums.
        sums = [
            {
                "route": route,
                "model": model,
                "requests": r["calls"],
                "input_tokens": r["i"],
                "output_tokens": r["o"],
                "cached_input_tokens": r["c"],
                "cost_usd": r["cost"],
            }
            for (route, model), r in self.raw.by_route_model.items()
        ]
        expected = router_savings(self.config, sums)
        assert expected["unpriced"] == []
        want = {
            (e["route"], e["model"]): (
                e["strongest_model"],
                Decimal(e["cost_usd"]),
                Decimal(e["cost_if_strongest_usd"]),
                Decimal(e["saved_usd"]),
            )
            for e in expected["routes"]
        }
        got = {
            (r["route"], r["model"]): (
                r["strongest_model"],
                Decimal(r["cost_usd"]),
                Decimal(r["cost_if_strongest_usd"]),
                Decimal(r["saved_usd"]),
            )
            for r in rows
        }
        assert got == want
        saved = sum((Decimal(r["saved_usd"]) for r in rows), Decimal(0))
        assert saved == Decimal(expected["saved_usd"]) and saved > 0

    def interrupted(self, rows: Rows) -> None:
        # The worker stopped cleanly: every started call completed.
        assert sum(_int(r, "interrupted") for r in rows) == self.raw.interrupted == 0

    def migrations(self, rows: Rows) -> None:
        assert [_int(r, "version") for r in rows] == [m.version for m in MIGRATIONS]
