"""Bedrock's ConverseStream reply: event-stream messages, members of ``ConverseStreamOutput``.

``messageStart``, then per content block ``contentBlockDelta``s and a
``contentBlockStop`` (a tool use block opens with ``contentBlockStart`` naming the tool;
a text block has none), then ``messageStop`` with the stop reason and last ``metadata``
with the usage and metrics a whole Converse reply carries.
"""

from __future__ import annotations

from typing import Any

import orjson

from emulator.bedrock import eventstream
from emulator.generate import CHARS_PER_TOKEN, Reply

# Bedrock hands text on in runs of a few tokens, tool input in short JSON fragments.
_TEXT_PIECE = 3 * CHARS_PER_TOKEN
_INPUT_PIECE = CHARS_PER_TOKEN


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def frames(reply: Reply, metadata: dict[str, Any]) -> list[bytes]:
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    index = 0
    if reply.text or reply.tool_call is None:
        events += [
            ("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
            for piece in pieces(reply.text, _TEXT_PIECE)
        ]
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    if reply.tool_call is not None:
        tool = reply.tool_call
        start = {"toolUse": {"toolUseId": tool.call_id, "name": tool.name}}
        events.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        events += [
            (
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}},
            )
            for piece in pieces(orjson.dumps(tool.arguments).decode(), _INPUT_PIECE)
        ]
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
    # The emulator's stop reasons are Converse's own names.
    events += [("messageStop", {"stopReason": reply.stop}), ("metadata", metadata)]
    return [eventstream.event(kind, payload) for kind, payload in events]
