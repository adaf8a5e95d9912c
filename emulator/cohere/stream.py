"""Cohere Chat v2's streamed reply: server-sent events, one per token or so.

The SDK's ``V2ChatStreamResponse`` union names the events: ``message-start`` (the
generation id), then either ``content-start`` / ``content-delta``... / ``content-end``
for text, or ``tool-plan-delta``... and ``tool-call-start`` / ``tool-call-delta``... /
``tool-call-end`` for a tool call, and last ``message-end`` with the finish reason and
the usage the whole reply would carry. Each event's ``type`` repeats its SSE name.
"""

from __future__ import annotations

from typing import Any

import orjson

from emulator.generate import CHARS_PER_TOKEN, Reply

CONTENT_TYPE = "text/event-stream"


def pieces(text: str, size: int = CHARS_PER_TOKEN) -> list[str]:
    """``text`` in consecutive pieces of ``size`` characters, as a model emits tokens."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def frames(reply: Reply, response_id: str, tool_plan: str, end: dict[str, Any]) -> list[bytes]:
    """The events of ``reply``; ``end`` is the ``message-end`` delta (finish reason and
    usage), ``tool_plan`` the words said before a tool call."""
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    events: list[dict[str, Any]] = [
        {"id": response_id, "type": "message-start", "delta": {"message": start}}
    ]
    call = reply.tool_call
    if call is not None:
        events += [
            {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}}
            for piece in pieces(tool_plan)
        ]
        function = {"name": call.name, "arguments": ""}
        first = {"id": call.call_id, "type": "function", "function": function}
        events.append(_indexed("tool-call-start", {"message": {"tool_calls": first}}))
        arguments = orjson.dumps(call.arguments).decode()
        events += [
            _indexed(
                "tool-call-delta",
                {"message": {"tool_calls": {"function": {"arguments": piece}}}},
            )
            for piece in pieces(arguments)
        ]
        events.append({"type": "tool-call-end", "index": 0})
    else:
        events.append(
            _indexed("content-start", {"message": {"content": {"type": "text", "text": ""}}})
        )
        events += [
            _indexed("content-delta", {"message": {"content": {"text": piece}}})
            for piece in pieces(reply.text)
        ]
        events.append({"type": "content-end", "index": 0})
    events.append({"type": "message-end", "delta": end})
    return [_sse(event) for event in events]


def _indexed(kind: str, delta: dict[str, Any]) -> dict[str, Any]:
    # The emulator's replies hold one content block or one tool call: index 0.
    return {"type": kind, "index": 0, "delta": delta}


def _sse(event: dict[str, Any]) -> bytes:
    name = str(event["type"])
    return f"event: {name}\ndata: ".encode() + orjson.dumps(event) + b"\n\n"
