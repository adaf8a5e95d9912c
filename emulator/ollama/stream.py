"""Ollama's streamed chat reply: newline-delimited JSON, one ``ChatResponse`` a line.

Every line but the last carries a piece of ``message.content`` with ``done: false``; a
tool call arrives whole, in a line of its own; the last line has empty content,
``done: true``, the ``done_reason`` and the counts and durations a whole reply carries.
"""

from __future__ import annotations

from typing import Any

import orjson

from emulator.generate import CHARS_PER_TOKEN, Reply

CONTENT_TYPE = "application/x-ndjson"


def frames(reply: Reply, head: dict[str, Any], last: dict[str, Any]) -> list[bytes]:
    """The lines of ``reply``; ``head`` holds the fields every line repeats (model,
    created_at) and ``last`` is the final, whole-reply line."""
    text = reply.text
    messages: list[dict[str, Any]] = [
        {"role": "assistant", "content": text[i : i + CHARS_PER_TOKEN]}
        for i in range(0, len(text), CHARS_PER_TOKEN)
    ]
    if reply.tool_call is not None:
        function = {"name": reply.tool_call.name, "arguments": reply.tool_call.arguments}
        calls = [{"function": function}]
        messages.append({"role": "assistant", "content": "", "tool_calls": calls})
    lines = [{**head, "message": message, "done": False} for message in messages]
    lines.append(last)
    return [orjson.dumps(line) + b"\n" for line in lines]
