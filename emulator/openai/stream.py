"""Streamed Chat Completions as OpenAI sends them: ``chat.completion.chunk`` SSE events.

A first chunk names the role; the text follows in pieces, or a tool call does: its
index, id, type and name first with empty arguments, then the arguments in pieces
under the same index. A chunk with an empty delta carries the finish reason. When
``stream_options.include_usage`` asked for it, every chunk has ``"usage": null`` and a
last chunk with no choices carries the usage. ``data: [DONE]`` closes the stream.

Perplexity streams differently, and :func:`chunk_frames` follows it when given its
``sources``: every chunk carries the citations and the usage so far, and the stream
ends after the finish chunk without ``[DONE]``.
"""

from __future__ import annotations

import copy

import orjson

from emulator.base import ChatCall
from emulator.generate import Reply

# Small pieces, so that a stream has many frames to cut between.
TEXT_PIECE_CHARS = 16
ARGUMENT_PIECE_CHARS = 8
DONE = b"data: [DONE]\n\n"


def finish_reason(reply: Reply) -> str:
    if reply.tool_call is not None:
        return "tool_calls"
    return "length" if reply.stop == "max_tokens" else "stop"


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def chunk_frames(
    call: ChatCall,
    reply: Reply,
    base: dict[str, object],
    usage: dict[str, object],
    *,
    sources: dict[str, object] | None = None,
) -> list[bytes]:
    """The frames of ``reply``; ``base`` holds the fields every chunk repeats (id,
    object, created, model, ...), ``usage`` the whole call's usage object."""
    deltas = [*_deltas(reply), {}]
    frames: list[bytes] = []
    for i, delta in enumerate(deltas):
        last = i == len(deltas) - 1
        choice = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish_reason(reply) if last else None,
        }
        chunk = {**base, "choices": [choice]}
        if sources is not None:
            chunk |= {**sources, "usage": _usage_so_far(usage, i + 1, len(deltas))}
        elif call.stream_usage:
            chunk["usage"] = None
        frames.append(_event(chunk))
    if sources is not None:
        return frames
    if call.stream_usage:
        frames.append(_event({**base, "choices": [], "usage": usage}))
    frames.append(DONE)
    return frames


def _deltas(reply: Reply) -> list[dict[str, object]]:
    tool = reply.tool_call
    deltas: list[dict[str, object]]
    if tool is None:
        deltas = [{"role": "assistant", "content": "", "refusal": None}]
        deltas += [{"content": p} for p in pieces(reply.text, TEXT_PIECE_CHARS)]
        return deltas
    named = {
        "index": 0,
        "id": tool.call_id,
        "type": "function",
        "function": {"name": tool.name, "arguments": ""},
    }
    arguments = orjson.dumps(tool.arguments).decode()
    deltas = [{"role": "assistant", "content": None, "tool_calls": [named], "refusal": None}]
    deltas += [
        {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        for piece in pieces(arguments, ARGUMENT_PIECE_CHARS)
    ]
    return deltas


def _usage_so_far(usage: dict[str, object], done: int, total: int) -> dict[str, object]:
    """Perplexity's running usage: the output tokens grow with the chunks sent."""
    partial = copy.deepcopy(usage)
    prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    assert isinstance(prompt, int) and isinstance(completion, int)
    partial["completion_tokens"] = completion * done // total
    partial["total_tokens"] = prompt + completion * done // total
    return partial


def _event(chunk: dict[str, object]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"
