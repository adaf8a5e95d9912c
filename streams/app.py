"""The faust app: topics as raw bytes, and the agents of one process role wired up.

Roles: ``gateway`` runs triage, admission, dispatch and retry (any number of processes, one consumer
group); ``analytics`` runs the usage sink, which owns the embedded store (one process,
its own consumer group ``<app_id>-analytics``); ``all`` runs everything in one process.

Agents decode events themselves (not through faust's codecs) so that a malformed message
becomes a dead letter with its reason instead of a crash inside the consumer.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal, cast

import faust
import httpx
import mode

from schemas.admission import TenantSnapshot
from schemas.config import GatewayConfig
from schemas.events import DeadLetterStage
from schemas.health import HealthRecord, deployment_key
from store import UsageStore, open_backend
from store.owner import StoreOwner
from streams.admission import AdmissionStage, is_admit
from streams.alerting import AlertMonitor
from streams.cache import CacheStage, is_lookup
from streams.cache_state import CacheStates
from streams.dead_letters import internal_error, letter_mask
from streams.dispatch import Dispatcher
from streams.forwarding import forward
from streams.health import HealthBoard
from streams.inline_calls import DispatchOwnership
from streams.model_client import ModelClient
from streams.outcome_ledger import OutcomeLedger
from streams.provider_limiter import ProviderLimiter, calling_share
from streams.publisher import Publisher
from streams.retry import RetryHolder
from streams.semantic_embedder import semantic_embedder
from streams.shared_dispatcher import SharedDispatcher
from streams.tenant_state import TenantStates
from streams.topic_reader import read_at
from streams.topics import topic_names
from streams.triage import TriageStage
from streams.usage_sink import UsageBatcher, UsageSink
from streams.window import Handler, Source, Window

log = logging.getLogger(__name__)

Role = Literal["gateway", "analytics", "all"]

_TRIAGE_IN_FLIGHT = 1000
# Admission decides in microseconds; its handlers mostly wait for the snapshot that
# covers them, so many in flight keep one partition's events flowing between snapshots.
_ADMISSION_IN_FLIGHT = 5000
# A failure that is not about one event (e.g. the dead letter itself cannot be written)
# stops the worker (exit 1) instead of restarting the agent in place: a restarted agent
# would go on past the unacknowledged events. A new worker replays from the last commit.
_CRASH = mode.CrashingSupervisor


def group_id(config: GatewayConfig, role: Role) -> str:
    """The consumer group of a role: the usage sink's own when it runs alone."""
    return f"{config.app_id}-analytics" if role == "analytics" else config.app_id


def store_owner(config: GatewayConfig) -> StoreOwner:
    """The analytics store's one owner in this process; opened on first use."""

    def open_store() -> UsageStore:
        return UsageStore(open_backend(config.store.path), config.store.database)

    return StoreOwner(open_store, config.store.raw_retention_days)


# Called with the app, the store's owner and the alert monitor of an analytics role, so
# that the caller (the CLI) can serve queries through the same owner thread.
AnalyticsHook = Callable[[faust.App, StoreOwner, AlertMonitor], None]


def create_app(
    config: GatewayConfig,
    bootstrap: str,
    role: Role = "all",
    on_analytics: AnalyticsHook | None = None,
) -> faust.App:
    """The app of ``role``; ``on_analytics`` sees the store's owner and the alert monitor."""
    # faust makes a folder for table state even with the memory store: keep it out of the
    # working directory (no table here keeps state on disk).
    datadir = Path(tempfile.gettempdir()) / "routeyard-faust" / group_id(config, role)
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        group_id(config, role),
        broker=f"kafka://{bootstrap}",
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_disable_leader=True,
        topic_replication_factor=1,
        topic_partitions=config.topics.partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5,
        # A crashed worker's partitions move to the others after this long.
        broker_session_timeout=10,
        broker_heartbeat_interval=2,
        # A rebalance must not wait for in-flight provider calls; the windows hand
        # unfinished events over instead (streams/window.py).
        stream_wait_empty=False,
        datadir=str(datadir),
        # The largest event any topic takes (schemas/config.py LimitsConfig): the clients'
        # defaults (1 MB, 1 MiB) would refuse or stall on requests the limit allows.
        producer_max_request_size=config.limits.largest_message_bytes,
        consumer_max_fetch_size=config.limits.largest_message_bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    topics: dict[str, faust.TopicT] = {
        name: app.topic(name, key_type=bytes, value_type=bytes)
        for name in topic_names(config.topics)
    }
    names = config.topics
    # Dead letters carrying raw events are masked when any PII policy is configured.
    publisher = Publisher(topics, letter_mask(config))
    windows: list[Window] = []

    # The admission topic and the tenant states that follow its partitions.
    admission_partitions: list[tuple[str, TenantStates]] = []
    caches: list[CacheStates] = []  # the cache books follow the cache topic's partitions
    # A worker's share of every provider limit follows the partitions it calls from: the
    # dispatch topic's, and the request topic's when triage makes first attempts inline.
    limiter = ProviderLimiter(config)
    inline = config.dispatch.inline_first_attempts
    dispatch_owned = DispatchOwnership(config.topics.partitions)

    async def _revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        for window in windows:
            window.on_revoked()
        for _, states in admission_partitions:
            states.on_revoked()
        for cache_states in caches:
            cache_states.on_revoked()
        limiter.on_revoked()
        dispatch_owned.on_revoked()

    async def _assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        owned = [(tp.topic, tp.partition) for tp in assigned]
        by_topic: dict[str, list[int]] = {}
        for t, p in sorted(owned):
            by_topic.setdefault(t, []).append(p)
        # Which worker owns what, for an operator reading the logs after a fault.
        log.info("partitions assigned: %s", "; ".join(f"{t} {ps}" for t, ps in by_topic.items()))
        for window in windows:
            window.on_assigned(owned)
        for topic, states in admission_partitions:
            states.on_assigned(p for t, p in owned if t == topic)
        for cache_states in caches:
            cache_states.on_assigned(p for t, p in owned if t == names.cache)
        calling = {names.dispatch, names.requests} if inline else {names.dispatch}
        limiter.on_assigned(*calling_share(owned, calling, config.topics.partitions))
        dispatch_owned.on_assigned(p for t, p in owned if t == names.dispatch)

    # mode's Signal types want a keyword-only ``signal`` parameter these do not need.
    app.on_partitions_revoked.connect(cast(Any, _revoked))
    app.on_partitions_assigned.connect(cast(Any, _assigned))

    def window(
        stage: DeadLetterStage,
        handle: Handler,
        max_in_flight: int,
        ledger: OutcomeLedger | None,
        ends_request: Callable[[bytes], bool] = lambda raw: True,
        slots: asyncio.Semaphore | None = None,
    ) -> Window:
        async def on_poison(raw: bytes, source: Source, exc: Exception) -> None:
            letter = internal_error(stage, raw, source, exc)
            if not ends_request(raw):
                # Not about the request's outcome (a spend): a dead letter keyed by its
                # request_id would end a request that is still being answered.
                letter = letter.model_copy(update={"request_id": None})
            key = letter.request_id
            send = publisher.send(names.dlq, letter, key)
            if key is not None and ledger is not None:
                if not await ledger.settle(key, send):
                    log.warning("internal error on answered request %s: no dead letter", key)
            else:
                await send

        w = Window(
            handle,
            max_in_flight=max_in_flight,
            max_unacked=config.delivery.max_unacked,
            on_poison=on_poison,
            handler_tries=config.delivery.handler_tries,
            acks_paused=lambda: bool(app.rebalancing),
            slots=slots,
        )
        windows.append(w)
        return w

    if role in ("gateway", "all"):
        ledger = OutcomeLedger(
            bootstrap,
            [names.responses, names.dlq],
            horizon_s=config.delivery.dedup_horizon_s,
            capacity=config.dedup_window,
        )

        async def run_ledger() -> None:
            await ledger.start()
            try:
                await asyncio.Event().wait()
            finally:
                await ledger.stop()

        app.task(run_ledger)

        async def send_health(record: HealthRecord) -> None:
            await publisher.send(names.health, record, record.deployment)

        board = HealthBoard(bootstrap, names.health, send_health, config.breaker)

        async def run_board() -> None:
            await board.start()
            try:
                await asyncio.Event().wait()
            finally:
                await board.stop()

        app.task(run_board)

        # One dispatcher for the dispatch agent and triage's inline first attempts.
        def dispatcher_on(http: httpx.AsyncClient) -> Dispatcher:
            models = ModelClient(config, http)
            return Dispatcher(config, models, publisher, ledger, health=board, limiter=limiter)

        dispatchers = SharedDispatcher(dispatcher_on)

        @app.agent(topics[names.requests], name="triage", supervisor_strategy=_CRASH)
        async def triage_agent(stream: faust.StreamT[bytes]) -> None:
            deployments = {
                name: deployment_key(m.provider, m.upstream) for name, m in config.models.items()
            }

            def latency_by_model() -> dict[str, float]:
                # The `fastest` strategy ranks models; the board measures deployments.
                by_deployment = board.latency_ms()
                return {
                    name: by_deployment[d] for name, d in deployments.items() if d in by_deployment
                }

            async with AsyncExitStack() as stack:
                calls = None
                if inline:
                    calls = (await stack.enter_async_context(dispatchers.use())).inline
                stage = TriageStage(
                    config,
                    publisher,
                    ledger,
                    latency_ms=latency_by_model,
                    inline=calls,
                    inline_here=dispatch_owned.here,
                )

                async def handle(raw: bytes, source: Source) -> None:
                    await stage.handle(raw, source.partition)

                await window("triage", handle, _TRIAGE_IN_FLIGHT, ledger).run(stream)

        @app.agent(topics[names.dispatch], name="dispatch", supervisor_strategy=_CRASH)
        async def dispatch_agent(stream: faust.StreamT[bytes]) -> None:
            async with dispatchers.use() as dispatcher:
                handle = _without_source(dispatcher.handle)
                w = window(
                    "dispatch",
                    handle,
                    config.dispatch.max_in_flight,
                    ledger,
                    slots=dispatcher.slots,
                )
                await w.run(stream)

        @app.agent(topics[names.retry], name="retry", supervisor_strategy=_CRASH)
        async def retry_agent(stream: faust.StreamT[bytes]) -> None:
            holder = RetryHolder(names, publisher, ledger)
            handle = _without_source(holder.handle)
            await window("retry", handle, config.retry.max_held, ledger).run(stream)

        async def send_snapshot(partition: int, tenant: str, snap: TenantSnapshot) -> None:
            await publisher.send(names.admission_state, snap, tenant, partition)

        states = TenantStates(
            bootstrap,
            names.admission_state,
            send_snapshot,
            config.admission.snapshot_interval_ms / 1000,
        )
        admission_partitions.append((names.admission, states))

        @app.agent(topics[names.admission], name="admission", supervisor_strategy=_CRASH)
        async def admission_agent(stream: faust.StreamT[bytes]) -> None:
            stage = AdmissionStage(config, publisher, ledger, states)
            writer = asyncio.create_task(states.run())
            try:
                w = window("admission", stage.handle, _ADMISSION_IN_FLIGHT, ledger, is_admit)
                await w.run(stream)
            finally:
                writer.cancel()
                await states.stop()

        async def send_cache_record(partition: int, key: str, value: bytes | None) -> None:
            await publisher.send_record(names.cache_state, key, value, partition)

        async def read_cache_at(partition: int, offset: int) -> bytes | None:
            return await read_at(bootstrap, names.cache, partition, offset)

        embedder = semantic_embedder(config)
        cache_states = CacheStates(
            config,
            bootstrap,
            send_cache_record,
            embedder,
            config.admission.snapshot_interval_ms / 1000,
        )
        caches.append(cache_states)

        @app.agent(topics[names.cache], name="cache", supervisor_strategy=_CRASH)
        async def cache_agent(stream: faust.StreamT[bytes]) -> None:
            stage = CacheStage(
                config,
                publisher,
                ledger,
                cache_states,
                lambda dispatch: forward(config, publisher, dispatch),
                read_cache_at,
            )
            writer = asyncio.create_task(cache_states.run())
            expiry = asyncio.create_task(stage.run_expiry())
            try:
                w = window("cache", stage.handle, _ADMISSION_IN_FLIGHT, ledger, is_lookup)
                await w.run(stream)
            finally:
                writer.cancel()
                expiry.cancel()
                await cache_states.stop()

    if role in ("analytics", "all"):
        owner = store_owner(config)
        # Raises ConfigError before start-up when a webhook's secret is not in the env.
        monitor = AlertMonitor(config, publisher, bootstrap)
        if on_analytics is not None:
            on_analytics(app, owner, monitor)

        @app.agent(topics[names.usage], name="usage_sink", supervisor_strategy=_CRASH)
        async def usage_agent(stream: faust.StreamT[bytes]) -> None:
            batcher = UsageBatcher(owner, config.usage_sink)
            flusher = asyncio.create_task(batcher.run())
            alerting = asyncio.create_task(monitor.run())
            try:
                sink = UsageSink(names, batcher, publisher, monitor.observe)
                size = config.usage_sink.batch_size * 2
                await window("usage_sink", _without_source(sink.handle), size, None).run(stream)
            finally:
                flusher.cancel()
                alerting.cancel()
                await monitor.stop()
                await batcher.drain()
                owner.close()

    return app


def _without_source(handle: Callable[[bytes], Coroutine[Any, Any, None]]) -> Handler:
    """A window handler for a stage that does not need to know where its event sat."""

    async def handler(raw: bytes, source: Source) -> None:
        await handle(raw)

    return handler
