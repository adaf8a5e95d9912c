"""Create the pipeline's topics on the broker before the agents subscribe."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.config import TopicsConfig


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
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=topics.partitions, replication_factor=1)
            for name in topic_names(topics)
            if name not in existing
        ]
        if wanted:
            # Another worker may create them between our list and our create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()
