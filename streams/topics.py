"""Create the pipeline's topics on the broker before the agents subscribe."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from schemas.config import TopicsConfig


class TopicCreationFailed(Exception):
    """The broker refused to create a topic; the message names each topic and why."""


def topic_names(topics: TopicsConfig) -> list[str]:
    return [
        topics.requests,
        topics.dispatch,
        topics.responses,
        topics.retry,
        topics.dlq,
        topics.usage,
    ]


async def ensure_topics(bootstrap: str, topics: TopicsConfig) -> None:
    """Create the missing ones with ``topics.partitions`` partitions; leave the rest."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=topics.partitions, replication_factor=1)
            for name in topic_names(topics)
            if name not in existing
        ]
        if not wanted:
            return
        response = await admin.create_topics(wanted)
    finally:
        await admin.close()
    # The admin client reports per-topic failures in the response instead of raising.
    failures = []
    for topic, code, *rest in response.topic_errors:
        # Another worker may have created it between our list and our create.
        if code in (0, TopicAlreadyExistsError.errno):
            continue
        message = rest[0] if rest and rest[0] else for_code(code).__name__
        failures.append(f"{topic}: {message}")
    if failures:
        raise TopicCreationFailed("creating topics failed: " + "; ".join(failures))
