"""Shared base for events: strict fields, pydantic's JSON encoding, a schema version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Final, Self

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Final = 1

RequestId = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event on a topic: forbids unknown fields, carries a version."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    topic_key_field: ClassVar[str] = "request_id"

    def to_bytes(self) -> bytes:
        # The serializer built from the schema encodes every field type the events use
        # (URLs included), unlike a generic JSON library fed model_dump's Python objects,
        # and writes what from_bytes reads back. Money stays a decimal string, so no float
        # rounding creeps in between the price table and the ClickHouse Decimal column.
        return self.__pydantic_serializer__.to_json(self)

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)
