"""The dashboard in a real headless Chromium (Debian's), against a worker's analytics server.

The worker (role all) and the emulator run as processes over the session's broker; traffic
goes through the pipeline into the store, and the page's charts are read back through the
data attributes every drawn point and bar carries, then compared with the query API's
answers for the same range: the numbers on screen are the numbers in the store.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from playwright.async_api import ConsoleMessage, Page, async_playwright

from devtools.sample_traffic import sample_texts
from tests.integration.harness import (
    Emulator,
    Worker,
    collect,
    gateway_config,
    publish,
    request_event,
    wait_committed,
)
from tests.paths import ROOT

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
# This machine's network is closed: keep Chromium from its background connections
# (updates, sync, QUIC probes), which would otherwise only add noise and delays.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "tests" / "artifacts" / "dashboard.png"
FAST = {"latency": {"dist": "lognormal", "median_ms": 40, "sigma": 0.5, "max_ms": 400}}
TENANTS = ("acme", "globex")
MINI_UPSTREAM = "gpt-4o-mini"  # the default route's primary; its faults fall back to haiku

# Every drawn point/bar of one chart, as the page wrote it.
READ_CHART = """chart => [...document.querySelectorAll(`[data-chart="${chart}"]`)].map(e => ({
    series: e.dataset.series, metric: e.dataset.metric, bucket: e.dataset.bucket,
    value: e.dataset.value, errors: e.dataset.errors ?? null,
    fallbacks: e.dataset.fallbacks ?? null, calls: e.dataset.calls ?? null}))"""
TOTAL_REQUESTS = """() => [...document.querySelectorAll(
    '[data-chart="requests"][data-series="(all)"]')]
    .reduce((n, e) => n + Number(e.dataset.value), 0)"""
RANGE_USED = "e => ({since: e.dataset.since, until: e.dataset.until, step: e.dataset.step})"


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[tuple[Page, list[str]]]:
    """A page in a fresh Chromium profile, and the console errors and page errors it logs."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make browser`, as root)")
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.append(f"console error: {message.text} ({message.location})")

        tab = await context.new_page()
        tab.on("console", on_console)
        tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        try:
            yield tab, problems
        finally:
            await context.close()


def _requests(n: int, prefix: str, seed: int) -> list[tuple[str, bytes]]:
    items = []
    for i, text in enumerate(sample_texts(n, seed=seed)):
        rid = f"{prefix}-{i}"
        event = request_event(rid, text, tenant=TENANTS[i % 2], params={"max_tokens": 64})
        items.append((rid, orjson.dumps(event)))
    return items


async def _api(client: httpx.AsyncClient, endpoint: str, **params: str) -> dict[str, Any]:
    reply = await client.get(f"/api/{endpoint}", params=params)
    assert reply.status_code == 200, f"{endpoint} {params}: {reply.status_code} {reply.text}"
    body: dict[str, Any] = reply.json()
    return body


def _window() -> dict[str, str]:
    """A range holding everything this test publishes (the API floors to the minute)."""
    now = datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "since": (now - timedelta(hours=2)).strftime(fmt),
        "until": (now + timedelta(minutes=2)).strftime(fmt),
    }


async def _wait_for_requests(client: httpx.AsyncClient, want: int, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    got = -1
    while time.monotonic() < end:
        rows = (await _api(client, "summary", by="model", **_window()))["rows"]
        got = sum(r["requests"] for r in rows)
        if got == want:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"/api/summary counts {got} requests after {deadline_s}s, want {want}")


async def _drive(
    bootstrap: str, config: Path, group: str, items: list[tuple[str, bytes]], already: int
) -> None:
    """Publish ``items`` and wait until each has a terminal outcome and its usage is stored."""
    topics = yaml.safe_load(config.read_text())["topics"]
    await publish(bootstrap, topics["requests"], items)
    want = already + len(items)
    await collect(
        bootstrap,
        [topics["responses"], topics["dlq"]],
        lambda g: len(g[topics["responses"]]) + len(g[topics["dlq"]]) >= want,
        deadline_s=120,
    )
    await wait_committed(bootstrap, group, topics["usage"], topics["partitions"], deadline_s=60)


def _sum_by(points: list[dict[str, Any]], field: str = "value") -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for p in points:
        out[p["series"]] += Decimal(p[field])
    return dict(out)


async def _check_charts(page: Page, client: httpx.AsyncClient, published: int) -> None:
    """Every chart against the API's answer for the window the page says it used."""
    used = await page.eval_on_selector("#range-used", RANGE_USED)
    window = {"since": used["since"], "until": used["until"]}
    models = (await _api(client, "summary", by="model", **window))["rows"]
    tenants = (await _api(client, "summary", by="tenant", **window))["rows"]
    by_model = {r["model"]: r for r in models}
    by_tenant = {r["tenant"]: r for r in tenants}
    lines = await _api(client, "timeseries", step=used["step"], by="model", **window)
    router = await _api(client, "router", **window)
    assert sum(r["requests"] for r in by_model.values()) == published

    # Requests per minute: the total line sums to what was published; each model's line
    # to the model's requests.
    requests = await page.evaluate(READ_CHART, "requests")
    per_series = _sum_by(requests)
    assert per_series.pop("(all)") == published
    assert per_series == {m: r["requests"] for m, r in by_model.items() if r["requests"]}

    # Latency quantiles, point by point, equal the timeseries rows of the same buckets.
    latency = await page.evaluate(READ_CHART, "latency")
    drawn = {(p["series"], p["bucket"], p["metric"]): float(p["value"]) for p in latency}
    want = {
        (row["key"], row["bucket"], q): row[q]
        for row in lines["series"]
        for q in ("p50_ms", "p95_ms", "p99_ms")
        if row[q] is not None
    }
    assert drawn == want and len(drawn) >= 3 * 4  # four routes' models at least
    assert all(want[(m, b, "p50_ms")] <= want[(m, b, "p99_ms")] for m, b, _ in want)

    # Error and fallback rates: the counts behind each point are the store's, and the
    # emulator's fault made errors (and fallbacks) show.
    rates = await page.evaluate(READ_CHART, "rates")
    errors = [p for p in rates if p["series"] == "error_rate"]
    assert sum(int(p["errors"]) for p in errors) == sum(r["errors"] for r in by_model.values())
    assert sum(int(p["calls"]) for p in errors) == sum(r["calls"] for r in by_model.values())
    assert any(float(p["value"]) > 0 for p in errors)
    for p in errors:
        assert float(p["value"]) == pytest.approx(int(p["errors"]) / int(p["calls"]))
    fallbacks = [p for p in rates if p["series"] == "fallback_rate"]
    assert sum(int(p["fallbacks"]) for p in fallbacks) == sum(
        r["fallbacks"] for r in by_model.values()
    )

    # Cost per day: the stacked bars of each model and tenant add up to its exact cost.
    cost_models = _sum_by(await page.evaluate(READ_CHART, "cost-model"))
    assert cost_models == {
        m: Decimal(r["cost_usd"]) for m, r in by_model.items() if Decimal(r["cost_usd"]) > 0
    }
    cost_tenants = _sum_by(await page.evaluate(READ_CHART, "cost-tenant"))
    assert set(cost_tenants) == set(TENANTS)
    assert cost_tenants == {t: Decimal(r["cost_usd"]) for t, r in by_tenant.items()}

    # Tier mix: one bar segment per (tier, model) with its request count.
    tiers = await page.evaluate(READ_CHART, "tiers")
    assert {(p["bucket"], p["series"]): int(p["value"]) for p in tiers} == {
        (t["tier"], t["model"]): t["requests"] for t in router["tiers"]
    }

    # Every drawn figure has its tooltip.
    untitled = await page.evaluate(
        "() => [...document.querySelectorAll('svg [data-chart]')]"
        ".filter(e => !e.querySelector('title')?.textContent).length"
    )
    assert untitled == 0

    kpis = await page.eval_on_selector_all(
        "[data-kpi]", "es => Object.fromEntries(es.map(e => [e.dataset.kpi, e.dataset.value]))"
    )
    assert int(kpis["requests"]) == published
    assert Decimal(kpis["cost_usd"]) == sum(Decimal(r["cost_usd"]) for r in by_model.values())
    assert Decimal(kpis["saved_usd"]) == Decimal(router["saved_usd"])
    hits = sum(r["cache_hits"] for r in by_model.values())
    assert float(kpis["cache_hit_rate"]) == pytest.approx(hits / published)
    saved = sum(Decimal(r["saved_usd"]) for r in by_model.values())
    assert Decimal(kpis["cache_saved_usd"]) == saved


async def test_dashboard_charts_show_the_store_and_refresh(
    kafka_bootstrap: str, test_name: str, tmp_path: Path, page: tuple[Page, list[str]]
) -> None:
    tab, problems = page
    emulator = Emulator(tmp_path, {"seed": 3, "default": FAST})
    # The sample texts are written around the heuristic's keywords, so that every route
    # gets traffic; this test is about the dashboard, not the score.
    config = gateway_config(tmp_path, emulator.url, test_name, router={"scorer": "heuristic"})
    worker = Worker(tmp_path, config, kafka_bootstrap, role="all")
    assert worker.analytics_url is not None, "derive_config sets analytics.listen"
    group = f"routeyard-{test_name}"  # role all: the sink runs in the app's own group
    first, more = 300, 120
    try:
        async with httpx.AsyncClient(base_url=worker.analytics_url, timeout=10) as client:
            emulator.fault(MINI_UPSTREAM, 500, seconds=10)
            await _drive(kafka_bootstrap, config, group, _requests(first, "dash-a", seed=1), 0)
            await _wait_for_requests(client, first, deadline_s=30)

            await tab.goto(f"{worker.analytics_url}/dashboard/?range=15m")
            await tab.wait_for_selector("body[data-state=ready]", timeout=30_000)
            assert "last 15 min" in await tab.inner_text("#range-used")
            await _check_charts(tab, client, first)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await tab.screenshot(path=str(SCREENSHOT), full_page=True)
            assert problems == []

            # While traffic flows the page refreshes itself: the new requests show up
            # without a reload (the marker set on this document survives).
            await tab.evaluate("() => { window.notReloaded = true }")
            before = int(await tab.eval_on_selector("body", "b => b.dataset.refreshes"))
            await _drive(kafka_bootstrap, config, group, _requests(more, "dash-b", seed=2), first)
            await _wait_for_requests(client, first + more, deadline_s=30)
            await tab.wait_for_function(f"({TOTAL_REQUESTS})() === {first + more}", timeout=30_000)
            assert await tab.evaluate("() => window.notReloaded === true")
            assert int(await tab.eval_on_selector("body", "b => b.dataset.refreshes")) > before
            await _check_charts(tab, client, first + more)

            # Paused, it says so and keeps the range in its address.
            await tab.click("#pause")
            assert await tab.inner_text("#pause") == "resume"
            assert "paused=1" in tab.url

            # A range without traffic: the empty state, not blank charts.
            await tab.goto(
                f"{worker.analytics_url}/dashboard/"
                "?range=custom&since=2020-01-01T00:00&until=2020-01-01T01:00"
            )
            await tab.wait_for_selector("body[data-state=empty]", timeout=30_000)
            assert "No traffic between 2020-01-01 00:00Z" in await tab.inner_text("#requests")
            assert "2020-01-01 00:00Z → 2020-01-01 01:00Z" in await tab.inner_text("#range-used")
            assert problems == []
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    # The analytics process gone: the page says so in the page, not only in the console.
    await tab.click("[data-range='1h']")
    await tab.wait_for_selector("body[data-state=error]", timeout=30_000)
    shown = await tab.inner_text("#error")
    assert "GET /api/" in shown and "did not answer" in shown, shown
