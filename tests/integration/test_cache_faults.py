"""The cache's delivery guarantee under faults, with real worker processes, the real broker
and the emulator (docs/design/cache.md, "Guarantees" and "Failure windows"): a gateway
worker SIGKILLed mid-stream still leaves one outcome per request and never a wrong answer,
and the waiters of a leader whose fill never comes are looked up again once the leader's
deadline and the in-flight grace have passed."""

from __future__ import annotations

import random
import re
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from policy.cache_book import INFLIGHT_GRACE_S
from policy.cache_key import ticket_for
from schemas.cache_events import CacheLookup
from schemas.config_loader import load_config
from streams.triage import RecentIds, Routed, triage
from tests.integration.harness import Emulator, Worker, collect, gateway_config, publish

pytestmark = pytest.mark.integration

SLOW = {"latency": {"dist": "uniform", "min_ms": 150, "max_ms": 250}}
ROUTES = [{"name": "default", "primary": "gpt-4o", "cache": {}}]
Got = dict[str, list[dict[str, Any]]]


def _event(rid: str, text: str) -> tuple[str, bytes]:
    event = {
        "request_id": rid,
        "tenant": "acme",
        "messages": [{"role": "user", "content": text}],
        "params": {"temperature": 0, "max_tokens": 50},
    }
    return rid, orjson.dumps(event)


def _calls(emulator: Emulator) -> int:
    return sum(m["requests"] for m in emulator.stats()["models"].values())


def _topics(config: Path) -> dict[str, str]:
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    return topics


async def _outcomes(
    bootstrap: str, topics: dict[str, str], ids: set[str], deadline_s: float
) -> Got:
    """The outcome topics read until every one of ``ids`` has an outcome."""
    names = [topics["responses"], topics["dlq"]]

    def done(got: Got) -> bool:
        return {e["request_id"] for name in names for e in got[name]} >= ids

    return await collect(bootstrap, names, done, deadline_s)


def _dispatch_partitions(worker: Worker, topic: str) -> list[int]:
    """The dispatch partitions ``worker`` owns, from its latest assignment log line."""
    lines = [x for x in worker.process.log_text().splitlines() if "partitions assigned:" in x]
    assert lines, "the worker never logged its assignment"
    found = re.search(rf"(?:^|[:;] ){re.escape(topic)} \[([\d, ]*)\]", lines[-1])
    return [int(p) for p in found.group(1).split(",")] if found else []


class CallWatch:
    """Counts the provider calls started from now on (``started`` usage rows, published
    before each call) on the given usage partitions: a usage row and its dispatch event are
    both keyed by the request id, so these are the calls of the worker owning the same
    dispatch partitions."""

    def __init__(self, bootstrap: str, topic: str, partitions: list[int]) -> None:
        self._topic = topic
        self._partitions = partitions
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self.seen = 0

    async def __aenter__(self) -> CallWatch:
        consumer = self._consumer
        await consumer.start()
        tps = [TopicPartition(self._topic, p) for p in self._partitions]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolved now: rows published after this count
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def started(self, n: int, deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        while self.seen < n:
            if time.monotonic() > end:
                raise TimeoutError(f"only {self.seen} calls started in {deadline_s}s")
            batches = await self._consumer.getmany(timeout_ms=100)
            for messages in batches.values():
                self.seen += sum(1 for m in messages if b'"outcome":"started"' in m.value)


async def _usage(
    bootstrap: str, topics: dict[str, str], called: set[str], deadline_s: float
) -> list[dict[str, Any]]:
    """The usage rows, read until each of ``called`` has its call's success row (it is
    published alongside the response)."""
    name = topics["usage"]

    def done(got: Got) -> bool:
        return {u["request_id"] for u in got[name] if u["outcome"] == "success"} >= called

    return (await collect(bootstrap, [name], done, deadline_s))[name]


async def test_sigkill_of_a_gateway_worker_leaves_one_right_outcome_per_request(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 11, "default": SLOW})
    config = gateway_config(tmp_path, emulator.url, test_name, routes=ROUTES)
    topics = _topics(config)
    # 600 requests, 300 distinct prompts: the repeats arrive mixed in, many while their
    # first is still in flight (coalesced), the rest after it (exact hits).
    rng = random.Random(13)
    prompts = [f"Fault question {i}: what is {i} cubed?" for i in range(300)]
    texts = prompts + [rng.choice(prompts) for _ in range(300)]
    rng.shuffle(texts)
    events = [_event(f"kill-{i}", text) for i, text in enumerate(texts)]
    text_of = {rid: text for (rid, _), text in zip(events, texts, strict=True)}
    batches = [events[i : i + 150] for i in range(0, len(events), 150)]
    workers = [
        Worker(tmp_path, config, kafka_bootstrap, tag=f"gw{i}", role="gateway") for i in (1, 2)
    ]
    victim = workers[0]
    try:
        await publish(kafka_bootstrap, topics["requests"], batches[0])
        await _outcomes(kafka_bootstrap, topics, {rid for rid, _ in batches[0]}, 120)
        # The kill lands once the second batch's provider calls are under way, with its
        # triage, lookups, parked waiters, fills and calls in flight. Its calls take 1.5 s
        # (not 150-250 ms) so that the victim's are still running then, whichever worker
        # started first: a kill between calls would cut none. The slow spell outlasts any
        # delay a loaded machine adds before the kill (the later batches are slow too).
        emulator.latency("gpt-4o", 1500, seconds=120)
        # Watching the victim's own calls: with the whole group's, the kill could land while
        # only the other worker had calls running, and cut none.
        owned = _dispatch_partitions(victim, topics["dispatch"])
        assert owned, "the victim owns no dispatch partition"
        async with CallWatch(kafka_bootstrap, topics["usage"], owned) as watch:
            await publish(kafka_bootstrap, topics["requests"], batches[1])
            await watch.started(5, deadline_s=60)
        killed_code = victim.stop(signal.SIGKILL)
        # The replacement is ready once the group has settled without the victim (its
        # session timed out); the rest arrive after, so only the second batch was in flight
        # through the fault (the bound on calls below relies on it).
        workers.append(Worker(tmp_path, config, kafka_bootstrap, tag="gw3", role="gateway"))
        await publish(kafka_bootstrap, topics["requests"], batches[2])
        await publish(kafka_bootstrap, topics["requests"], batches[3])
        got = await _outcomes(kafka_bootstrap, topics, set(text_of), 240)
        calls = _calls(emulator)
        called = {r["request_id"] for r in got[topics["responses"]] if r.get("cache") is None}
        usage = await _usage(kafka_bootstrap, topics, called, 60)
    finally:
        victim.stop(signal.SIGKILL)
        codes = [w.stop() for w in workers[1:]]
        emulator.stop()
    assert killed_code == -signal.SIGKILL
    assert codes == [0] * len(codes), [w.process.log_text()[-2000:] for w in workers[1:]]

    responses, letters = got[topics["responses"]], got[topics["dlq"]]
    assert not letters, letters[:3]
    counts = Counter(r["request_id"] for r in responses)
    assert set(counts) == set(text_of), "an outcome for a request nobody sent"
    assert all(n == 1 for n in counts.values()), [rid for rid, n in counts.items() if n > 1]

    by_id = {r["request_id"]: r for r in responses}
    for r in responses:
        if r.get("cache") is None:
            continue
        assert r["cache"] in ("exact", "coalesced"), r["cache"]
        origin = by_id[r["cache_origin"]]
        # Never a wrong answer: served from a request that asked the very same thing, and
        # that was answered by a provider call of its own.
        assert origin.get("cache") is None, origin
        assert text_of[origin["request_id"]] == text_of[r["request_id"]]
        assert r["content"] == origin["content"]
    # The kill did cut calls mid-way: started, never completed (a redo has its own id).
    ended = {u["call_id"] for u in usage if u["outcome"] not in ("started", "cache_hit")}
    cut = {u["call_id"] for u in usage if u["outcome"] == "started"} - ended
    assert cut, "the kill came after the second batch's calls: nothing was cut"
    distinct = len(set(texts))
    # Every distinct prompt costs a call. Only the second batch was unanswered through the
    # fault: the first was answered (and its fills snapshotted) before, the rest published
    # after the group settled, and an answered request is dropped by every stage (outcome
    # ledger) while a stored key is a hit. Each extra call is made for one request of the
    # second batch, at most once: a leader's cut call redone, or a waiter whose parking the
    # victim had not snapshotted decided again as a leader (its leader already answered).
    assert distinct <= calls <= distinct + len(batches[1]), (calls, distinct)


async def test_waiters_of_a_leader_whose_fill_never_comes_are_looked_up_again(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 17, "default": SLOW})
    config = gateway_config(tmp_path, emulator.url, test_name, routes=ROUTES)
    topics = _topics(config)
    gateway = load_config(config)
    worker = Worker(tmp_path, config, kafka_bootstrap, tag="gw1", role="gateway")
    try:
        await publish(kafka_bootstrap, topics["requests"], [_event("answered", "Sky colour?")])
        await _outcomes(kafka_bootstrap, topics, {"answered"}, 60)
        assert _calls(emulator) == 1

        # The leader's lookup, as triage makes it for the prompt the waiters will ask, but
        # carrying the dispatch event of the request answered above: dispatch drops it as
        # answered, so no fill and no fail ever comes (the state a fill lost to a crash
        # leaves). The lookup's own id is unanswered, or the cache stage would drop it too.
        question = "Which planet has the most moons?"
        routed = triage(_event("answered", question)[1], gateway, RecentIds(0))
        assert isinstance(routed, Routed)
        ticket = ticket_for(gateway, routed.dispatch.request, routed.dispatch.route)
        assert ticket is not None
        lost_deadline = time.time() + 3
        dispatch = routed.dispatch.model_copy(
            update={"cache": ticket, "deadline_at": datetime.fromtimestamp(lost_deadline, UTC)}
        )
        lookup = CacheLookup(request_id="lost-leader", tenant="acme", dispatch=dispatch)
        await publish(kafka_bootstrap, topics["cache"], [(ticket.partition_key, lookup.to_bytes())])

        # Published after the leader's lookup is on the broker: their lookups follow it on
        # the same cache partition, so they park behind it.
        waiters = [_event(f"waiter-{i}", question) for i in range(5)]
        await publish(kafka_bootstrap, topics["requests"], waiters)
        ids = {rid for rid, _ in waiters}
        got = await _outcomes(kafka_bootstrap, topics, ids | {"answered"}, 120)
        calls = _calls(emulator)
    finally:
        code = worker.stop()
        emulator.stop()
    assert code == 0, worker.process.log_text()[-3000:]

    responses, letters = got[topics["responses"]], got[topics["dlq"]]
    assert not letters, letters[:3]
    counts = Counter(r["request_id"] for r in responses)
    assert counts == Counter({"answered": 1, **dict.fromkeys(ids, 1)}), counts
    mine = [r for r in responses if r["request_id"] in ids]
    # Nobody was answered before the lost leader's deadline and its grace had passed.
    released = lost_deadline + INFLIGHT_GRACE_S
    early = [r for r in mine if datetime.fromisoformat(r["created_at"]).timestamp() < released]
    assert not early, early
    # Then the first waiter looked up again led (one call), the rest were coalesced on it.
    leaders = [r for r in mine if r.get("cache") is None]
    assert len(leaders) == 1, [r.get("cache") for r in mine]
    leader = leaders[0]
    for r in mine:
        if r is not leader:
            assert r["cache"] == "coalesced" and r["cache_origin"] == leader["request_id"]
            assert r["content"] == leader["content"]
    assert calls == 2, calls
