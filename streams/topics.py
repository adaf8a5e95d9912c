"""Create the pipeline's topics on the broker, sized for its events, before the agents subscribe."""

from __future__ import annotations

from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from schemas.config import LimitsConfig, TopicsConfig

MAX_MESSAGE_BYTES = "max.message.bytes"
# DescribeConfigs' config_source for a value set on the topic itself (v1 and later).
_TOPIC_CONFIG_SOURCE = 1


class TopicCreationFailed(Exception):
    """The broker refused to create or size a topic; the message names each topic and why."""


def topic_names(topics: TopicsConfig) -> list[str]:
    return [
        topics.requests,
        topics.dispatch,
        topics.responses,
        topics.retry,
        topics.dlq,
        topics.usage,
        topics.admission,
        topics.admission_state,
        topics.alerts,
        topics.health,
        topics.chunks,
        topics.cache,
        topics.cache_state,
    ]


def message_limits(topics: TopicsConfig, limits: LimitsConfig) -> dict[str, int]:
    """The max.message.bytes each topic needs at least.

    The dead-letter and usage topics keep the broker's default: usage rows are a few hundred
    bytes and dead letters keep at most 4 KiB of the input.
    """
    return {
        topics.requests: limits.request_topic_bytes,
        topics.dispatch: limits.event_topic_bytes,
        topics.retry: limits.event_topic_bytes,
        topics.admission: limits.event_topic_bytes,
        # A snapshot holds every reservation of a tenant (~150 bytes each).
        topics.admission_state: limits.largest_message_bytes,
        topics.responses: limits.response_topic_bytes,
        # A lookup carries its dispatch event, a fill its response: either may be largest.
        topics.cache: limits.largest_message_bytes,
        topics.cache_state: limits.largest_message_bytes,
    }


def compacted(topics: TopicsConfig) -> dict[str, dict[str, str]]:
    """Topics whose latest record per key is the state: compacted, in short segments.

    One-minute segments let the cleaner compact all but the last minute, so loading a
    partition's state reads about one record per tenant (per deployment, for the health
    topic) plus that minute.
    """
    settings = {
        "cleanup.policy": "compact",
        "segment.ms": "60000",
        "min.cleanable.dirty.ratio": "0.1",
    }
    return {
        topics.admission_state: dict(settings),
        topics.health: dict(settings),
        topics.cache_state: dict(settings),
    }


async def ensure_topics(
    bootstrap: str, topics: TopicsConfig, limits: LimitsConfig | None = None
) -> None:
    """Create the missing topics, then raise any topic's max.message.bytes that is too low.

    Topics made by docker-compose's init container, by an operator or by an older routeyard
    carry the broker's 1 MiB limit; raising it here saves every deployment a manual step.
    A larger value an operator chose is left alone.
    """
    sizes = message_limits(topics, limits or LimitsConfig())
    extra = compacted(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=topics.partitions,
                replication_factor=1,
                topic_configs={
                    **({MAX_MESSAGE_BYTES: str(sizes[name])} if name in sizes else {}),
                    **extra.get(name, {}),
                },
            )
            for name in topic_names(topics)
            if name not in existing
        ]
        if wanted:
            # A topic another process created first is checked like an existing one.
            existing |= _check_created(await admin.create_topics(wanted))
        # Topics we just created carry the right limit; describing them at once can fail
        # while the new topic's metadata is still spreading (UnknownTopicOrPartition).
        checked = {name: size for name, size in sizes.items() if name in existing}
        if checked:
            await _raise_message_limits(admin, checked)
    finally:
        await admin.close()


def _check_created(response: Any) -> set[str]:
    """The topics that existed already; raises for any other failure."""
    # The admin client reports per-topic failures in the response instead of raising.
    failures = []
    already: set[str] = set()
    for topic, code, *rest in response.topic_errors:
        # Another worker may have created it between our list and our create.
        if code == TopicAlreadyExistsError.errno:
            already.add(topic)
            continue
        if code == 0:
            continue
        message = rest[0] if rest and rest[0] else for_code(code).__name__
        failures.append(f"{topic}: {message}")
    if failures:
        raise TopicCreationFailed("creating topics failed: " + "; ".join(failures))
    return already


def _manual_fix(topic: str, need: int) -> str:
    return (
        f"raise it with: kafka-configs.sh --bootstrap-server HOST:PORT --alter"
        f" --entity-type topics --entity-name {topic} --add-config {MAX_MESSAGE_BYTES}={need}"
    )


async def _raise_message_limits(admin: AIOKafkaAdminClient, sizes: dict[str, int]) -> None:
    described = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in sizes]
    )
    failures: list[str] = []
    raising: dict[str, str] = {}
    alters: list[ConfigResource] = []
    for response in described:
        if response.API_VERSION < 1:
            # v0 has no config_source, so the topic's own settings cannot be told apart.
            raise TopicCreationFailed("the broker is too old to describe topic configs (v0)")
        for code, message, _kind, topic, entries in response.resources:
            if code:
                reason = message or for_code(code).__name__
                failures.append(f"{topic}: cannot read its config ({reason})")
                continue
            need = sizes[topic]
            have = next((int(e[1]) for e in entries if e[0] == MAX_MESSAGE_BYTES), 0)
            if have >= need:
                continue
            what = f"{topic}: {MAX_MESSAGE_BYTES} is {have}, routeyard needs {need}"
            # AlterConfigs (the only variant this client speaks) replaces all of a topic's
            # own settings, so the ones set on it now go along unchanged.
            own = {e[0]: e[1] for e in entries if e[3] == _TOPIC_CONFIG_SOURCE}
            if any(value is None for value in own.values()):
                failures.append(
                    f"{what}, and it has secret settings a change would drop; "
                    + _manual_fix(topic, need)
                )
                continue
            own[MAX_MESSAGE_BYTES] = str(need)
            alters.append(ConfigResource(ConfigResourceType.TOPIC, topic, own))
            raising[topic] = what
    if alters:
        for response in await admin.alter_configs(alters):
            for code, message, _kind, topic in response.resources:
                if code:
                    reason = message or for_code(code).__name__
                    failures.append(
                        f"{raising[topic]}, and the broker refused to raise it ({reason}); "
                        + _manual_fix(topic, sizes[topic])
                    )
    if failures:
        raise TopicCreationFailed(
            "topics too small for limits.max_request_bytes: " + "; ".join(failures)
        )
