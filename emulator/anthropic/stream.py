"""Anthropic's streamed Messages reply, derived from the whole reply so the two agree.

The API names each SSE event (``event:``) and repeats the name as the data's ``type``:
``message_start`` (the message with no content yet and its input usage),
``ping`` (a keep-alive, which the SDK skips), per content block ``content_block_start``
(the block, empty), ``content_block_delta`` (``text_delta`` pieces, or
``input_json_delta`` pieces of the tool input's JSON text, split anywhere) and
``content_block_stop``, then ``message_delta`` (stop reason, cumulative output tokens)
and ``message_stop``.
"""

from __future__ import annotations

from typing import Any

import orjson

# A text delta carries a few tokens (of about four characters), cut anywhere.
_TEXT_CHARS_PER_DELTA = 12
# Tool input arrives in runs of characters cut anywhere, mid-string included.
_JSON_CHARS_PER_DELTA = 8
# Anthropic reports a token or so of output in message_start, before any was made.
_STARTING_OUTPUT_TOKENS = 1


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def message_events(message: dict[str, Any]) -> list[bytes]:
    """The events streaming ``message`` (a whole Messages reply body), in order."""
    usage: dict[str, Any] = message["usage"]
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": min(_STARTING_OUTPUT_TOKENS, usage["output_tokens"])},
    }
    frames = [
        sse("message_start", {"type": "message_start", "message": start}),
        sse("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        frames += _block_events(index, block)
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    frames.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": delta,
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    frames.append(sse("message_stop", {"type": "message_stop"}))
    return frames


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    if block["type"] == "text":
        empty = {**block, "text": ""}
        deltas = [
            {"type": "text_delta", "text": piece}
            for piece in char_pieces(block["text"], _TEXT_CHARS_PER_DELTA)
        ]
    else:
        empty = {**block, "input": {}}
        encoded = orjson.dumps(block["input"]).decode()
        # The API opens every tool input with an empty piece.
        deltas = [{"type": "input_json_delta", "partial_json": ""}] + [
            {"type": "input_json_delta", "partial_json": piece}
            for piece in char_pieces(encoded, _JSON_CHARS_PER_DELTA)
        ]
    frames = [
        sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": empty},
        )
    ]
    frames += [
        sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    ]
    frames.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    return frames


def char_pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]
