"""Shared base for events: strict fields, orjson encoding, a schema version."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Final, Self

import orjson
from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION: Final = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def _orjson_default(value: Any) -> Any:
    # Money travels as a decimal string so no float rounding creeps in between
    # the price table and the ClickHouse Decimal column.
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


class Event(BaseModel):
    """Base of every event on a topic: forbids unknown fields, carries a version."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    topic_key_field: ClassVar[str] = "request_id"

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="python"), default=_orjson_default)

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)
