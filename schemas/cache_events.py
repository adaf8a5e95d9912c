"""The events of the cache topic (docs/design/cache.md).

``llm.cache`` (keyed by the ticket's partition key, so one owner sees a key's whole life in
one order) -> :data:`cache_event`, tagged by ``kind``:

- :class:`CacheLookup` (triage): a cacheable request, with the dispatch event it becomes
  on a miss;
- :class:`CacheFill` (dispatch): a leader's answer, published before the leader's outcome;
- :class:`CacheFail` (dispatch, admission): a leader's dead letter, likewise.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.base import SCHEMA_VERSION, Event, RequestId
from schemas.cache import CacheTicket
from schemas.events import DeadLetter, DispatchEvent
from schemas.responses import LLMResponse


class CacheLookup(Event):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["lookup"] = "lookup"
    request_id: str = RequestId
    tenant: str
    dispatch: DispatchEvent = Field(description="sent on (as the leader) on a miss")

    @property
    def ticket(self) -> CacheTicket:
        ticket = self.dispatch.cache
        if ticket is None:  # the validator below makes this unreachable
            raise ValueError("dispatch.cache: a lookup's dispatch event carries its ticket")
        return ticket


class CacheFill(Event):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["fill"] = "fill"
    request_id: str = RequestId
    ticket: CacheTicket
    response: LLMResponse
    filled_at: float = Field(description="epoch seconds; a replay stores the same times")


class CacheFail(Event):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["fail"] = "fail"
    request_id: str = RequestId
    ticket: CacheTicket
    letter: DeadLetter


CacheEvent = Annotated[CacheLookup | CacheFill | CacheFail, Field(discriminator="kind")]
cache_event: TypeAdapter[CacheLookup | CacheFill | CacheFail] = TypeAdapter(CacheEvent)
