"""Server-sent events from a body's lines: the framing OpenAI, Anthropic, Gemini and
Cohere stream in (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    """The ``event:`` field; ``message`` when the event names none."""
    data: str
    """The ``data:`` lines joined with newlines."""


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    event, data = "", list[str]()
    async for line in lines:
        if not line:
            if data:
                yield SseEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue  # a comment: keep-alive
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    if data:
        # A last event without its blank line: the body ended right after it.
        yield SseEvent(event or "message", "\n".join(data))
