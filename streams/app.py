"""The faust app: topics as raw bytes, and the four agents wired to their handlers.

Agents decode events themselves (not through faust's codecs) so that a malformed message
becomes a dead letter with its reason instead of a crash inside the consumer.
"""

from __future__ import annotations

import asyncio
import logging

import faust
import mode

from adapters.http_client import make_http_client
from adapters.model_client import ModelClient
from adapters.store import UsageStore, open_backend
from schemas.config import GatewayConfig
from streams.dispatch import Dispatcher
from streams.publisher import Publisher
from streams.retry import RetryHolder
from streams.topics import topic_names
from streams.triage import Duplicate, RecentIds, Rejected, Routed, triage
from streams.usage_sink import UsageBatcher, UsageSink
from streams.window import run_windowed

log = logging.getLogger(__name__)

_TRIAGE_IN_FLIGHT = 1000
# A handler bug stops the worker (exit 1) instead of restarting the agent in place: a
# restarted agent would go on past the unacknowledged events, leaving them unprocessed
# until the next rebalance. A new worker replays from the last committed offset.
_CRASH = mode.CrashingSupervisor


def create_app(config: GatewayConfig, bootstrap: str) -> faust.App:
    app = faust.App(
        config.app_id,
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
        key_serializer="raw",
        value_serializer="raw",
    )
    topics: dict[str, faust.TopicT] = {
        name: app.topic(name, key_type=bytes, value_type=bytes)
        for name in topic_names(config.topics)
    }
    names = config.topics
    publisher = Publisher(topics)

    @app.agent(topics[names.requests], name="triage", supervisor_strategy=_CRASH)
    async def triage_agent(stream: faust.StreamT[bytes]) -> None:
        recent = RecentIds(config.dedup_window)

        async def handle(raw: bytes) -> None:
            # triage() runs before the first await, so dedup sees events in offset order.
            outcome = triage(raw, config, recent)
            if isinstance(outcome, Routed):
                await publisher.send(names.dispatch, outcome.dispatch, outcome.dispatch.request_id)
            elif isinstance(outcome, Rejected):
                key = outcome.dead_letter.request_id
                await publisher.send(names.dlq, outcome.dead_letter, key)
                if outcome.usage is not None:
                    await publisher.send(names.usage, outcome.usage, key)
            elif isinstance(outcome, Duplicate):
                log.info("duplicate request_id %s dropped at triage", outcome.request_id)

        await run_windowed(stream, handle, _TRIAGE_IN_FLIGHT)

    @app.agent(topics[names.dispatch], name="dispatch", supervisor_strategy=_CRASH)
    async def dispatch_agent(stream: faust.StreamT[bytes]) -> None:
        async with make_http_client() as http:
            dispatcher = Dispatcher(config, ModelClient(config, http), publisher)
            await run_windowed(stream, dispatcher.handle, config.dispatch.max_in_flight)

    @app.agent(topics[names.retry], name="retry", supervisor_strategy=_CRASH)
    async def retry_agent(stream: faust.StreamT[bytes]) -> None:
        holder = RetryHolder(names, publisher)
        await run_windowed(stream, holder.handle, config.retry.max_held)

    @app.agent(topics[names.usage], name="usage_sink", supervisor_strategy=_CRASH)
    async def usage_agent(stream: faust.StreamT[bytes]) -> None:
        def open_store() -> UsageStore:
            return UsageStore(open_backend(config.store.path), config.store.database)

        batcher = UsageBatcher(open_store, config.usage_sink)
        flusher = asyncio.create_task(batcher.run())
        try:
            sink = UsageSink(names, batcher, publisher)
            await run_windowed(stream, sink.handle, config.usage_sink.batch_size * 2)
        finally:
            flusher.cancel()
            await batcher.drain()
            batcher.close()

    return app
