"""``llm.chunks``: the deltas of a streamed request, keyed by request_id, in order.

One call's chunks share its ``call_id`` and count ``seq`` from 0. The request's outcome
(``llm.responses`` or ``llm.dlq``) follows its last chunk on the same partition. A relay
follows one ``call_id``: chunks of another call for the same request (a call redone after
a worker died) cannot continue what was relayed (docs/design/streaming.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.base import SCHEMA_VERSION, Event, RequestId, utcnow


class ToolCallChunk(BaseModel):
    """A piece of tool call ``index``: id and name in its first piece, argument text after."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ChunkEvent(Event):
    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str = RequestId
    call_id: str = Field(min_length=1)
    attempt: int = Field(ge=1)
    seq: int = Field(ge=0, description="0, 1, 2, … within the call")
    model: str = Field(description="the config's model name")
    text: str = Field(default="", description="a piece of the answer's text")
    tool_call: ToolCallChunk | None = None
    created_at: datetime = Field(default_factory=utcnow)
