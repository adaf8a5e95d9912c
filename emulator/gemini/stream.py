"""Gemini's streamed reply (``streamGenerateContent?alt=sse``), derived from the whole reply.

Each SSE event is ``data: {GenerateContentResponse}`` with no event name. Text arrives in
pieces, one part per chunk; a function call arrives whole in one part. Every chunk names
the model version and response id and carries the prompt's usage so far; the last one
adds the finish reason and the whole usage (output tokens, cached tokens).
"""

from __future__ import annotations

from typing import Any

import orjson

# Gemini's chunks are coarser than most vendors': several tokens at a time, cut anywhere.
_CHARS_PER_CHUNK = 32


def data_event(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"


def response_chunks(response: dict[str, Any]) -> list[bytes]:
    """The SSE events streaming ``response`` (a whole generateContent reply body)."""
    candidate: dict[str, Any] = response["candidates"][0]
    content: dict[str, Any] = candidate["content"]
    pieces: list[dict[str, Any]] = []
    for part in content["parts"]:
        if "text" in part:
            pieces += [{**part, "text": text} for text in _pieces(part["text"])]
        else:
            pieces.append(part)
    usage: dict[str, Any] = response["usageMetadata"]
    # Until the answer is done only the prompt is counted.
    running = {
        "promptTokenCount": usage["promptTokenCount"],
        "totalTokenCount": usage["promptTokenCount"],
    }
    chunks = [
        {
            "candidates": [{"content": {**content, "parts": [piece]}}],
            "usageMetadata": running,
            "modelVersion": response["modelVersion"],
            "responseId": response["responseId"],
        }
        for piece in pieces[:-1]
    ]
    last_parts = pieces[-1:]
    chunks.append(
        {**response, "candidates": [{**candidate, "content": {**content, "parts": last_parts}}]}
    )
    return [data_event(chunk) for chunk in chunks]


def _pieces(text: str) -> list[str]:
    return [text[i : i + _CHARS_PER_CHUNK] for i in range(0, len(text), _CHARS_PER_CHUNK)] or [""]
